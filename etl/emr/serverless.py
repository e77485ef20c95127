"""EMR Serverless: the StartJobRun request of a job's run, starting it, following it, and the
EventBridge Scheduler schedule that starts it each night.

A job run is main.py with the same arguments as the EMR step (etl/emr/steps.py: `main_args`), the
zip and the catalog jar as in the step, and the Python requirements as a packed virtual environment
(<artifacts>/pyspark_venv.tar.gz, `etl package --venv-pack`), since EMR Serverless has no bootstrap
actions: Spark unpacks it as ./environment next to the driver and each executor, and PySpark runs its
./environment/bin/python.

clientToken: EMR Serverless's idempotency token. `etl submit` derives it from the job, env, days,
release (the artifacts prefix) and --attempt, so a submit that is retried (a scheduler retrying a task
whose first try died after StartJobRun) asks for the same run instead of a second one. A schedule
cannot know the night in advance: its token is EventBridge Scheduler's execution id, new each night.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from etl.config.models import EnvConfig
from etl.context import DateWindow
from etl.emr.aws import aws_errors
from etl.emr.steps import CATALOG_JAR_NAME, VENV_ARCHIVE_NAME, artifacts_uri, main_args, zip_name
from etl.errors import ConfigError, EtlError
from etl.secrets import mask

VENV_ALIAS = "environment"  # the folder Spark unpacks the archive into, in the driver's and each executor's working folder
VENV_PYTHON = f"./{VENV_ALIAS}/bin/python"

STATES = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "SUCCESS", "FAILED", "CANCELLING", "CANCELLED")
FAILED_STATES = ("FAILED", "CANCELLED")
# The runs a retried submit follows instead of starting another: all but the failed and cancelled ones.
LIVE_OR_DONE = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "SUCCESS", "QUEUED")
DEFAULT_POLL_SECONDS = 30.0

# EventBridge Scheduler: its universal target for any SDK call, and the context attributes it replaces in
# the target's Input each time it fires.
START_JOB_RUN_TARGET = "arn:aws:scheduler:::aws-sdk:emrserverless:startJobRun"
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"  # 2026-01-02T01:30:00Z: the time the schedule fired for, in UTC
EXECUTION_ID = "<aws.scheduler.execution-id>"  # d32c5kddcf5bb8c3: new for each invocation
# A failed StartJobRun (throttled, the service unavailable) is tried again, for an hour at most.
SCHEDULE_RETRY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3}


class JobRunFailed(EtlError):
    """The job run ended FAILED or CANCELLED."""


def _shown(env: EnvConfig) -> str:
    return f"conf/env/{env.name}.yaml"


def execution_role(env: EnvConfig) -> str:
    role = env.emr.serverless.execution_role_arn
    if not role:
        raise ConfigError(
            f"{_shown(env)}: emr.serverless.execution_role_arn: needed to start a job run on EMR Serverless "
            "(arn:aws:iam::ACCOUNT:role/NAME, the role the run acts with)"
        )
    return role


def log_uri(env: EnvConfig) -> str:
    """emr.serverless.log_uri, else <lake_root>/emr-serverless-logs/ (on S3)."""
    if env.emr.serverless.log_uri:
        return env.emr.serverless.log_uri
    if not env.lake_root.startswith("s3://"):
        raise ConfigError(f"{_shown(env)}: emr.serverless.log_uri: needed where the lake is not on S3 ({env.lake_root})")
    return f"{env.lake_root.rstrip('/')}/emr-serverless-logs/"


def spark_submit_parameters(env: EnvConfig, artifacts: str, release: str | None = None) -> str:
    """--py-files <zip> --jars <catalog jar>[,emr.serverless.jars], the packed venv as ./environment with PySpark's Pythons in it
    (EMR Serverless's driverEnv for the driver, spark.executorEnv for the executors), then emr.serverless.spark_conf."""
    base = artifacts_uri(artifacts).rstrip("/")
    settings = env.emr.serverless
    parameters = ["--py-files", f"{base}/{zip_name(release)}", "--jars", ",".join([f"{base}/{CATALOG_JAR_NAME}", *settings.jars])]
    conf: dict[str, str] = {}
    if settings.venv_archive:
        conf = {
            "spark.archives": f"{base}/{VENV_ARCHIVE_NAME}#{VENV_ALIAS}",
            "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": VENV_PYTHON,
            "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": VENV_PYTHON,
            "spark.executorEnv.PYSPARK_PYTHON": VENV_PYTHON,
        }
    for key, value in settings.spark_conf.items():
        if key in conf:
            raise ConfigError(f"{_shown(env)}: emr.serverless.spark_conf: {key} is set by etl (venv_archive: false to set it yourself)")
        conf[key] = value
    for key, value in conf.items():
        parameters += ["--conf", f"{key}={value}"]
    return " ".join(parameters)


def client_token(job: str, env: str, window: DateWindow, artifacts: str, attempt: int = 1) -> str:
    """The same for the same job, env, days, release and attempt: 'etl-' and 48 hex digits of a sha256."""
    if attempt < 1:
        raise EtlError(f"--attempt must be 1 or more, got {attempt}")
    key = "\n".join([job, env, window.first.isoformat(), window.last.isoformat(), artifacts_uri(artifacts), str(attempt)])
    return "etl-" + hashlib.sha256(key.encode()).hexdigest()[:48]


def job_run_request(
    env: EnvConfig,
    application_id: str,
    *,
    name: str,
    entry_point_arguments: list[str],
    artifacts: str,
    token: str,
    tags: dict[str, str],
    release: str | None = None,
) -> dict[str, Any]:
    """A StartJobRun request (the API's shape, as boto3 and `aws emr-serverless start-job-run --cli-input-json` take it)."""
    return {
        "applicationId": application_id,
        "clientToken": token,
        "executionRoleArn": execution_role(env),
        "name": name,
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": f"{artifacts_uri(artifacts)}main.py",
                "entryPointArguments": entry_point_arguments,
                "sparkSubmitParameters": spark_submit_parameters(env, artifacts, release),
            }
        },
        "configurationOverrides": {"monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": log_uri(env)}}},
        "executionTimeoutMinutes": env.emr.serverless.execution_timeout_minutes,
        "tags": tags,
    }


