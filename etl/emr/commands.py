"""The shipping commands of `etl`: package, emr-step, submit, cluster (plan, run), deploy (wired into etl/cli.py by `register`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from etl.config import ConfigDir
from etl.config.models import EnvConfig
from etl.context import DateWindow, parse_day
from etl.emr.settings import ShippingEnv, shipping_env
from etl.emr.steps import ACTIONS_ON_FAILURE, DEFAULT_ACTION_ON_FAILURE, DEFAULT_DEPLOY_MODE, DEPLOY_MODES, cli_step, emr_step
from etl.emr.submit import DEFAULT_POLL_SECONDS
from etl.emr.transient import DEFAULT_TIMEOUT_MINUTES
from etl.errors import ConfigError, EtlError

Handler = Callable[[ConfigDir, argparse.Namespace], int]
Command = Callable[[str, Handler, str], argparse.ArgumentParser]

SHIPPING_ENV = "emr"  # the env a step runs in on the cluster, and whose emr section says where to ship
# What conf/env/emr.yaml reads on the driver: a transient cluster gets the values of the shell that plans it.
CLUSTER_EXPORTS = ("ETL_BUCKET", "ETL_PREFIX", "ETL_TABLE_FORMAT")


def register(command: Command) -> None:
    package = command(
        "package",
        cmd_package,
        "build dist/: etl-<version>-<sha256 of the zip, 12 digits>.zip (etl, jobs, conf), main.py, conf/, requirements.txt (pinned)",
    )
    package.add_argument(
        "--allow-dirty", action="store_true", help="build from a checkout with uncommitted changes to what the release holds"
    )
    package.add_argument("--source", type=Path, help="the source checkout to package (default: the one etl runs from)")
    package.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist); an earlier build there is replaced")
    package.add_argument(
        "--venv-pack",
        type=Path,
        metavar="PYTHON_VENV_DIR",
        help="also pack this virtual environment into dist/pyspark_venv.tar.gz with venv-pack, for EMR Serverless (etl submit "
        "--serverless, etl schedule), which installs no requirements itself. Build it for the application's platform: Amazon "
        "Linux 2023, its architecture (x86_64 or arm64), the release's Python at the same path (venv-pack does not copy "
        "Python: bin/python links to it), e.g. in an amazonlinux:2023 container: python3.11 -m venv /venv && "
        "/venv/bin/pip install -r dist/requirements.txt",
    )

    emr_step_command = _step_arguments(command("emr-step", cmd_emr_step, "print the EMR step (JSON) that runs a job"))
    emr_step_command.add_argument(
        "--shape",
        choices=["cli", "api"],
        default="cli",
        help="cli (default): for aws emr add-steps --steps file://...; api: AddJobFlowSteps' Steps, for boto3, Airflow's "
        "EmrAddStepsOperator and aws emr add-steps --cli-input-json",
    )

    submit = _step_arguments(
        command(
            "submit",
            cmd_submit,
            "add the job's step to an EMR cluster (or, with --serverless, start a job run on EMR Serverless) and print its id; "
            "--wait follows it to the end",
        )
    )
    submit.add_argument("--cluster-id", help="j-...: the cluster (default: the env's emr.cluster_id)")
    _serverless_argument(submit, "start a job run on this EMR Serverless application instead of adding a step to a cluster")
    submit.add_argument(
        "--attempt",
        type=int,
        default=1,
        metavar="N",
        help="--serverless: a submit of the same job, env, days and artifacts asks EMR Serverless for the same run (one "
        "clientToken); --attempt 2, 3, ... starts a new one (a rerun of a failed day)",
    )
    submit.add_argument(
        "--wait",
        action="store_true",
        help="poll until the step (job run) ends: exit 0 when it COMPLETED (SUCCESS), 1 with EMR's reason otherwise; "
        "Ctrl-C cancels a job run and exits 130",
    )
    submit.add_argument(
        "--poll-seconds", type=float, default=30.0, help="seconds between two looks at the step or run with --wait (default 30)"
    )
    _aws_arguments(submit)

    cluster = command("cluster", cmd_cluster, "a transient EMR cluster for a pipeline's or a job's night")
    cluster.add_argument(
        "action",
        choices=["plan", "run"],
        help="plan: print the RunJobFlow request (boto3, Airflow's EmrCreateJobFlowOperator; --shape cli: aws emr create-cluster); "
        "run: create the cluster, print its id, follow its steps to the end (exit 0 when every step COMPLETED) and terminate it "
        "on failure, timeout or Ctrl-C",
    )
    cluster.add_argument("name", metavar="PIPELINE_OR_JOB", help="a pipeline of conf/pipelines/, else a job of conf/jobs/")
    cluster.add_argument("--run-date", type=parse_day, metavar="YYYY-MM-DD", help="load one day")
    cluster.add_argument("--from", dest="first", type=parse_day, metavar="YYYY-MM-DD", help="with --to: a backfill of each job")
    cluster.add_argument("--to", dest="last", type=parse_day, metavar="YYYY-MM-DD")
    cluster.add_argument(
        "--env", default=SHIPPING_ENV, help=f"the env the jobs run in, whose emr section describes the cluster (default: {SHIPPING_ENV})"
    )
    cluster.add_argument("--artifacts", help="s3://bucket/prefix/ holding the deployed dist/ (default: the env's emr.artifacts)")
    cluster.add_argument(
        "--shape",
        choices=["api", "cli"],
        default="api",
        help="plan: api (default): the RunJobFlow request as JSON; cli: the same as an `aws emr create-cluster` command for sh "
        "(the AWS CLI takes no RunJobFlow JSON)",
    )
    cluster.add_argument(
        "--poll-seconds",
        type=float,
        default=DEFAULT_POLL_SECONDS,
        help=f"run: seconds between two looks (default {DEFAULT_POLL_SECONDS:g})",
    )
    cluster.add_argument(
        "--timeout-minutes",
        type=float,
        default=DEFAULT_TIMEOUT_MINUTES,
        help=f"run: terminate the cluster and fail when its steps are not done after this long (default {DEFAULT_TIMEOUT_MINUTES})",
    )
    _aws_arguments(cluster)
    cluster.set_defaults(backfill=False)  # --from/--to make every step a backfill

    schedule = command(
        "schedule",
        cmd_schedule,
        "print the EventBridge Scheduler schedule (JSON, for aws scheduler create-schedule --cli-input-json file://...) "
        "that starts a job on EMR Serverless at each time of --cron",
    )
    schedule.add_argument("job", metavar="JOB")
    _serverless_argument(schedule, "the EMR Serverless application the runs start on")
    schedule.add_argument("--cron", required=True, metavar="EXPRESSION", help='when: "cron(30 2 * * ? *)" (or rate(...), at(...))')
    schedule.add_argument("--timezone", default="UTC", help="the time zone of --cron, and of the run date (default UTC)")
    schedule.add_argument(
        "--days-before",
        type=int,
        default=0,
        metavar="N",
        help="the run date is the scheduled day in --timezone (default), or N days before it (1: a night that loads the day before)",
    )
    schedule.add_argument(
        "--role-arn", required=True, help="arn:aws:iam::ACCOUNT:role/NAME that EventBridge Scheduler calls StartJobRun as"
    )
    schedule.add_argument("--name", dest="schedule_name", help="the schedule's name (default: etl-JOB-ENV)")
    schedule.add_argument("--env", default=SHIPPING_ENV, help=f"the env the job runs in (default: {SHIPPING_ENV})")
    schedule.add_argument("--artifacts", help="s3://bucket/prefix/ holding the deployed dist/ (default: the env's emr.artifacts)")

    deploy = command("deploy", cmd_deploy, "upload every file of dist/ under the artifacts prefix")
    deploy.add_argument("--artifacts", help="s3://bucket/prefix/ (default: the env's emr.artifacts)")
    deploy.add_argument("--env", default=SHIPPING_ENV, help=f"env whose emr.artifacts and s3 endpoint apply (default: {SHIPPING_ENV})")
    deploy.add_argument("--dist", type=Path, default=Path("dist"), help="the built folder to upload (default: dist)")
    deploy.add_argument("--replace", action="store_true", help="overwrite a different release already under the prefix (default: refuse)")
    _aws_arguments(deploy)


def _step_arguments(sub: argparse.ArgumentParser) -> argparse.ArgumentParser:
    sub.add_argument("job")
    sub.add_argument("--run-date", type=parse_day, metavar="YYYY-MM-DD", help="load one day (etl run)")
    sub.add_argument("--backfill", action="store_true", help="load --from .. --to in one application (etl backfill)")
    sub.add_argument("--from", dest="first", type=parse_day, metavar="YYYY-MM-DD")
    sub.add_argument("--to", dest="last", type=parse_day, metavar="YYYY-MM-DD")
    sub.add_argument("--env", default=SHIPPING_ENV, help=f"the env the job runs in on the cluster (default: {SHIPPING_ENV})")
    sub.add_argument("--artifacts", help="s3://bucket/prefix/ holding the deployed dist/ (default: the env's emr.artifacts)")
    sub.add_argument("--deploy-mode", choices=DEPLOY_MODES, default=DEFAULT_DEPLOY_MODE, help=f"default: {DEFAULT_DEPLOY_MODE}")
    sub.add_argument(
        "--action-on-failure", choices=ACTIONS_ON_FAILURE, default=DEFAULT_ACTION_ON_FAILURE, help=f"default: {DEFAULT_ACTION_ON_FAILURE}"
    )
    return sub


def _serverless_argument(sub: argparse.ArgumentParser, help: str) -> None:
    sub.add_argument(
        "--serverless",
        nargs="?",
        const="",
        metavar="APPLICATION_ID",
        help=f"{help} (without an id: the env's emr.serverless.application_id)",
    )


def _aws_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--region", help="AWS region (default: the env's emr.region, else the AWS SDK's)")
    sub.add_argument("--endpoint-url", help="API endpoint of a local server (default: $AWS_ENDPOINT_URL, else the env's)")


# --- commands -----------------------------------------------------------------------------------------


def cmd_package(conf: ConfigDir, args: argparse.Namespace) -> int:
    import hashlib

    from etl.emr.package import build, default_source_root

    if args.venv_pack is not None and not (args.venv_pack / "pyvenv.cfg").is_file():
        raise EtlError(f"--venv-pack {args.venv_pack}: not a virtual environment (no pyvenv.cfg)")
    built = build(args.source or default_source_root(), args.out, allow_dirty=args.allow_dirty)
    digest = hashlib.sha256(built.zip.read_bytes()).hexdigest()
    print(f"{built.zip}  sha256 {digest}  ({len(built.entries)} entries)")
    for path in (built.main, built.catalog_jar, built.requirements, built.conf):
        print(f"{path}{'/' if path.is_dir() else ''}")
    if args.venv_pack is not None:
        from etl.emr.package import pack_venv

        archive, python = pack_venv(args.venv_pack, args.out)
        print(f"{archive}  (Python {python})")
    return 0


def cmd_emr_step(conf: ConfigDir, args: argparse.Namespace) -> int:
    step = _step(conf, args, shipping_env(conf, args.env))
    print(json.dumps([cli_step(step) if args.shape == "cli" else step], indent=2))
    return 0


def cmd_submit(conf: ConfigDir, args: argparse.Namespace) -> int:
    from etl.emr.aws import emr_client
    from etl.emr.submit import add_step, wait_for_step

    shipping = shipping_env(conf, args.env)
    if args.serverless is not None:
        if args.cluster_id:
            raise EtlError("give --cluster-id (a step on a cluster) or --serverless (a job run on EMR Serverless), not both")
        return _submit_serverless(conf, args, shipping)
    step = _step(conf, args, shipping)
    cluster_id = shipping.setting("emr.cluster_id", args.cluster_id, shipping.env.emr.cluster_id)
    if not cluster_id:
        raise ConfigError(f"no cluster to submit to: pass --cluster-id j-... or set emr.cluster_id in conf/env/{args.env}.yaml")
    env = shipping.require({"emr.region": args.region, "emr.endpoint": args.endpoint_url})
    client = emr_client(env, args.region, args.endpoint_url)
    step_id = add_step(client, cluster_id, step)
    print(step_id, flush=True)
    if args.wait:
        wait_for_step(
            client, cluster_id, step_id, poll_seconds=args.poll_seconds, say=lambda line: print(line, file=sys.stderr, flush=True)
        )
    return 0


def _submit_serverless(conf: ConfigDir, args: argparse.Namespace, shipping: ShippingEnv) -> int:
    from etl.emr.aws import emr_serverless_client
    from etl.emr.serverless import start_job_run, start_job_run_request, wait_for_job_run

    conf.job(args.job)  # the job must exist (and its config be valid) before a run is paid for
    window, backfill = _window(args)
    application_id = _application_id(shipping, args.serverless)
    env = _serverless_env(shipping, args.region)
    request = start_job_run_request(
        env, application_id, args.job, window, _artifacts(shipping, args), backfill=backfill, attempt=args.attempt
    )
    client = emr_serverless_client(env, args.region, args.endpoint_url)
    job_run_id = start_job_run(client, request, say=lambda line: print(line, file=sys.stderr, flush=True))
    print(job_run_id, flush=True)
    if args.wait:
        wait_for_job_run(
            client, application_id, job_run_id, poll_seconds=args.poll_seconds, say=lambda line: print(line, file=sys.stderr, flush=True)
        )
    return 0


def cmd_schedule(conf: ConfigDir, args: argparse.Namespace) -> int:
    import re

    from etl.emr.serverless import create_schedule_request, skipped_nights

    if args.job in conf.names("pipelines") and args.job not in conf.names("jobs"):
        raise EtlError(
            f"{args.job} is a pipeline: an EMR Serverless job run runs one job; schedule each of its jobs "
            "(etl pipeline show gives their order), or run the night on a transient cluster (etl cluster plan)"
        )
    conf.job(args.job)
    if not re.fullmatch(r"(cron|rate|at)\(.+\)", args.cron.strip()):
        raise EtlError(f"--cron {args.cron!r}: a schedule expression such as cron(30 2 * * ? *), rate(1 day) or at(2026-01-02T02:30:00)")
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+", args.role_arn):
        raise EtlError(f"--role-arn {args.role_arn!r}: an IAM role ARN, arn:aws:iam::ACCOUNT:role/NAME")
    if args.days_before < 0:
        raise EtlError(f"--days-before must be 0 or more, got {args.days_before}")
    _check_timezone(args.timezone)
    shipping = shipping_env(conf, args.env)
    application_id = _application_id(shipping, args.serverless)
    env = _serverless_env(shipping, None)
    name = args.schedule_name or re.sub(r"[^0-9A-Za-z_.-]", "-", f"etl-{args.job}-{env.name}")[:64]
    if not re.fullmatch(r"[0-9A-Za-z_.-]{1,64}", name):
        raise EtlError(f"--name {name!r}: 1 to 64 letters, digits, '-', '_' or '.'")
    request = create_schedule_request(
        env,
        application_id,
        args.job,
        _artifacts(shipping, args),
        schedule_name=name,
        expression=args.cron.strip(),
        timezone=args.timezone,
        role_arn=args.role_arn,
        days_before=args.days_before,
    )
    print(json.dumps(request, indent=2))
    skipped = skipped_nights(args.cron, args.timezone, datetime.now(UTC).date())
    if skipped:
        print(
            f"note: the time of {args.cron.strip()} does not exist in {args.timezone} on {skipped[0]} (daylight saving time): "
            "EventBridge Scheduler skips a run due then; a time outside the hour the clocks skip runs every night",
            file=sys.stderr,
        )
    return 0


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise EtlError(f"--timezone {name!r}: not a time zone (an IANA name such as Europe/Berlin, or UTC)") from None


def _application_id(shipping: ShippingEnv, flag: str | None) -> str:
    import re

    application_id = shipping.setting("emr.serverless.application_id", flag, shipping.env.emr.serverless.application_id)
    if not application_id:
        raise ConfigError(
            "no EMR Serverless application: pass --serverless APPLICATION_ID or set emr.serverless.application_id "
            f"in conf/env/{shipping.env.name}.yaml"
        )
    if not re.fullmatch(r"[0-9a-z]{1,64}", application_id):
        raise EtlError(f"--serverless {application_id!r}: an EMR Serverless application id is lower-case letters and digits")
    return application_id


def _serverless_env(shipping: ShippingEnv, region: str | None) -> EnvConfig:
    """The env, once the settings of a job run are known not to use an unset ${VAR}."""
    serverless = shipping.env.emr.serverless
    return shipping.require(
        {
            "emr.serverless.execution_role_arn": None,
            "emr.region": region,
            **({"emr.serverless.log_uri": None} if serverless.log_uri else {"lake_root": None}),
        }
    )


def cmd_cluster(conf: ConfigDir, args: argparse.Namespace) -> int:
    shipping = shipping_env(conf, args.env)
    request, labels = _cluster_request(conf, args, shipping)
    if args.action == "plan":
        from etl.emr.cluster import create_cluster_command, shell_command

        print(shell_command(create_cluster_command(request)) if args.shape == "cli" else json.dumps(request, indent=2))
        return 0
    from etl.emr.aws import emr_client
    from etl.emr.transient import run_transient

    if args.shape != "api":
        raise EtlError("--shape is for etl cluster plan")
    if args.poll_seconds < 0 or args.timeout_minutes <= 0:
        raise EtlError("--poll-seconds must be 0 or more and --timeout-minutes more than 0")
    env = shipping.require({"emr.region": args.region, "emr.endpoint": args.endpoint_url})
    run_transient(
        emr_client(env, args.region, args.endpoint_url),
        request,
        labels,
        announce=lambda cluster_id: print(cluster_id, flush=True),
        say=lambda line: print(line, file=sys.stderr, flush=True),
        poll_seconds=args.poll_seconds,
        timeout_minutes=args.timeout_minutes,
    )
    return 0


def cmd_deploy(conf: ConfigDir, args: argparse.Namespace) -> int:
    from etl.emr.aws import s3_client
    from etl.emr.deploy import deploy

    shipping = shipping_env(conf, args.env)
    artifacts = _artifacts(shipping, args)
    env = shipping.require({"s3.endpoint": args.endpoint_url, "s3.region": args.region, "emr.region": args.region})
    deploy(s3_client(env, args.endpoint_url, args.region), args.dist, artifacts, replace=args.replace)
    return 0


# --- shared -------------------------------------------------------------------------------------------


def _cluster_request(conf: ConfigDir, args: argparse.Namespace, shipping: ShippingEnv) -> tuple[dict[str, Any], dict[str, str]]:
    """The RunJobFlow request of `etl cluster plan` and `etl cluster run`, and each step's name -> its job and
    days (what run's progress lines call it), in the steps' order."""
    from etl.emr.cluster import run_job_flow
    from etl.emr.package import default_source_root

    if args.name in conf.names("pipelines"):
        pipeline = conf.pipeline(args.name)
        jobs = pipeline.order()
        dependents = {job: [other for other in jobs if job in pipeline.jobs[other].depends_on] for job in jobs}
    else:
        conf.job(args.name)  # a job, which must exist
        jobs, dependents = [args.name], {}
    window, _ = _window(args)
    env = shipping.require(
        {"emr.release_label": None, "emr.cluster.log_uri": None, **({} if shipping.env.emr.cluster.log_uri else {"lake_root": None})}
    )
    exports = {name: os.environ[name] for name in CLUSTER_EXPORTS if os.environ.get(name)}
    configurations = default_source_root() / "bootstrap" / "configurations"
    request = run_job_flow(env, f"etl {args.name} {window}", jobs, dependents, window, _artifacts(shipping, args), configurations, exports)
    labels = {step["Name"]: f"{job} {window}" for job, step in zip(jobs, request["Steps"], strict=True)}
    return request, labels


def _artifacts(shipping: ShippingEnv, args: argparse.Namespace) -> str:
    artifacts = shipping.setting("emr.artifacts", args.artifacts, shipping.env.emr.artifacts)
    if not artifacts:
        raise ConfigError(
            f"no artifacts location: pass --artifacts s3://bucket/prefix/ or set emr.artifacts in conf/env/{shipping.env.name}.yaml"
        )
    return artifacts


def _step(conf: ConfigDir, args: argparse.Namespace, shipping: ShippingEnv) -> dict[str, Any]:
    conf.job(args.job)  # the job must exist (and its config be valid) before a cluster spends time on it
    window, backfill = _window(args)
    return emr_step(
        args.job,
        shipping.env.name,
        window,
        _artifacts(shipping, args),
        backfill=backfill,
        deploy_mode=args.deploy_mode,
        action_on_failure=args.action_on_failure,
    )


def _window(args: argparse.Namespace) -> tuple[DateWindow, bool]:
    """--run-date D, or [--backfill] --from D --to D."""
    ranged = args.first is not None or args.last is not None
    if args.run_date is not None:
        if ranged or args.backfill:
            raise EtlError("give either --run-date D or --backfill --from D --to D, not both")
        return DateWindow.day(args.run_date), False
    if args.first is None or args.last is None:
        raise EtlError("give --run-date D, or --backfill --from D --to D")
    try:
        return DateWindow(args.first, args.last), True
    except ValueError as error:
        raise EtlError(str(error)) from None
