"""The shipping commands of `etl`: package, emr-step, submit, cluster (plan, run), deploy (wired into etl/cli.py by `register`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from etl.config import ConfigDir
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
    package = command("package", cmd_package, "build dist/: etl-<version>.zip (etl, jobs, conf), main.py, conf/, requirements.txt")
    package.add_argument("--source", type=Path, help="the source checkout to package (default: the one etl runs from)")
    package.add_argument("--out", type=Path, default=Path("dist"), help="output folder (default: dist); an earlier build there is replaced")

    emr_step_command = _step_arguments(command("emr-step", cmd_emr_step, "print the EMR step (JSON) that runs a job"))
    emr_step_command.add_argument(
        "--shape",
        choices=["cli", "api"],
        default="cli",
        help="cli (default): for aws emr add-steps --steps file://...; api: AddJobFlowSteps' Steps, for boto3, Airflow's "
        "EmrAddStepsOperator and aws emr add-steps --cli-input-json",
    )

    submit = _step_arguments(
        command("submit", cmd_submit, "add the job's step to an EMR cluster and print its id; --wait follows it to the end")
    )
    submit.add_argument("--cluster-id", help="j-...: the cluster (default: the env's emr.cluster_id)")
    submit.add_argument(
        "--wait", action="store_true", help="poll until the step ends: exit 0 when it COMPLETED, 1 with EMR's reason otherwise"
    )
    submit.add_argument("--poll-seconds", type=float, default=30.0, help="seconds between two looks at the step with --wait (default 30)")
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

    deploy = command("deploy", cmd_deploy, "upload every file of dist/ under the artifacts prefix")
    deploy.add_argument("--artifacts", help="s3://bucket/prefix/ (default: the env's emr.artifacts)")
    deploy.add_argument("--env", default=SHIPPING_ENV, help=f"env whose emr.artifacts and s3 endpoint apply (default: {SHIPPING_ENV})")
    deploy.add_argument("--dist", type=Path, default=Path("dist"), help="the built folder to upload (default: dist)")
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


def _aws_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--region", help="AWS region (default: the env's emr.region, else the AWS SDK's)")
    sub.add_argument("--endpoint-url", help="API endpoint of a local server (default: $AWS_ENDPOINT_URL, else the env's)")


# --- commands -----------------------------------------------------------------------------------------


def cmd_package(conf: ConfigDir, args: argparse.Namespace) -> int:
    import hashlib

    from etl.emr.package import build, default_source_root

    built = build(args.source or default_source_root(), args.out)
    digest = hashlib.sha256(built.zip.read_bytes()).hexdigest()
    print(f"{built.zip}  sha256 {digest}  ({len(built.entries)} entries)")
    for path in (built.main, built.catalog_jar, built.requirements, built.conf):
        print(f"{path}{'/' if path.is_dir() else ''}")
    return 0


def cmd_emr_step(conf: ConfigDir, args: argparse.Namespace) -> int:
    step = _step(conf, args, shipping_env(conf, args.env))
    print(json.dumps([cli_step(step) if args.shape == "cli" else step], indent=2))
    return 0


def cmd_submit(conf: ConfigDir, args: argparse.Namespace) -> int:
    from etl.emr.aws import emr_client
    from etl.emr.submit import add_step, wait_for_step

    shipping = shipping_env(conf, args.env)
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
    deploy(s3_client(env, args.endpoint_url, args.region), args.dist, artifacts)
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