def start_job_run_request(
    env: EnvConfig,
    application_id: str,
    job: str,
    window: DateWindow,
    artifacts: str,
    *,
    backfill: bool | None = None,
    attempt: int = 1,
    release: str | None = None,
) -> dict[str, Any]:
    """The run of `job` for `window`: main.py's arguments as the EMR step's, a token of job, env, days, release and attempt."""
    token = client_token(job, env.name, window, artifacts, attempt)
    return job_run_request(
        env,
        application_id,
        name=f"{job} {window} #{token[-8:]}",  # the token's end: a retried submit finds the run it started
        entry_point_arguments=main_args(job, env.name, window, backfill=backfill),
        artifacts=artifacts,
        token=token,
        tags={"etl:job": job, "etl:env": env.name, "etl:run-date": str(window)},
        release=release,
    )


# --- the schedule -------------------------------------------------------------------------------------


def scheduled_main_args(job: str, env: str, timezone: str, days_before: int) -> list[str]:
    """main.py's arguments in a schedule: the run date is the day of the scheduled time in `timezone`, less `days_before` days."""
    return [
        "--job",
        job,
        "--env",
        env,
        "--scheduled-time",
        SCHEDULED_TIME,
        "--timezone",
        timezone,
        *(["--days-before", str(days_before)] if days_before else []),
    ]


def create_schedule_request(
    env: EnvConfig,
    application_id: str,
    job: str,
    artifacts: str,
    *,
    schedule_name: str,
    expression: str,
    timezone: str,
    role_arn: str,
    days_before: int = 0,
    release: str | None = None,
) -> dict[str, Any]:
    """CreateSchedule's input (`aws scheduler create-schedule --cli-input-json`): EventBridge Scheduler calls
    EMR Serverless's StartJobRun at each time of `expression`, with a request whose run date main.py derives
    from the scheduled time and whose clientToken is the invocation's execution id."""
    run = job_run_request(
        env,
        application_id,
        name=f"{job} (schedule {schedule_name})",
        entry_point_arguments=scheduled_main_args(job, env.name, timezone, days_before),
        artifacts=artifacts,
        token=EXECUTION_ID,
        tags={"etl:job": job, "etl:env": env.name, "etl:schedule": schedule_name},
        release=release,
    )
    day = "the scheduled day" if not days_before else f"{days_before} day(s) before the scheduled day"
    return {
        "Name": schedule_name,
        "Description": f"etl: {job} (env {env.name}) on EMR Serverless application {application_id}; run date: {day} in {timezone}",
        "ScheduleExpression": expression,
        "ScheduleExpressionTimezone": timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Target": {
            "Arn": START_JOB_RUN_TARGET,
            "RoleArn": role_arn,
            "Input": json.dumps(sdk_member_names(run), separators=(",", ":")),
            "RetryPolicy": dict(SCHEDULE_RETRY),
        },
    }


def skipped_nights(expression: str, timezone: str, first: date, days: int = 366) -> list[date]:
    """The days among `days` from `first` on which a daily cron(M H ...) time does not exist in `timezone` (the
    hour clocks skip for daylight saving time): EventBridge Scheduler skips the invocation then. Empty for other expressions."""
    from zoneinfo import ZoneInfo

    fields = re.fullmatch(r"cron\((\d{1,2}) (\d{1,2}) .+\)", expression.strip())
    if not fields:
        return []
    minute, hour = int(fields[1]), int(fields[2])
    zone = ZoneInfo(timezone)
    skipped = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        local = datetime(day.year, day.month, day.day, hour % 24, minute % 60, tzinfo=zone)
        if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
            skipped.append(day)
    return skipped


