"""The EMR step that runs a job: pure functions from (job, env, days, artifacts) to JSON.

`spark_submit_args` is the command line alone, so the same arguments can run a release on any
Spark (a local standalone cluster, a dev box) and not only as an EMR step; `emr_step` wraps it in
the AddJobFlowSteps shape that `aws emr add-steps --steps file://steps.json` and `etl submit` send.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from etl.context import DateWindow
from etl.errors import EtlError

DeployMode = Literal["client", "cluster"]
ActionOnFailure = Literal["CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER"]
DEPLOY_MODES: tuple[DeployMode, ...] = ("client", "cluster")
ACTIONS_ON_FAILURE: tuple[ActionOnFailure, ...] = ("CONTINUE", "CANCEL_AND_WAIT", "TERMINATE_CLUSTER")

# client: the driver runs in the step's own process on the primary node, so the run's log and its final
# `etl: error: ...` line are the step's stderr, which EMR shows with the step. cluster: the driver runs
# in a YARN container (its log in the YARN logs), which spares the primary node on busy clusters.
DEFAULT_DEPLOY_MODE: DeployMode = "client"
# A failed load must not stop a long-running cluster, nor the steps queued behind it (other jobs).
DEFAULT_ACTION_ON_FAILURE: ActionOnFailure = "CONTINUE"

# Beside the zip in every release (etl/emr/package.py); on the driver's classpath, it reads and moves a
# table's partitions in one JVM call each (etl/spark_internals/session_catalog.py), where py4j makes a round trip per partition.
CATALOG_JAR_NAME = "etl-catalog.jar"
# The Python requirements as a packed virtual environment (`etl package --venv-pack`), for EMR Serverless,
# which has no bootstrap actions to install them (etl/emr/serverless.py).
VENV_ARCHIVE_NAME = "pyspark_venv.tar.gz"

_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")


def zip_name(release: str | None = None) -> str:
    """etl-<release>.zip; by default the release the checkout etl runs from builds (etl/emr/package.py)."""
    if release is None:
        from etl.emr.package import default_source_root, release_name

        release = release_name(default_source_root())
    return f"etl-{release}.zip"


def artifacts_uri(uri: str) -> str:
    """s3://bucket/prefix/ of a deployed dist/, with exactly one trailing slash; anything else is an error."""
    if not _S3_URI.match(uri):
        raise EtlError(f"artifacts must be an s3://bucket/prefix/ URI (where `etl deploy` put dist/), got {uri!r}")
    return uri.rstrip("/") + "/"


def spark_submit_args(
    job: str,
    env: str,
    window: DateWindow,
    artifacts: str,
    *,
    backfill: bool | None = None,
    deploy_mode: DeployMode = DEFAULT_DEPLOY_MODE,
    master: str | None = None,
    release: str | None = None,
) -> list[str]:
    """spark-submit [--master M] --deploy-mode D --py-files <artifacts>/etl-<release>.zip --jars <artifacts>/etl-catalog.jar
    <artifacts>/main.py --job .. --env .. then --run-date D, or --from D --to D for a backfill.

    `artifacts` is the folder (any URI or path Spark reads) holding a dist/ built by `etl package`.
    `backfill` None means: a backfill when the window has more than one day."""
    base = artifacts.rstrip("/")
    return [
        "spark-submit",
        *(["--master", master] if master else []),
        "--deploy-mode",
        deploy_mode,
        "--py-files",
        f"{base}/{zip_name(release)}",
        "--jars",
        f"{base}/{CATALOG_JAR_NAME}",
        f"{base}/main.py",
        *main_args(job, env, window, backfill=backfill),
    ]


def main_args(job: str, env: str, window: DateWindow, *, backfill: bool | None = None) -> list[str]:
    """What main.py is given: --job J --env ENV, then --run-date D, or --from D --to D for a backfill
    (`backfill` None: a backfill when the window has more than one day)."""
    if backfill is None:
        backfill = window.first != window.last
    if not backfill and window.first != window.last:
        raise EtlError(f"a run loads one day; {window} needs a backfill")
    days = ["--from", window.first.isoformat(), "--to", window.last.isoformat()] if backfill else ["--run-date", window.first.isoformat()]
    return ["--job", job, "--env", env, *days]


def step_name(job: str, env: str, window: DateWindow, backfill: bool) -> str:
    return f"etl {'backfill' if backfill else 'run'} {job} {window} --env {env}"


def emr_step(
    job: str,
    env: str,
    window: DateWindow,
    artifacts: str,
    *,
    backfill: bool | None = None,
    deploy_mode: DeployMode = DEFAULT_DEPLOY_MODE,
    action_on_failure: ActionOnFailure = DEFAULT_ACTION_ON_FAILURE,
    release: str | None = None,
) -> dict[str, Any]:
    """One step of AddJobFlowSteps: command-runner.jar running spark_submit_args with the s3:// artifacts."""
    if backfill is None:
        backfill = window.first != window.last
    if deploy_mode not in DEPLOY_MODES:
        raise EtlError(f"deploy mode must be one of {', '.join(DEPLOY_MODES)}, got {deploy_mode!r}")
    if action_on_failure not in ACTIONS_ON_FAILURE:
        raise EtlError(f"action on failure must be one of {', '.join(ACTIONS_ON_FAILURE)}, got {action_on_failure!r}")
    args = spark_submit_args(job, env, window, artifacts_uri(artifacts), backfill=backfill, deploy_mode=deploy_mode, release=release)
    return {
        "Name": step_name(job, env, window, backfill),
        "ActionOnFailure": action_on_failure,
        "HadoopJarStep": {"Jar": "command-runner.jar", "Args": args},
    }


def cli_step(step: dict[str, Any]) -> dict[str, Any]:
    """A step of AddJobFlowSteps in the AWS CLI's own shape, the one `aws emr add-steps --steps file://...`
    takes (it rejects the API's HadoopJarStep): Type CUSTOM_JAR, with Jar and Args at the top."""
    jar_step = step["HadoopJarStep"]
    return {
        "Type": "CUSTOM_JAR",
        "Name": step["Name"],
        "ActionOnFailure": step["ActionOnFailure"],
        "Jar": jar_step["Jar"],
        "Args": jar_step["Args"],
    }
