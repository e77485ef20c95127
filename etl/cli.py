"""The `etl` command. Exit 0 on success; any failure exits non-zero with one line on stderr."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from etl.config import ConfigDir, find_conf_dir
from etl.config.models import EnvConfig, TableFormat
from etl.context import DateWindow, new_run_id, parse_day
from etl.errors import EtlError
from etl.secrets import MaskSecrets, mask
from etl.zones import Zones, local_path

log = logging.getLogger("etl")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    caller_session = _active_session()
    global _current
    outer, _current = _current, _Command(shlex.join(["etl", *argv]), wait=getattr(args, "wait", False), verbose=args.verbose)
    failure: tuple[str, int] | None = None
    try:
        conf = ConfigDir(find_conf_dir(args.conf_dir))
        code = int(args.command(conf, args))
    except EtlError as error:
        failure = (str(error), 1)
    except KeyboardInterrupt:
        failure = ("interrupted", 130)
    except Exception as error:  # anything else: still one line, the traceback goes to the log
        failure = (_unexpected(error), 1)
    finally:
        # Spark stops before the error line is printed: nothing it logs on the way out comes after it.
        stopped = _stop_own_session(caller_session)
        _current.cleanup.close()
        _current = outer
    if failure is None and stopped is not None:
        failure = (stopped, 1)
    return _fail(*failure) if failure else code


def _say(line: str) -> None:
    """A line of progress or of a result on stderr; on a terminal it first clears the line it is written
    on: Spark's progress bar, redrawn in place with \\r, would otherwise run into it."""
    print(f"{_clear_line()}{line}", file=sys.stderr, flush=True)


def _clear_line() -> str:
    return "\r\033[K" if sys.stderr.isatty() else ""


def _fail(message: str, code: int = 1) -> int:
    print(f"etl: error: {mask(message)}", file=sys.stderr)
    return code


