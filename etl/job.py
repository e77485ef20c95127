"""The Job base class: a run is extract -> transform -> validate -> load, then the audit row.

A job subclass names nothing but its business logic: `transform` maps the sources (by the names in
conf/jobs/<job>.yaml) to one DataFrame per target. Reading, validating, loading, row counts and the
audit log are the framework's.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from etl import audit, bookmarks, fs, lock, quarantine
from etl.accounting import Account
from etl.accounting import failure_line as accounting_failure
from etl.config import ConfigDir
from etl.config.loader import describe
from etl.config.models import EnvConfig, JobConfig
from etl.context import RunContext
from etl.errors import RAISED_IN_QUERY, ConfigError, EtlError, LoadError, RowAccountingFailed, SourceError, ValidationFailed, VolumeAnomaly
from etl.extract import read_source, source_folders
from etl.extract.malformed import MALFORMED, malformed_rows, observed, well_formed
from etl.load import write_table
from etl.quality import ValidationResult, Validator
from etl.quality.report import write_report
from etl.quality.routing import (
    FAILED_CHECKS,
    FAILED_RULES,
    Rule,
    Tally,
    loaded_rows,
    mark,
    quarantine_rules,
    quarantined_rows,
    row_checks,
    samples,
    tally,
)
from etl.quality.validate import Counted, import_in_background, overall_status
from etl.secrets import mask
from etl.stopwatch import Stopwatch
from etl.volume import earlier_rates
from etl.volume import judge as judge_volume

log = logging.getLogger(__name__)


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class RunOutcome:
    record: audit.RunRecord
    validations: list[ValidationResult]


class Job:
    """Subclass it, set Params if the job has settings, and implement transform()."""

    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, spark: SparkSession, config: JobConfig, env: EnvConfig, conf: ConfigDir) -> None:
        self.spark = spark
        self.config = config
        self.env = env
        self.conf = conf
        self.params: Any = self.params_of(config)
        # Loaded now: a broken suite fails the run before Spark does any work.
        self.suites = {name: conf.suite(target.suite) for name, target in config.targets.items() if target.suite}

    @classmethod
    def params_of(cls, config: JobConfig) -> BaseModel:
        try:
            return cls.Params.model_validate(config.params)
        except ValidationError as error:
            raise ConfigError(describe(error, {(): f"conf/jobs/{config.name}.yaml"}).replace(": ", ": params.", 1)) from None

    # --- the stages a job may override --------------------------------------------------------------

    def extract(self, ctx: RunContext, files: Mapping[str, list[str]] | None = None) -> dict[str, DataFrame]:
        """Each source's rows; `files`: the files to read of the incremental sources (their new ones)."""
        files = files or {}
        return {name: read_source(self.spark, name, source, ctx, files.get(name)) for name, source in self.config.sources.items()}

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        raise NotImplementedError(f"{type(self).__name__} must implement transform()")

    # --- the orchestration ----------------------------------------------------------------------------

    def run(self, ctx: RunContext) -> RunOutcome:
        validations: list[ValidationResult] = []
        cached: dict[str, DataFrame] = {}
        if self.suites:
            import_in_background()
        watch = Stopwatch()
        with self.audited(ctx) as record:
            try:
                watch.lap("lock")
                taken = self._new_files(ctx)
                observations = {name: Observation(_observation_name(name)) for name in self.config.sources}
                files = {name: [mark.uri for mark in marks] for name, marks in taken.items()}
                raw = {name: observed(frame, observations[name]) for name, frame in self.extract(ctx, files).items()}
                outputs = self._outputs(ctx, {name: well_formed(frame) for name, frame in raw.items()})
                rules = {name: quarantine_rules(self.suites.get(name)) for name in outputs}
                checks = {name: row_checks(self.suites.get(name)) for name in outputs}
                watch.lap("plan")  # listing the input, the reader's checks, building the outputs' plans
                # Materialize each output once (an output derived from another, in the order of the targets,
                # reads the other's cache), then mark what becomes of each row and the row-level checks it
                # fails: cheap columns over the cache, which validation, quarantine and the write all read. The
                # counting pass fills in the sources' observations.
                cached = {name: frame.persist(StorageLevel.MEMORY_AND_DISK) for name, frame in outputs.items()}
                marked = {name: mark(frame, rules[name], checks[name]) for name, frame in cached.items()}
                tallies = {name: tally(frame, rules[name], checks[name]) for name, frame in marked.items()}
                read = _observed(self.spark, observations, marked)
                record.rows_read = {name: counts["rows"] for name, counts in read.items()}
                # a source of the days before the window is context: its malformed lines were its own day's run's
                record.rows_malformed = {
                    name: counts["malformed"]
                    for name, counts in read.items()
                    if MALFORMED in raw[name].columns and not self.config.sources[name].days_before
                }
                record.rows_quarantined = {name: t.quarantined for name, t in tallies.items() if rules[name]}
                record.rows_dropped = {f"{name}.{rule}": rows for name, t in tallies.items() for rule, rows in t.dropped.items()}
                self._account(record, tallies)
                self._check_volumes(ctx, record.rows_read)
                watch.lap("read, transform and count")
                loaded = {name: loaded_rows(frame) for name, frame in marked.items()}
                validations, report = self._validate(ctx, loaded, marked, tallies, rules, checks)
                record.validation = overall_status(validations)
                failed = [v for v in validations if v.status == "failed"]
                if failed:
                    raise ValidationFailed(_failure_line(failed) + (f" (report: {report})" if report else ""))
                self._require_unique_merge_keys(loaded)
                watch.lap("validate")
                superseded = self._quarantine(ctx, raw, marked, record)
                watch.lap("quarantine")
                self._load(ctx, loaded, superseded, on_loaded=lambda name: record.rows_written.update({name: tallies[name].loaded}))
                watch.lap("load")
                if taken:
                    bookmarks.record(self.spark, ctx, taken)
            finally:
                for frame in cached.values():
                    frame.unpersist()
        watch.lap("audit")
        log.info("run %s stage seconds: %s", ctx.run_id, watch)
        return RunOutcome(record, validations)

    @contextmanager
    def audited(self, ctx: RunContext) -> Iterator[audit.RunRecord]:
        """The job's lock held around the block, and its audit row written after it, succeeded or failed
        (with the error in one line); the block fills in the record's counts."""
        record = audit.RunRecord.start(ctx, datetime.now(UTC))
        locked = False
        try:
            lock.acquire(self.spark, ctx.zones, ctx.job, ctx.run_id)
            locked = True
            yield record
            record.status = "succeeded"
        except Exception as error:
            record.status = "failed"
            record.error = one_line(error)
            raise
        finally:
            record.ended_at = datetime.now(UTC)
            self._audit(ctx, record)
            if locked:
                self._release(ctx, failed=record.status == "failed")

    def _release(self, ctx: RunContext, failed: bool) -> None:
        """Release the run's lock. After a failure (the metastore may be what failed), not releasing it
        is logged and the run's own error stays the one reported; a later run on this host takes the lock
        over once this process has exited (elsewhere: `etl unlock`)."""
        try:
            lock.release(self.spark, ctx.job, ctx.run_id)
        except Exception as error:
            if not failed:
                raise
            log.error("could not release the lock of run %s: %s", ctx.run_id, one_line(error))

    def _new_files(self, ctx: RunContext) -> dict[str, list[bookmarks.FileMark]]:
        """Per incremental source, the files no run of another date has taken (an error when there are
        none, unless the source allows empty input)."""
        taken = {}
        for name, source in self.config.sources.items():
            if not source.incremental:
                continue
            folders = source_folders(self.spark, name, source, ctx)
            taken[name] = bookmarks.new_files(self.spark, ctx, name, folders)
            log.info("source %s: %d new file(s) under %s", name, len(taken[name]), ", ".join(folders))
            if not taken[name] and not source.allow_empty:
                raise SourceError(
                    f"source {name}: no new files under {', '.join(folders)} since the job's other runs "
                    "(set allow_empty: true on the source if that is expected)"
                )
        return taken

    def _outputs(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        outputs = self.transform(ctx, sources)
        if set(outputs) != set(self.config.targets):
            raise EtlError(
                f"{self.config.name}: transform() returned outputs {sorted(outputs)} but conf/jobs/{self.config.name}.yaml "
                f"declares targets {sorted(self.config.targets)}"
            )
        return {name: outputs[name] for name in self.config.targets}

    def _account(self, record: audit.RunRecord, tallies: Mapping[str, Tally]) -> None:
        """The row-accounting invariant of every target with rows_from; recorded, and fatal when broken."""
        accounts = [
            Account(
                target=name,
                source=target.rows_from,
                read=record.rows_read.get(target.rows_from, 0),
                malformed=record.rows_malformed.get(target.rows_from, 0),
                loaded=tallies[name].loaded,
                quarantined=tallies[name].quarantined,
                dropped=tallies[name].dropped,
            )
            for name, target in self.config.targets.items()
            if target.rows_from
        ]
        if not accounts:
            return
        record.accounting = "; ".join(account.equation() for account in accounts)
        if not all(account.balanced for account in accounts):
            raise RowAccountingFailed(accounting_failure(accounts))

    def _require_unique_merge_keys(self, loaded: Mapping[str, DataFrame]) -> None:
        """A merge with two new rows for one key has no right answer (Delta and Iceberg refuse it, Parquet
        would keep both): fail before writing, unless a quarantine rule took the duplicates out."""
        for name, target in self.config.targets.items():
            if target.mode != "merge":
                continue
            keys = target.merge_keys
            repeated = loaded[name].groupBy(*keys).count().where(F.col("count") > 1)
            found = repeated.orderBy(*keys).limit(3).collect()
            if found:
                shown = ", ".join(str(tuple(row[key] for key in keys)) for row in found)
                raise LoadError(
                    f"{target.table}: merge keys ({', '.join(keys)}) repeat in the new data, nothing was written: {repeated.count()} "
                    f"key(s), such as {shown}; quarantine them (expect_column_values_to_be_unique or "
                    "expect_compound_columns_to_be_unique with severity quarantine) or fix the source"
                )

    def _check_volumes(self, ctx: RunContext, rows_read: Mapping[str, int]) -> None:
        days = len(list(ctx.window.days()))
        problems = []
        for name, source in self.config.sources.items():
            if source.volume:
                earlier = earlier_rates(self.spark, ctx.job, name, source.volume.history)
                problems.append(judge_volume(name, rows_read.get(name, 0), days, earlier, source.volume))
        found = [problem for problem in problems if problem]
        if found:
            raise VolumeAnomaly("unusual input volume, nothing was written: " + "; ".join(found))

    def _validate(
        self,
        ctx: RunContext,
        loaded: Mapping[str, DataFrame],
        marked: Mapping[str, DataFrame],
        tallies: Mapping[str, Tally],
        rules: Mapping[str, list[Rule]],
        checks: Mapping[str, list[Rule]],
    ) -> tuple[list[ValidationResult], str | None]:
        """The results of every target's suite, and the URI of the run's report page."""
        if not self.suites:
            return [], None
        validator = Validator()
        results = []
        for name, suite in self.suites.items():
            counts = tallies[name]
            counted = Counted(
                judged=counts.loaded + counts.quarantined,
                loaded=counts.loaded,
                per_rule=counts.per_rule,
                per_check=counts.per_check,
                rule_samples=samples(marked[name], FAILED_RULES, rules[name], counts.per_rule),
                check_samples=samples(marked[name], FAILED_CHECKS, checks[name], counts.per_check),
            )
            result = validator.validate(loaded[name], suite, name, counted)
            fs.write_text(
                self.spark, ctx.zones.uri("dq", ctx.job, f"run_date={ctx.run_date}", ctx.run_id, f"{name}.json"), result.to_json()
            )
            for outcome in result.failures("warn"):
                log.warning("%s: expectation failed (warn): %s", name, outcome.describe())
            for outcome in result.failures("quarantine"):
                log.warning("%s: %s rows quarantined: %s", name, outcome.unexpected_count, outcome.describe())
            results.append(result)
        report = write_report(self.spark, ctx, self.config, results)  # report.html next to the JSON; never fails the run
        if report:
            log.info("validation report: %s", report)
        return results, report

    def _quarantine(
        self, ctx: RunContext, raw: Mapping[str, DataFrame], marked: Mapping[str, DataFrame], record: audit.RunRecord
    ) -> list[str]:
        """Write the run date's partition of every quarantine table the job has (emptied when nothing
        failed, so a rerun leaves what one clean run would); returns folders to delete after the load."""
        superseded: list[str] = []
        for name, rows in record.rows_malformed.items():
            table = quarantine.source_table(self.config.name, name)
            if rows:
                log.warning("source %s: %d malformed line(s) quarantined in %s", name, rows, table)
            lines = malformed_rows(raw[name], self.config.sources[name].date_partition)
            superseded += quarantine.write(self.spark, ctx, table, lines, rows)
        for name, rows in record.rows_quarantined.items():
            target = self.config.targets[name]
            day = quarantine.day_within(marked[name], target.partition_by, ctx.window)
            superseded += quarantine.write(self.spark, ctx, quarantine.target_table(target), quarantined_rows(marked[name], day), rows)
        return superseded

    def _load(self, ctx: RunContext, outputs: Mapping[str, DataFrame], superseded: list[str], on_loaded: Callable[[str], None]) -> None:
        for name, target in self.config.targets.items():
            table_format = target.format or self.env.tables.default_format
            log.info("loading %s into %s (%s, %s)", name, target.table, table_format, target.mode)
            superseded = superseded + write_table(self.spark, outputs[name], target, table_format, ctx)
            on_loaded(name)
        # Old table folders go only now: until every target is loaded, cached outputs may still read them.
        for folder in superseded:
            fs.delete(self.spark, folder)

    def _audit(self, ctx: RunContext, record: audit.RunRecord) -> None:
        try:
            audit.write_run(self.spark, ctx, record)
        except Exception as error:  # the run's own error matters more than the audit's
            log.error("could not write the audit row of run %s: %s", ctx.run_id, one_line(error))


def one_line(error: BaseException) -> str:
    """An error as one line: our own messages as they are; for a JVM error its innermost cause
    (where Spark says what was wrong with the data), without the stack trace."""
    java = _innermost_java(error)
    if java is not None:
        message = " ".join(str(java.getMessage()).split())
        ours = raised_in_query(error)
        if ours is not None:
            return mask(ours)
        kind = java.getClass().getSimpleName()
        hint = f" ({_HINTS[kind]})" if kind in _HINTS else ""
        return mask(f"{kind}: {message[:1000]}{hint}")
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0].strip()
    return mask(first if isinstance(error, EtlError) else f"{type(error).__name__}: {first}")