def sdk_member_names(request: dict[str, Any]) -> dict[str, Any]:
    """A StartJobRun request with its members' names as AWS's SDK integrations spell them (applicationId ->
    ApplicationId, jobDriver.sparkSubmit -> JobDriver.SparkSubmit), as Step Functions' aws-sdk tasks and
    EventBridge Scheduler's universal targets take them; the keys of maps (tags) stay as they are."""
    import botocore.session

    shape = botocore.session.get_session().get_service_model("emr-serverless").operation_model("StartJobRun").input_shape
    converted: dict[str, Any] = _renamed(request, shape)
    return converted


def _renamed(value: Any, shape: Any) -> Any:
    if shape.type_name == "structure":
        return {name[:1].upper() + name[1:]: _renamed(item, shape.members[name]) for name, item in value.items()}
    if shape.type_name == "list":
        return [_renamed(item, shape.member) for item in value]
    if shape.type_name == "map":
        return {key: _renamed(item, shape.value) for key, item in value.items()}
    return value


# --- starting and following a run ------------------------------------------------------------------------


def start_job_run(client: Any, request: dict[str, Any], say: Callable[[str], None] = print) -> str:
    """The id of the request's run: one a submit of the same job, env, days, release and attempt started
    before (its name ends with the token's end), unless it failed or was cancelled; else StartJobRun's.
    EMR Serverless also keeps one run per clientToken, for as long as it remembers the token."""
    with aws_errors("EMR Serverless"):
        for earlier in _job_runs(client, request["applicationId"], LIVE_OR_DONE):
            if earlier["name"] == request["name"]:
                say(f"job run {earlier['id']}: {earlier['state']}, started by an earlier submit of {request['name']}: not starting another")
                return str(earlier["id"])
        response = client.start_job_run(**request)
    return str(response["jobRunId"])


def _job_runs(client: Any, application_id: str, states: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    from botocore.exceptions import ClientError

    more: dict[str, str] = {}
    while True:
        try:
            page = client.list_job_runs(applicationId=application_id, states=list(states), **more)
        except ClientError as error:
            # No runs to follow. (moto answers so for an application without runs yet; for one that does not
            # exist, StartJobRun's error says so next.)
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return
            raise
        yield from page.get("jobRuns", [])
        if not page.get("nextToken"):
            return
        more = {"nextToken": page["nextToken"]}


def wait_for_job_run(
    client: Any,
    application_id: str,
    job_run_id: str,
    *,
    poll_seconds: float = DEFAULT_POLL_SECONDS,
    say: Callable[[str], None] = print,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Poll GetJobRun until the run ends; `say` each state it reaches. Returns on SUCCESS, raises JobRunFailed
    otherwise. Interrupted (Ctrl-C): the run is cancelled before the KeyboardInterrupt goes on, so nothing is
    left running that nobody follows."""
    sleep = sleep or time.sleep
    seen = None
    try:
        while True:
            with aws_errors("EMR Serverless"):
                run = client.get_job_run(applicationId=application_id, jobRunId=job_run_id)["jobRun"]
            state = run["state"]
            if state != seen:
                say(f"job run {job_run_id}: {state}")
                seen = state
            if state == "SUCCESS":
                return
            if state in FAILED_STATES:
                raise JobRunFailed(failure_reason(run))
            sleep(poll_seconds)
    except KeyboardInterrupt:
        cancel_job_run(client, application_id, job_run_id, say)
        raise


def cancel_job_run(client: Any, application_id: str, job_run_id: str, say: Callable[[str], None]) -> None:
    """CancelJobRun; a failure is said in one line with the command that does it by hand, never raised."""
    try:
        with aws_errors("EMR Serverless"):
            client.cancel_job_run(applicationId=application_id, jobRunId=job_run_id)
    except EtlError as error:
        say(
            f"job run {job_run_id}: NOT cancelled ({error}); cancel it with: aws emr-serverless cancel-job-run "
            f"--application-id {application_id} --job-run-id {job_run_id}"
        )
        return
    say(f"job run {job_run_id}: cancelled")


def failure_reason(run: dict[str, Any]) -> str:
    """One line from a GetJobRun jobRun: '<id> (<name>) FAILED: <stateDetails>; log: <the driver's stderr>'."""
    job_run_id = run.get("jobRunId", "?")
    reason = run.get("stateDetails") or "EMR Serverless gave no reason"
    text = f"job run {job_run_id} ({run.get('name', '?')}) {run.get('state', '?')}: {reason}"
    logs = run.get("configurationOverrides", {}).get("monitoringConfiguration", {}).get("s3MonitoringConfiguration", {}).get("logUri")
    if logs:
        text += f"; log: {logs.rstrip('/')}/applications/{run.get('applicationId', '?')}/jobs/{job_run_id}/SPARK_DRIVER/stderr.gz"
    return mask(" ".join(text.split()))