def _unexpected(error: Exception) -> str:
    """An error the framework did not raise on purpose (a bug in a job's code, say) as one line that
    says where its traceback is: the log file, or, without local state (EMR: stderr is the step's log),
    just above the line."""
    from etl.errors import one_line, raised_in_query

    line = one_line(error)  # before Spark stops: a JVM error is asked for its cause
    if raised_in_query(error) is not None:  # the project's own message, raised from a query: understood
        return line
    if _current.log_file is not None:
        log.debug("unexpected error", exc_info=True)  # the file's handler takes DEBUG, the console's INFO and up
        return f"{line} (traceback in {_current.log_file})"
    print(mask("".join(traceback.format_exception(error))), end="", file=sys.stderr)
    return f"{line} (traceback above)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etl", description="Extract / transform / validate / load jobs on PySpark, for Amazon EMR.")
    parser.add_argument("--conf-dir", help="configuration folder (default: $ETL_CONF_DIR, else ./conf)")
    verbose = "also Spark's INFO lines and the command's debug lines on the console (locally they are always in <lake>/logs/)"
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    default_env = os.environ.get("ETL_ENV", "local")

    def command(name: str, handler: Callable[[ConfigDir, argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(command=handler)
        sub.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=verbose)  # after the command too
        return sub

    def with_env(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sub.add_argument("--env", default=default_env, help=f"conf/env/ENV.yaml (default: $ETL_ENV or local; now {default_env})")
        sub.add_argument(
            "--wait",
            action="store_true",
            help="when another etl command holds the env's local (Derby) metastore, wait for it instead of failing",
        )
        return sub

    command("list", cmd_list, "the jobs and their descriptions")

    run = with_env(command("run", cmd_run, "load one day"))
    run.add_argument("job")
    run.add_argument("--run-date", required=True, type=parse_day, metavar="YYYY-MM-DD")

    backfill = with_env(command("backfill", cmd_backfill, "load a range of days in one Spark application"))
    backfill.add_argument("job")
    backfill.add_argument("--from", dest="first", required=True, type=parse_day, metavar="YYYY-MM-DD")
    backfill.add_argument("--to", dest="last", required=True, type=parse_day, metavar="YYYY-MM-DD")

    stream = with_env(command("stream", cmd_stream, "run a stream job's queries until interrupted (Ctrl-C stops after the micro-batch)"))
    stream.add_argument("job")
    stream.add_argument("--every", type=int, default=60, metavar="SECONDS", help="seconds between micro-batches (default 60)")

    sql = with_env(command("sql", cmd_sql, "run queries against the env's metastore and print the results"))
    sql.add_argument("queries", nargs="+", metavar="QUERY", help="one or more queries, run in order in one Spark application")
    sql.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        help="table: aligned columns for a person, maps as k=v (the default on a terminal); csv with a header (the default "
        "when piped); json: one object per line",
    )

    demo = with_env(command("demo-data", cmd_demo_data, "write a demo's raw landing data into the raw zone"))
    demo.add_argument(
        "dataset",
        nargs="?",
        choices=DEMO_DATASETS,
        default="tpch",
        help="tpch: daily TPC-H extracts (sales_warehouse; the default); clickstream: CloudFront access logs (clickstream_sessions); "
        "iot: a device fleet's telemetry as Firehose delivers it (iot_telemetry)",
    )
    demo.add_argument(
        "--scale", type=float, default=0.01, help="size: TPC-H scale factor (1 is about 1 GB); clickstream: 20,000 visitors a day at 1"
    )
    demo.add_argument("--from", dest="first", type=parse_day, metavar="YYYY-MM-DD", help="first day (default: the dataset's first)")
    demo.add_argument("--to", dest="last", type=parse_day, metavar="YYYY-MM-DD", help="last day (default: the dataset's last)")
    demo.add_argument("--seed", type=int, default=7, help="seed of everything drawn at random")

    report = with_env(
        command(
            "report",
            cmd_report,
            "print the URI of the newest validation report (HTML) of a job's run date; with --history, write the job's "
            "run-history page and print its URI",
        )
    )
    report.add_argument("job")
    report.add_argument("--run-date", type=parse_day, metavar="YYYY-MM-DD")
    report.add_argument("--history", action="store_true", help="the job's recent runs: status, duration, rows and links to their reports")
    report.add_argument("--last", type=int, default=60, metavar="N", help="--history: the N most recent runs (default 60)")

    runs = with_env(command("runs", cmd_runs, "the recent runs, newest first, from the audit table"))
    runs.add_argument("job", nargs="?", help="only this job's runs (default: every job's)")
    runs.add_argument("--last", type=int, default=20, metavar="N", help="the N most recent runs (default 20)")
    runs.add_argument("--format", choices=["table", "json"], default="table", help="table (default) or one JSON object per run")

    held = with_env(command("quarantine", cmd_quarantine, "print the rows a job's run date quarantined, one JSON object per line"))
    held.add_argument("job")
    held.add_argument("--run-date", required=True, type=parse_day, metavar="YYYY-MM-DD")
    held.add_argument("--limit", type=int, default=100, help="rows shown per quarantine table (default 100; 0: all)")

    unlock = with_env(command("unlock", cmd_unlock, "remove a job's run lock left by a run that was killed on another host"))
    unlock.add_argument("job")

    pipeline = with_env(
        command("pipeline", cmd_pipeline, "the jobs of a night (conf/pipelines/NAME.yaml) in the order their dependencies give")
    )
    pipeline.add_argument(
        "action",
        choices=["show", "run"],
        help="show: print the plan (order, what each job waits for, reads and writes); run: run the jobs in that order in one "
        "Spark application (a failed job's dependents are skipped, the others still run)",
    )
    pipeline.add_argument("name", metavar="NAME")
    pipeline.add_argument("--run-date", type=parse_day, metavar="YYYY-MM-DD", help="run: load one day")
    pipeline.add_argument("--from", dest="first", type=parse_day, metavar="YYYY-MM-DD", help="run: with --to, each job backfills the range")
    pipeline.add_argument("--to", dest="last", type=parse_day, metavar="YYYY-MM-DD")
    pipeline.add_argument("--dry-run", action="store_true", help="run: print the plan and what the run would load, run nothing")

    check = command("check-config", cmd_check_config, "load and validate all config, suites and pipelines")
    check.add_argument("--env", help="check this env strictly (its ${VARS} must be set); default: every env")

    new_job = command("new-job", cmd_new_job, "write a first job to start from: jobs/NAME.py, its config, suite and unit test")
    new_job.add_argument("name", metavar="NAME", help="the job's name: lower-case letters, digits and _ (its module and table)")
    new_job.add_argument("--jobs-dir", type=Path, help="the jobs package's folder (default: jobs/ beside the conf folder)")
    new_job.add_argument("--tests-dir", type=Path, help="where its unit test goes (default: tests/unit/ beside the conf folder)")
    new_job.add_argument(
        "--sample",
        nargs="?",
        const=datetime.now(UTC).date(),
        type=parse_day,
        metavar="YYYY-MM-DD",
        help="also land a sample day of input in the env's (local) raw zone, for that day (default: today)",
    )
    new_job.add_argument(
        "--env", default=default_env, help=f"the env whose raw zone --sample writes to (default: $ETL_ENV or local; now {default_env})"
    )
    new_job.add_argument("--force", action="store_true", help="replace files that exist already")

    from etl.emr.commands import register as shipping_commands

    shipping_commands(command)  # package, emr-step, submit, deploy
    return parser


# --- commands -----------------------------------------------------------------------------------------


def cmd_list(conf: ConfigDir, args: argparse.Namespace) -> int:
    jobs = [conf.job(name) for name in conf.names("jobs")]
    width = max((len(job.name) for job in jobs), default=0)
    for job in jobs:
        print(f"{job.name:<{width}}  {job.description}")
    return 0


def cmd_run(conf: ConfigDir, args: argparse.Namespace) -> int:
    return _run(conf, args.env, args.job, DateWindow.day(args.run_date))


def cmd_backfill(conf: ConfigDir, args: argparse.Namespace) -> int:
    try:
        window = DateWindow(args.first, args.last)
    except ValueError as error:
        raise EtlError(str(error)) from None
    return _run(conf, args.env, args.job, window)


def cmd_stream(conf: ConfigDir, args: argparse.Namespace) -> int:
    if args.every < 1:
        raise EtlError("--every must be at least 1 second")
    return _run(conf, args.env, args.job, DateWindow.day(datetime.now(UTC).date()), every_seconds=args.every)


def _run(conf: ConfigDir, env_name: str, job_name: str, window: DateWindow, every_seconds: int | None = None) -> int:
    from etl.registry import job_class
    from etl.run import formats_of, is_stream, run_job

    env = conf.env(env_name)
    job_class(conf.job(job_name))  # a bad class path fails before Spark starts
    if is_stream(conf, job_name) and window.first != window.last:
        raise EtlError(f"{job_name} reads a stream: there is no range of days to backfill; `etl run` processes all that has arrived")
    _require_landed(conf, env, [job_name])
    spark = _session(env, f"etl-{job_name}", formats_of(conf, job_name, env))
    run_id = new_run_id()
    with _alert_on_failure(env, job_name, window, [(job_name, run_id)]):
        outcome = run_job(spark, conf, env, job_name, window, every_seconds, run_id)
    record = outcome.record
    written = ", ".join(f"{name} {rows}" for name, rows in record.rows_written.items())
    log.info(
        "run %s of %s for %s: %s (rows written: %s; validation %s)",
        record.run_id,
        job_name,
        window,
        record.status,
        written,
        record.validation,
    )
    return 0


def cmd_sql(conf: ConfigDir, args: argparse.Namespace) -> int:
    spark = _session(conf.env(args.env), "etl-sql")
    shown = args.format or ("table" if sys.stdout.isatty() else "csv")
    for number, query in enumerate(args.queries):
        if number:
            print()  # an empty line between the results of several queries
        frame = spark.sql(query)
        if shown == "table":
            _print_table(frame)
            continue
        rows = frame.toLocalIterator()
        if shown == "csv":
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerow(frame.columns)
            for row in rows:
                writer.writerow([_csv_text(value) for value in row])
        else:
            for row in rows:
                print(json.dumps({k: _plain(v) for k, v in row.asDict(recursive=True).items()}, default=str))
    return 0


TABLE_ROWS = 1000  # a table is aligned over all its rows, held in memory: more go to CSV or JSON


def _print_table(frame: Any) -> None:
    from etl.text_table import aligned, cell, is_number

    rows = frame.take(TABLE_ROWS + 1)
    shown = rows[:TABLE_ROWS]
    values = [[row[i] for row in shown] for i in range(len(frame.columns))]
    numbers = [i for i, column in enumerate(values) if any(map(is_number, column)) and all(v is None or is_number(v) for v in column)]
    print("\n".join(aligned(frame.columns, [[cell(value) for value in row] for row in shown], right=numbers)))
    if len(rows) > TABLE_ROWS:
        print(f"(the first {TABLE_ROWS} rows: add a LIMIT, or --format csv for all)", file=sys.stderr)


def _csv_text(value: Any) -> Any:
    """Empty for null, true/false for booleans (as Spark writes CSV), JSON for nested values, exact text otherwise."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if hasattr(value, "asDict"):  # a struct arrives as a Row
        value = value.asDict(recursive=True)
    if isinstance(value, dict | list):  # maps, arrays, structs: JSON, which other tools can parse
        return json.dumps(value, default=lambda inner: str(_plain(inner)), sort_keys=True)
    return _plain(value)


def _plain(value: Any) -> Any:
    """Exact text for decimals and dates; everything else as Python prints it."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


DEMO_DATASETS = ("clickstream", "iot", "tpch")


def cmd_demo_data(conf: ConfigDir, args: argparse.Namespace) -> int:
    from etl.demo import clickstream, iot, tpch

    module = {"tpch": tpch, "clickstream": clickstream, "iot": iot}[args.dataset]
    env = conf.env(args.env)
    first, last = module.FIRST_DAY, module.LAST_DAY
    try:
        window = DateWindow(args.first or first, args.last or last)
    except ValueError as error:
        raise EtlError(str(error)) from None
    spark = _session(env, "etl-demo-data")
    zones = Zones.from_env(env)
    summary = module.generate(spark, zones, args.scale, window, args.seed, say=_say)
    _say(f"landed {summary} under {zones.uri('raw', args.dataset)}")
    return 0


def cmd_report(conf: ConfigDir, args: argparse.Namespace) -> int:
    """Finding the page lists one folder: Spark starts only when the dq zone is not local (s3://)."""
    from etl.quality.report import day_uri, locate_report, store_for

    if args.history:
        return _history(conf, args)
    if args.run_date is None:
        raise EtlError("give --run-date D (the run's report), or --history (the job's run-history page)")
    env = conf.env(args.env)
    config = conf.job(args.job)
    store = store_for(day_uri(Zones.from_env(env), config.name, args.run_date), lambda: _session(env, "etl-report"))
    print(locate_report(store, config, env, args.run_date))
    return 0


def _history(conf: ConfigDir, args: argparse.Namespace) -> int:
    from etl.quality.history import write_history
    from etl.quality.report import store_for
    from etl.runs import read_runs

    if args.run_date is not None:
        raise EtlError("--history shows every run date: give --history or --run-date, not both")
    if args.last < 1:
        raise EtlError("--last must be at least 1")
    config, env = conf.job(args.job), conf.env(args.env)
    spark = _session(env, "etl-report-history")
    runs = read_runs(spark, config.name, args.last)
    if not runs:
        raise EtlError(f"no runs of {config.name} recorded yet in env {env.name}: nothing to show")
    zones = Zones.from_env(env)
    print(write_history(store_for(zones.dq, lambda: spark), zones, config.name, env.name, runs))
    return 0


def cmd_runs(conf: ConfigDir, args: argparse.Namespace) -> int:
    """The error column is cut to the terminal's width (or $COLUMNS); piped, it is whole."""
    import shutil

    from etl.runs import read_runs, run_json, runs_table

    if args.last < 1:
        raise EtlError("--last must be at least 1")
    job = conf.job(args.job).name if args.job is not None else None  # an unknown job: one line naming the known ones
    env = conf.env(args.env)
    runs = read_runs(_session(env, "etl-runs"), job, args.last)
    if not runs:
        of = f" of {job}" if job and runs is not None else ""
        print(f"no runs{of} recorded yet in env {env.name}", file=sys.stderr)
        return 0
    if args.format == "json":
        for run in runs:
            print(run_json(run))
        return 0
    print("\n".join(runs_table(runs, fit=shutil.get_terminal_size((0, 0)).columns or None)))
    return 0


def cmd_quarantine(conf: ConfigDir, args: argparse.Namespace) -> int:
    """Each row: table, rules, reason (why a raw line is malformed), record (the row as JSON, or a malformed
    line's raw text), source_file, run_id."""
    from etl.catalog import table_exists
    from etl.state import quarantine

    env = conf.env(args.env)
    config = conf.job(args.job)
    spark = _session(env, "etl-quarantine")
    for feeds, table in quarantine.tables_of(config).items():
        if not table_exists(spark, table):
            continue
        rows = quarantine.read(spark, table, args.run_date)
        total = rows.count()
        if not total:
            continue
        shown = rows.orderBy("record").limit(args.limit) if args.limit else rows.orderBy("record")
        _say(f"{table} ({feeds}): {total} row(s) quarantined on {args.run_date}")
        for row in shown.toLocalIterator():
            print(json.dumps({"table": table, **row.asDict(recursive=True)}))
    return 0


def cmd_unlock(conf: ConfigDir, args: argparse.Namespace) -> int:
    from etl.run.audited import sweep, sweep_tables
    from etl.state import lock

    config, env = conf.job(args.job), conf.env(args.env)
    spark = _session(env, "etl-unlock")
    holder = lock.holder_of(spark, config.name)
    if holder is None or not lock.release(spark, config.name, holder.run_id):
        print(f"{config.name}: no lock", file=sys.stderr)
        return 0
    print(f"{config.name}: removed the lock of run {holder.run_id} (pid {holder.pid} on {holder.host})", file=sys.stderr)
    sweep(spark, Zones.from_env(env), sweep_tables(config, env))  # what the dead run left in the job's tables
    return 0


def cmd_pipeline(conf: ConfigDir, args: argparse.Namespace) -> int:
    from etl.pipeline import plan, run_pipeline
    from etl.run import formats_of, run_job

    pipeline = conf.pipeline(args.name)
    if args.action == "show" or args.dry_run:
        print(plan(conf, pipeline))
        if args.action == "show":
            return 0
    window = _window(args.run_date, args.first, args.last)
    env = conf.env(args.env)
    if args.dry_run:
        print(f"would run: {', '.join(pipeline.order())} for {window} in env {env.name}")
        return 0
    _require_landed(conf, env, pipeline.order())
    formats = set().union(*(formats_of(conf, job, env) for job in pipeline.jobs))
    spark = _session(env, f"etl-pipeline-{pipeline.name}", formats)
    run_ids: dict[str, str] = {}

    def run(job: str) -> None:
        run_ids[job] = new_run_id()
        record = run_job(spark, conf, env, job, window, run_id=run_ids[job]).record
        log.info("run %s of %s for %s: %s", record.run_id, job, window, record.status)

    outcome = run_pipeline(
        pipeline,
        run,
        _reason,
        say=lambda line: log.info("pipeline %s: %s", pipeline.name, line),
        warn=lambda line: log.warning("pipeline %s: %s", pipeline.name, line),
    )
    summary = outcome.summary(pipeline.name, window)
    if outcome.failed or outcome.skipped:
        failed = [(job, run_ids[job]) for job in outcome.failed]
        _alert(env, f"pipeline {pipeline.name}", window, summary, failed)
        return _fail(summary)
    log.info("pipeline %s", summary)
    return 0


def _window(run_date: date | None, first: date | None, last: date | None) -> DateWindow:
    """--run-date D, or --from D --to D."""
    if run_date is not None and first is None and last is None:
        return DateWindow.day(run_date)
    if run_date is None and first is not None and last is not None:
        try:
            return DateWindow(first, last)
        except ValueError as error:
            raise EtlError(str(error)) from None
    raise EtlError("give --run-date D, or --from D --to D")


@contextmanager
def _alert_on_failure(env: EnvConfig, what: str, window: DateWindow, runs: list[tuple[str, str]]) -> Iterator[None]:
    """A run that fails publishes one alert (the env's alerts topic, if it has one), then fails as it would."""
    try:
        yield
    except Exception as error:
        from etl.errors import one_line

        _alert(env, what, window, str(error) if isinstance(error, EtlError) else one_line(error), runs)
        raise


def _alert(env: EnvConfig, what: str, window: DateWindow, reason: str, runs: list[tuple[str, str]]) -> None:
    """One message for a failed run or pipeline: its runs' ids and where their reports are written."""
    from etl.alerts import notify_failure
    from etl.quality.report import day_uri

    zones = Zones.from_env(env)
    notify_failure(
        env,
        what=what,
        run_date=window,
        reason=reason,
        run_id=", ".join(run_id for _, run_id in runs) or None,
        report_uri=", ".join(f"{day_uri(zones, job, window.last)}/{run_id}/" for job, run_id in runs) or None,
    )


def _reason(error: Exception) -> str:
    """A job's failure in one line: the framework's own message, else as main() says an unexpected error."""
    return str(error) if isinstance(error, EtlError) else _unexpected(error)


def cmd_check_config(conf: ConfigDir, args: argparse.Namespace) -> int:
    from etl.checks import check_config

    problems, notes = check_config(conf.root, args.env)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if problems:
        for problem in problems[:-1]:
            print(f"etl: error: {problem}", file=sys.stderr)
        return _fail(problems[-1])
    counts = {"envs": "env", "jobs": "jobs", "suites": "expectations", "pipelines": "pipelines"}
    found = {what: len(conf.names(folder)) for what, folder in counts.items()}
    print("config ok: " + ", ".join(f"{n} {what if n != 1 else what[:-1]}" for what, n in found.items()))
    return 0


def cmd_new_job(conf: ConfigDir, args: argparse.Namespace) -> int:
    from etl import scaffold

    name = scaffold.check_name(args.name)
    scaffold.require_free_table(conf, name)
    layout = scaffold.Layout.beside(conf.root, args.jobs_dir, args.tests_dir)
    files = scaffold.files_of(name, layout)
    raw = Zones.from_env(conf.env(args.env)).uri("raw", scaffold.raw_path(name))
    if args.sample:
        folder = local_path(raw)
        if folder is None:
            raise EtlError(f"--sample writes local files; the raw zone of env {args.env} is {raw}")
        files[scaffold.sample_file(folder, args.sample)] = scaffold.templates.SAMPLE
    for path in scaffold.write(files, args.force):
        print(f"created {scaffold.shown(path)}")
    print(scaffold.next_steps(name, layout, raw, args.env, args.sample))
    return 0


# --- shared -------------------------------------------------------------------------------------------


def _require_landed(conf: ConfigDir, env: EnvConfig, jobs: Sequence[str]) -> None:
    """A run of a job none of whose sources has landed anything yet fails saying what to do, before Spark
    starts: it creates nothing (no metastore, no logs) in an empty lake. When some have, the run itself
    says what is missing, day by day."""
    from etl.extract.landing import nothing_landed

    zones = Zones.from_env(env)
    demo_folders = {zones.uri("raw", dataset): dataset for dataset in DEMO_DATASETS}
    for job in jobs:
        missing = nothing_landed(conf.job(job), env, zones)
        if not missing:
            continue
        (source, folder), others = next(iter(missing.items())), len(missing) - 1
        demo = next((dataset for base, dataset in demo_folders.items() if f"{folder}/".startswith(f"{base}/")), None)
        if demo is not None:
            raise EtlError(f"{job}: the demo's data has not landed in {folder}: run `etl demo-data {demo} --env {env.name}` first")
        also = f", nor do the folders of its {others} other source(s)" if others else ""
        raise EtlError(f"{job}: nothing has landed yet: {folder} (source {source}) does not exist{also}")


def _session(env: EnvConfig, app_name: str, formats: set[TableFormat] | None = None) -> Any:
    from etl.session import build_session

    _log_to(env)
    if _current.verbose:  # Spark's INFO lines (its banner, each stage) on the console too
        env = env.model_copy(update={"spark": env.spark.model_copy(update={"log_level": "INFO"})})
    _hold_local_metastore(env)
    return build_session(env, app_name, formats)


def _hold_local_metastore(env: EnvConfig) -> None:
    """An embedded metastore admits one process: hold its lock until the command ends (etl/metastore_lock.py).
    Not when the command joins its caller's session, whose JVM has the metastore open already."""
    from etl import metastore_lock

    path = metastore_lock.lock_path(env)
    if path is None or _active_session() is not None:
        return
    held = metastore_lock.take(
        path, _current.command, _current.wait, say=lambda line: print(f"etl: {mask(line)}", file=sys.stderr, flush=True)
    )
    _current.cleanup.callback(held.release)


def _active_session() -> Any:
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def _stop_own_session(caller_session: Any) -> str | None:
    """Stop the session this command started (not one its caller had), and wait for its JVM; the error
    in one line if that failed."""
    session = _active_session()
    if session is None or session is caller_session:
        return None
    from etl.errors import one_line
    from etl.session import stop_session

    try:
        stop_session(session)
    except Exception as error:
        log.debug("stopping Spark failed", exc_info=True)
        return f"stopping Spark: {one_line(error)}"
    return None


@dataclass
class _Command:
    """One call of main(): its command line, --wait and -v, and what it set up and takes down when it ends
    (log handlers, the local metastore's lock)."""

    command: str = "etl"
    wait: bool = False
    verbose: bool = False
    cleanup: ExitStack = field(default_factory=ExitStack)
    log_file: Path | None = None


_current = _Command()


def _log_to(env: EnvConfig) -> None:
    """Progress and results on stderr (with -v also the debug lines); with local state also the full log
    in <local_state>/logs/etl.log."""
    log.setLevel(logging.DEBUG)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if _current.verbose else logging.INFO)
    console.setFormatter(logging.Formatter(_clear_line() + "%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    console.addFilter(MaskSecrets())
    _add_handler(console)
    if env.local_state:
        logs = Path(env.local_state).expanduser().resolve() / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(logs / "etl.log")
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        to_file.addFilter(MaskSecrets())
        _add_handler(to_file)
        _current.log_file = logs / "etl.log"


def _add_handler(handler: logging.Handler) -> None:
    log.addHandler(handler)
    _current.cleanup.callback(handler.close)
    _current.cleanup.callback(log.removeHandler, handler)