# What to do about a JVM error whose message does not say it.
_HINTS = {
    "ChecksumException": "the file is not what the .crc file beside it says; if it was changed on purpose, delete that .crc file",
}


def raised_in_query(error: BaseException) -> str | None:
    """The project's own message when a Spark query raised it (a malformed line under `malformed: fail`, a
    CSV header that does not match), else None."""
    java = _innermost_java(error)
    message = " ".join(str(java.getMessage()).split()) if java is not None else ""
    if RAISED_IN_QUERY not in message:
        return None
    return message.split(RAISED_IN_QUERY, 1)[1].split(" SQLSTATE: ")[0][:1000]


def _innermost_java(error: BaseException) -> Any:
    java = getattr(error, "java_exception", None)
    while java is not None and java.getCause() is not None:
        java = java.getCause()
    return java


def _observed(spark: SparkSession, observations: Mapping[str, Observation], outputs: Mapping[str, DataFrame]) -> dict[str, dict[str, int]]:
    """Rows read (and malformed) per source, from the observations the outputs' materialization filled in.

    A source no output uses was never read: 0. Spark delivers a metric through its listener bus, after
    the action; once the bus is drained, a metric that has not arrived never will (adaptive execution
    skips the scan of a join side it knows to be empty), and that source read no rows.
    """
    plans = [frame._jdf.queryExecution().analyzed().treeString() for frame in outputs.values()]
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()  # type: ignore[union-attr]
    counts: dict[str, dict[str, int]] = {}
    for name, observation in observations.items():
        counts[name] = {"rows": 0, "malformed": 0}
        if not any(f"CollectMetrics {_observation_name(name)}," in plan for plan in plans):
            log.warning("source %s is declared but no target uses it", name)
            continue
        result = _metrics(observation)
        if "rows" not in result:
            log.info("source %s: Spark skipped reading it (nothing to join it with)", name)
        counts[name] = {"rows": int(result.get("rows", 0)), "malformed": int(result.get("malformed", 0))}
    return counts


def _metrics(observation: Observation) -> dict[str, Any]:
    """The observation's metrics, or {} when Spark never delivered them. Spark 3.5's Observation.get
    waits forever for metrics that never come, so its `metrics` field is looked at first (a JVM
    internal; where it is not there, a thread waits two seconds, and stays blocked until exit)."""
    java: Any = observation._jo
    if java is None:  # never attached to a query
        return {}
    try:
        field = java.getClass().getDeclaredField("metrics")
        field.setAccessible(True)
        if field.get(java).isEmpty():
            return {}
    except Exception:  # another Spark's Observation: wait in a thread
        pass
    result: dict[str, Any] = {}
    reader = threading.Thread(target=_collect, args=(observation, result), daemon=True)
    reader.start()
    reader.join(timeout=2)
    return result


def _collect(observation: Observation, into: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):  # the gateway closed at exit: nothing left to tell, logging may be gone too
        into.update(observation.get)


def _observation_name(source: str) -> str:
    return f"read_{source}"


def _failure_line(failed: list[ValidationResult]) -> str:
    parts = []
    for result in failed:
        errors = result.failures("error")
        parts.append(f"{result.target}: {len(errors)} expectation(s) of severity error failed: " + "; ".join(o.describe() for o in errors))
    return "validation failed, nothing was written: " + " | ".join(parts)
