"""EMR Serverless (etl submit --serverless, etl schedule, main.py --scheduled-time, etl package --venv-pack):
the exact requests, checked against botocore's own models of StartJobRun and CreateSchedule; against moto's
EMR Serverless and EventBridge Scheduler, and botocore's Stubber (real request and response validation)
where moto cannot go, such as a run that FAILED."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from botocore.validate import ParamValidator
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emrserverless.models import emrserverless_backends

from etl.cli import main
from etl.config import ConfigDir
from etl.context import DateWindow
from etl.emr import entry
from etl.emr.package import pack_venv
from etl.emr.serverless import LIVE_OR_DONE, client_token, sdk_member_names, skipped_nights, start_job_run_request
from tests.release import release_zip

REPO = Path(__file__).resolve().parents[2]
REPO_CONF = REPO / "conf"
REGION = "us-east-1"
ARTIFACTS = "s3://acme-etl/artifacts/0.1.0/"
ROLE = "arn:aws:iam::123456789012:role/etl-serverless-job"
SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/etl-scheduler"
APP = "00fq1example0b09"
SECRET = "wJalrXUtnFEMI-not-a-real-secret-serverless"
VENV_CONF = (
    "--conf spark.archives=s3://acme-etl/artifacts/0.1.0/pyspark_venv.tar.gz#environment "
    "--conf spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON=./environment/bin/python "
    "--conf spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python "
    "--conf spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python"
)
SPARK_SUBMIT_PARAMETERS = (
    f"--py-files s3://acme-etl/artifacts/0.1.0/{release_zip()} --jars s3://acme-etl/artifacts/0.1.0/etl-catalog.jar " + VENV_CONF
)


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, no profile or endpoint of the machine's own; the lake of conf/env/emr.yaml on s3://acme-lake/etl."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EMR_SERVERLESS", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "ETL_LAKE_ROOT", "ETL_PREFIX", "ETL_TABLE_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """conf/ with the execution role in emr.yaml (and so in emr8.yaml, which extends it)."""
    folder = tmp_path / "conf"
    shutil.copytree(REPO_CONF, folder)
    with (folder / "env" / "emr.yaml").open("a") as overlay:
        overlay.write(f"\nemr:\n  region: {REGION}\n  serverless:\n    execution_role_arn: {ROLE}\n")
    return folder


def start_job_run_shape() -> Any:
    return botocore.session.get_session().get_service_model("emr-serverless").operation_model("StartJobRun").input_shape


def validation_errors(params: dict[str, Any], shape: Any) -> str:
    return str(ParamValidator().validate(params, shape).generate_report())


def expected_request(env: str, run_date: str = "1992-01-02") -> dict[str, Any]:
    """A run of one day of sales_warehouse, written out by hand."""
    token = client_token("sales_warehouse", env, DateWindow.day(date.fromisoformat(run_date)), ARTIFACTS)
    return {
        "applicationId": APP,
        "clientToken": token,
        "executionRoleArn": ROLE,
        "name": f"sales_warehouse {run_date} #{token[-8:]}",
        "jobDriver": {
            "sparkSubmit": {
                "entryPoint": "s3://acme-etl/artifacts/0.1.0/main.py",
                "entryPointArguments": ["--job", "sales_warehouse", "--env", env, "--run-date", run_date],
                "sparkSubmitParameters": SPARK_SUBMIT_PARAMETERS,
            }
        },
        "configurationOverrides": {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://acme-lake/etl/emr-serverless-logs/"}}
        },
        "executionTimeoutMinutes": 720,
        "tags": {"etl:job": "sales_warehouse", "etl:env": env, "etl:run-date": run_date},
    }


# --- the request ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["emr", "emr8"])
def test_the_request_of_one_day(conf: Path, env: str) -> None:
    environment = ConfigDir(conf, {"ETL_BUCKET": "acme-lake"}).env(env)
    request = start_job_run_request(environment, APP, "sales_warehouse", DateWindow.day(date(1992, 1, 2)), ARTIFACTS)
    assert request == expected_request(env)
    assert validation_errors(request, start_job_run_shape()) == ""
    token = request["clientToken"]
    assert re.fullmatch(r"[A-Za-z0-9._-]+", token) and len(token) <= 64  # botocore's pattern and length of clientToken


def test_a_backfill_and_the_settings(conf: Path) -> None:
    (conf / "env" / "nightly.yaml").write_text(
        "extends: emr\n"
        "emr:\n"
        "  serverless:\n"
        "    log_uri: s3://acme-logs/serverless/\n"
        "    execution_timeout_minutes: 90\n"
        "    venv_archive: false\n"
        "    jars: [/usr/share/aws/delta/lib/delta-spark.jar, /usr/share/aws/delta/lib/delta-storage.jar]\n"
        "    spark_conf:\n"
        "      spark.executor.memory: 8g\n"
    )
    environment = ConfigDir(conf, {"ETL_BUCKET": "acme-lake"}).env("nightly")
    request = start_job_run_request(environment, APP, "sales_warehouse", DateWindow(date(1992, 1, 1), date(1992, 1, 31)), ARTIFACTS)
    assert request["name"] == f"sales_warehouse 1992-01-01..1992-01-31 #{request['clientToken'][-8:]}"
    assert request["jobDriver"]["sparkSubmit"] == {
        "entryPoint": "s3://acme-etl/artifacts/0.1.0/main.py",
        "entryPointArguments": ["--job", "sales_warehouse", "--env", "nightly", "--from", "1992-01-01", "--to", "1992-01-31"],
        "sparkSubmitParameters": f"--py-files s3://acme-etl/artifacts/0.1.0/{release_zip()} --jars s3://acme-etl/artifacts/0.1.0/etl-catalog.jar,"
        "/usr/share/aws/delta/lib/delta-spark.jar,/usr/share/aws/delta/lib/delta-storage.jar --conf spark.executor.memory=8g",
    }
    assert (
        request["configurationOverrides"]["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"] == "s3://acme-logs/serverless/"
    )
    assert request["executionTimeoutMinutes"] == 90
    assert request["tags"]["etl:run-date"] == "1992-01-01..1992-01-31"
    assert validation_errors(request, start_job_run_shape()) == ""


def test_the_token_is_one_per_job_env_days_release_and_attempt() -> None:
    day = DateWindow.day(date(1992, 1, 2))
    token = client_token("sales_warehouse", "emr", day, ARTIFACTS)
    assert token == client_token("sales_warehouse", "emr", day, "s3://acme-etl/artifacts/0.1.0")  # one spelling of the prefix
    others = {
        client_token("clickstream_sessions", "emr", day, ARTIFACTS),
        client_token("sales_warehouse", "emr8", day, ARTIFACTS),
        client_token("sales_warehouse", "emr", DateWindow.day(date(1992, 1, 3)), ARTIFACTS),
        client_token("sales_warehouse", "emr", DateWindow(date(1992, 1, 2), date(1992, 1, 3)), ARTIFACTS),
        client_token("sales_warehouse", "emr", day, "s3://acme-etl/artifacts/0.2.0/"),
        client_token("sales_warehouse", "emr", day, ARTIFACTS, attempt=2),
    }
    assert len(others) == 6 and token not in others


def submit(conf: Path, *args: str) -> int:
    return main(["--conf-dir", str(conf), "submit", "sales_warehouse", "--artifacts", ARTIFACTS, *args])


def test_no_execution_role_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "submit", "sales_warehouse", "--run-date", "1992-01-02", "--serverless", APP, "--artifacts", ARTIFACTS]) == 1  # fmt: skip
    assert capsys.readouterr().err.strip() == (
        "etl: error: conf/env/emr.yaml: emr.serverless.execution_role_arn: needed to start a job run on EMR Serverless "
        "(arn:aws:iam::ACCOUNT:role/NAME, the role the run acts with)"
    )


def test_no_application_is_one_line(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert submit(conf, "--run-date", "1992-01-02", "--serverless") == 1
    assert capsys.readouterr().err.strip() == (
        "etl: error: no EMR Serverless application: pass --serverless APPLICATION_ID or set emr.serverless.application_id in conf/env/emr.yaml"
    )


def test_no_log_uri_where_the_lake_is_not_on_s3(conf: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_LAKE_ROOT", "hdfs:///lake")
    assert submit(conf, "--run-date", "1992-01-02", "--serverless", APP) == 1
    assert capsys.readouterr().err.strip() == (
        "etl: error: conf/env/emr.yaml: emr.serverless.log_uri: needed where the lake is not on S3 (hdfs:///lake)"
    )


def test_a_bad_role_in_the_env_is_one_line(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (conf / "env" / "bad.yaml").write_text("extends: emr\nemr:\n  serverless:\n    execution_role_arn: etl-serverless-job\n")
    assert submit(conf, "--run-date", "1992-01-02", "--serverless", APP, "--env", "bad") == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("etl: error: ") and "emr.serverless.execution_role_arn" in err and "\n" not in err


# --- against moto's EMR Serverless ----------------------------------------------------------------------


@pytest.fixture
def serverless() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("emr-serverless", region_name=REGION)


def create_application(client: Any) -> str:
    return str(client.create_application(name="etl", releaseLabel="emr-7.13.0", type="SPARK", clientToken="create-etl")["applicationId"])


def test_a_retried_submit_follows_the_run_it_started(conf: Path, serverless: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """Two submits of one day: one run (the second finds the first by its name, which ends with the token's
    end; moto 5.2.5 does not keep one run per clientToken as EMR Serverless does, so this is the project's own
    check); another day, or --attempt 2, another run."""
    application = create_application(serverless)
    assert submit(conf, "--run-date", "1992-01-02", "--serverless", application) == 0
    first = capsys.readouterr().out.strip()
    assert submit(conf, "--run-date", "1992-01-02", "--serverless", application) == 0
    out, err = capsys.readouterr()
    name = expected_request("emr")["name"]
    assert (out.strip(), err) == (first, f"job run {first}: SUCCESS, started by an earlier submit of {name}: not starting another\n")
    assert submit(conf, "--run-date", "1992-01-03", "--serverless", application) == 0
    assert submit(conf, "--run-date", "1992-01-02", "--serverless", application, "--attempt", "2") == 0
    other_day, second_attempt = capsys.readouterr().out.split()
    listed = serverless.list_job_runs(applicationId=application)["jobRuns"]
    assert sorted(run["id"] for run in listed) == sorted([first, other_day, second_attempt])
    runs = {run.id: run for run in emrserverless_backends[DEFAULT_ACCOUNT_ID][REGION].job_runs[application]}
    assert runs[first].client_token == expected_request("emr")["clientToken"]
    assert runs[other_day].client_token == expected_request("emr", "1992-01-03")["clientToken"]
    assert runs[second_attempt].client_token not in (runs[first].client_token, runs[other_day].client_token)
    started = serverless.get_job_run(applicationId=application, jobRunId=first)["jobRun"]
    assert started["name"] == name
    assert started["jobDriver"] == {"sparkSubmit": expected_request("emr")["jobDriver"]["sparkSubmit"]}
    assert started["executionRole"] == ROLE
    assert started["tags"] == {"etl:job": "sales_warehouse", "etl:env": "emr", "etl:run-date": "1992-01-02"}


def test_wait_reports_success(conf: Path, serverless: Any, capsys: pytest.CaptureFixture[str]) -> None:
    application = create_application(serverless)
    assert submit(conf, "--run-date", "1992-01-02", "--serverless", application, "--wait", "--poll-seconds", "0") == 0
    out, err = capsys.readouterr()
    job_run_id = out.strip()
    assert err.splitlines() == [f"job run {job_run_id}: SUCCESS"]


def test_the_application_from_the_env(conf: Path, serverless: Any, capsys: pytest.CaptureFixture[str]) -> None:
    application = create_application(serverless)
    (conf / "env" / "nightly.yaml").write_text(f"extends: emr\nemr:\n  serverless:\n    application_id: {application}\n")
    assert submit(conf, "--run-date", "1992-01-02", "--serverless", "--env", "nightly") == 0
    job_run_id = capsys.readouterr().out.strip()
    assert serverless.get_job_run(applicationId=application, jobRunId=job_run_id)["jobRun"]["name"] == expected_request("nightly")["name"]


# --- against botocore's Stubber: runs that end otherwise ------------------------------------------------------


def stubbed(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Stubber]:
    client = boto3.client("emr-serverless", region_name=REGION)
    stubber = Stubber(client)
    monkeypatch.setattr("etl.emr.aws.emr_serverless_client", lambda env, region=None, endpoint=None: client)
    return client, stubber


def job_run(state: str, **more: Any) -> dict[str, Any]:
    return {
        "jobRun": {
            "applicationId": APP,
            "jobRunId": "00fq2run0001",
            "name": "sales_warehouse 1992-01-02",
            "arn": f"arn:aws:emr-serverless:{REGION}:123456789012:/applications/{APP}/jobruns/00fq2run0001",
            "createdBy": "arn:aws:iam::123456789012:user/etl",
            "createdAt": "2026-01-02T01:30:00Z",
            "updatedAt": "2026-01-02T01:31:00Z",
            "executionRole": ROLE,
            "state": state,
            "stateDetails": f"state {state}",  # required, at least one character
            "releaseLabel": "emr-7.13.0",
            "jobDriver": {"sparkSubmit": {"entryPoint": "s3://acme-etl/artifacts/0.1.0/main.py"}},
            "configurationOverrides": {
                "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://acme-lake/etl/emr-serverless-logs/"}}
            },
            **more,
        }
    }


WHERE = {"applicationId": APP, "jobRunId": "00fq2run0001"}


def started(stubber: Stubber, env: str = "emr") -> None:
    stubber.add_response("list_job_runs", {"jobRuns": []}, {"applicationId": APP, "states": list(LIVE_OR_DONE)})
    stubber.add_response(
        "start_job_run",
        {"applicationId": APP, "jobRunId": "00fq2run0001", "arn": job_run("RUNNING")["jobRun"]["arn"]},
        expected_request(env),
    )


def test_a_failed_run_is_one_line_with_its_reason(conf: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _, stubber = stubbed(monkeypatch)
    monkeypatch.setattr("etl.emr.serverless.time.sleep", lambda seconds: None)
    started(stubber)
    stubber.add_response("get_job_run", job_run("SUBMITTED"), WHERE)
    stubber.add_response("get_job_run", job_run("RUNNING"), WHERE)
    stubber.add_response("get_job_run", job_run("RUNNING"), WHERE)
    details = f"Job failed, please check complete logs in configured logging destination. ExitCode: 1.\nLast few exceptions: etl: error: source orders: no input (key {SECRET})"
    stubber.add_response("get_job_run", job_run("FAILED", stateDetails=details), WHERE)
    with stubber:
        assert submit(conf, "--run-date", "1992-01-02", "--serverless", APP, "--wait") == 1
    stubber.assert_no_pending_responses()
    out, err = capsys.readouterr()
    assert out == "00fq2run0001\n"
    assert err.splitlines() == [
        "job run 00fq2run0001: SUBMITTED",
        "job run 00fq2run0001: RUNNING",
        "job run 00fq2run0001: FAILED",
        "etl: error: job run 00fq2run0001 (sales_warehouse 1992-01-02) FAILED: Job failed, please check complete logs in configured "
        "logging destination. ExitCode: 1. Last few exceptions: etl: error: source orders: no input (key ****); "
        f"log: s3://acme-lake/etl/emr-serverless-logs/applications/{APP}/jobs/00fq2run0001/SPARK_DRIVER/stderr.gz",
    ]
    assert SECRET not in out + err


def test_ctrl_c_while_waiting_cancels_the_run(conf: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _, stubber = stubbed(monkeypatch)

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("etl.emr.serverless.time.sleep", interrupted)
    started(stubber)
    stubber.add_response("get_job_run", job_run("RUNNING"), WHERE)
    stubber.add_response("cancel_job_run", {"applicationId": APP, "jobRunId": "00fq2run0001"}, WHERE)
    with stubber:
        assert submit(conf, "--run-date", "1992-01-02", "--serverless", APP, "--wait") == 130
    stubber.assert_no_pending_responses()
    assert capsys.readouterr().err.splitlines() == [
        "job run 00fq2run0001: RUNNING",
        "job run 00fq2run0001: cancelled",
        "etl: error: interrupted",
    ]


def test_a_cancel_that_fails_says_how_to_cancel(conf: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _, stubber = stubbed(monkeypatch)

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("etl.emr.serverless.time.sleep", interrupted)
    started(stubber)
    stubber.add_response("get_job_run", job_run("PENDING"), WHERE)
    stubber.add_client_error("cancel_job_run", "AccessDeniedException", "not authorized to perform: emr-serverless:CancelJobRun", 403)
    with stubber:
        assert submit(conf, "--run-date", "1992-01-02", "--serverless", APP, "--wait") == 130
    assert capsys.readouterr().err.splitlines() == [
        "job run 00fq2run0001: PENDING",
        "job run 00fq2run0001: NOT cancelled (EMR Serverless CancelJobRun: AccessDeniedException: not authorized to perform: "
        "emr-serverless:CancelJobRun); cancel it with: aws emr-serverless cancel-job-run --application-id "
        f"{APP} --job-run-id 00fq2run0001",
        "etl: error: interrupted",
    ]


def test_cluster_and_serverless_together_is_one_line(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert submit(conf, "--run-date", "1992-01-02", "--serverless", APP, "--cluster-id", "j-X") == 1
    assert capsys.readouterr().err.strip() == (
        "etl: error: give --cluster-id (a step on a cluster) or --serverless (a job run on EMR Serverless), not both"
    )


# --- the schedule --------------------------------------------------------------------------------------


def schedule_json(conf: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    command = ["--conf-dir", str(conf), "schedule", "sales_warehouse", "--serverless", APP, "--role-arn", SCHEDULER_ROLE]
    assert main([*command, "--artifacts", ARTIFACTS, *args]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def scheduled_run(env: str, days_before: list[str]) -> dict[str, Any]:
    """The StartJobRun request of a schedule, as EMR Serverless's SDK names its members (what the target takes)."""
    request = expected_request(env)
    request["clientToken"] = "<aws.scheduler.execution-id>"
    request["name"] = f"sales_warehouse (schedule etl-sales_warehouse-{env})"
    request["jobDriver"]["sparkSubmit"]["entryPointArguments"] = [
        *["--job", "sales_warehouse", "--env", env, "--scheduled-time", "<aws.scheduler.scheduled-time>"],
        *["--timezone", "Europe/Berlin", *days_before],
    ]
    request["tags"] = {"etl:job": "sales_warehouse", "etl:env": env, "etl:schedule": f"etl-sales_warehouse-{env}"}
    return request


def scheduler_shape() -> Any:
    return botocore.session.get_session().get_service_model("scheduler").operation_model("CreateSchedule").input_shape


@pytest.mark.parametrize("env", ["emr", "emr8"])
def test_the_schedule(conf: Path, capsys: pytest.CaptureFixture[str], env: str) -> None:
    schedule = schedule_json(conf, capsys, "--cron", "cron(30 2 * * ? *)", "--timezone", "Europe/Berlin", "--env", env)
    run = scheduled_run(env, [])
    assert schedule == {
        "Name": f"etl-sales_warehouse-{env}",
        "Description": f"etl: sales_warehouse (env {env}) on EMR Serverless application {APP}; run date: the scheduled day in Europe/Berlin",
        "ScheduleExpression": "cron(30 2 * * ? *)",
        "ScheduleExpressionTimezone": "Europe/Berlin",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Target": {
            "Arn": "arn:aws:scheduler:::aws-sdk:emrserverless:startJobRun",
            "RoleArn": SCHEDULER_ROLE,
            "Input": json.dumps(sdk_member_names(run), separators=(",", ":")),
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 3},
        },
    }
    assert validation_errors(schedule, scheduler_shape()) == ""
    target_input = json.loads(schedule["Target"]["Input"])
    assert list(target_input) == [
        *["ApplicationId", "ClientToken", "ExecutionRoleArn", "Name", "JobDriver"],
        *["ConfigurationOverrides", "ExecutionTimeoutMinutes", "Tags"],
    ]
    assert list(target_input["JobDriver"]["SparkSubmit"]) == ["EntryPoint", "EntryPointArguments", "SparkSubmitParameters"]
    assert target_input["ConfigurationOverrides"]["MonitoringConfiguration"]["S3MonitoringConfiguration"]["LogUri"] == (
        "s3://acme-lake/etl/emr-serverless-logs/"
    )
    assert target_input["Tags"] == run["tags"]  # map keys as they are


def test_what_the_target_sends_is_a_valid_start_job_run(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """EventBridge Scheduler replaces the context attributes when it fires; the request it then sends is a valid
    StartJobRun (member names back to the API's, the token within clientToken's pattern), and main.py takes its arguments."""
    schedule = schedule_json(conf, capsys, "--cron", "cron(30 0 * * ? *)", "--timezone", "Europe/Berlin", "--days-before", "1")
    fired = schedule["Target"]["Input"].replace("<aws.scheduler.scheduled-time>", "2026-03-28T23:30:00Z")
    fired = fired.replace("<aws.scheduler.execution-id>", "d32c5kddcf5bb8c3")
    request = api_member_names(json.loads(fired), start_job_run_shape())
    assert validation_errors(request, start_job_run_shape()) == ""
    assert re.fullmatch(r"[A-Za-z0-9._-]+", request["clientToken"])
    arguments = request["jobDriver"]["sparkSubmit"]["entryPointArguments"]
    assert arguments == [
        *["--job", "sales_warehouse", "--env", "emr", "--scheduled-time", "2026-03-28T23:30:00Z"],
        *["--timezone", "Europe/Berlin", "--days-before", "1"],
    ]
    # 00:30 in Berlin on 2026-03-29 (23:30 UTC the day before); the day before it: 2026-03-28
    assert main_py_command(arguments) == ["run", "sales_warehouse", "--env", "emr", "--run-date", "2026-03-28"]


def api_member_names(value: Any, shape: Any) -> Any:
    """sdk_member_names undone: ApplicationId -> applicationId (structure members only)."""
    if shape.type_name == "structure":
        names = {name[:1].upper() + name[1:]: name for name in shape.members}
        return {names[key]: api_member_names(item, shape.members[names[key]]) for key, item in value.items()}
    if shape.type_name == "list":
        return [api_member_names(item, shape.member) for item in value]
    if shape.type_name == "map":
        return {key: api_member_names(item, shape.value) for key, item in value.items()}
    return value


def test_moto_takes_the_schedule(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schedule = schedule_json(conf, capsys, "--cron", "cron(30 2 * * ? *)", "--timezone", "Europe/Berlin")
    with mock_aws():
        scheduler = boto3.client("scheduler", region_name=REGION)
        scheduler.create_schedule(**schedule)
        stored = scheduler.get_schedule(Name=schedule["Name"])
    assert stored["Target"] == schedule["Target"]
    assert (stored["ScheduleExpression"], stored["ScheduleExpressionTimezone"], stored["State"]) == (
        "cron(30 2 * * ? *)",
        "Europe/Berlin",
        "ENABLED",
    )


def test_a_pipeline_cannot_be_scheduled_as_one_run(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    command = ["--conf-dir", str(conf), "schedule", "nightly", "--serverless", APP, "--role-arn", SCHEDULER_ROLE, "--cron", "rate(1 day)"]
    assert main(command) == 1
    assert capsys.readouterr().err.strip() == (
        "etl: error: nightly is a pipeline: an EMR Serverless job run runs one job; schedule each of its jobs "
        "(etl pipeline show gives their order), or run the night on a transient cluster (etl cluster plan)"
    )


@pytest.mark.parametrize(
    "args, error",
    [
        (
            ["--cron", "30 2 * * *"],
            "--cron '30 2 * * *': a schedule expression such as cron(30 2 * * ? *), rate(1 day) or at(2026-01-02T02:30:00)",
        ),
        (
            ["--cron", "rate(1 day)", "--timezone", "Europe/Berlinn"],
            "--timezone 'Europe/Berlinn': not a time zone (an IANA name such as Europe/Berlin, or UTC)",
        ),
        (["--cron", "rate(1 day)", "--days-before", "-1"], "--days-before must be 0 or more, got -1"),
    ],
)
def test_schedule_arguments_are_checked(conf: Path, capsys: pytest.CaptureFixture[str], args: list[str], error: str) -> None:
    command = ["--conf-dir", str(conf), "schedule", "sales_warehouse", "--serverless", APP, "--role-arn", SCHEDULER_ROLE]
    assert main([*command, "--artifacts", ARTIFACTS, *args]) == 1
    assert capsys.readouterr().err.strip() == f"etl: error: {error}"


# --- main.py: the run date of a scheduled run ------------------------------------------------------------------


def main_py_command(arguments: list[str]) -> list[str]:
    """The etl command main.py runs for these arguments (the command itself not run)."""
    seen: list[list[str]] = []
    import etl.cli

    original = etl.cli.main
    etl.cli.main = lambda argv=None: seen.append(list(argv or [])) or 0  # type: ignore[assignment,func-returns-value]
    try:
        assert entry.main([*arguments, "--conf-dir", str(REPO_CONF)]) == 0
    finally:
        etl.cli.main = original
    [command] = seen
    assert command[:2] == ["--conf-dir", str(REPO_CONF)]
    return command[2:]


@pytest.mark.parametrize(
    "scheduled, timezone, days_before, day",
    [
        ("2026-01-02T01:30:00Z", "Europe/Berlin", 0, "2026-01-02"),  # 02:30 in Berlin (winter: UTC+1)
        ("2026-07-02T00:30:00Z", "Europe/Berlin", 0, "2026-07-02"),  # 02:30 in Berlin (summer: UTC+2)
        ("2026-01-01T23:30:00Z", "Europe/Berlin", 0, "2026-01-02"),  # 00:30 in Berlin is the evening before in UTC
        ("2026-01-01T23:30:00Z", "UTC", 0, "2026-01-01"),
        ("2026-01-01T23:30:00Z", "Europe/Berlin", 1, "2026-01-01"),
        ("2026-03-01T05:00:00Z", "America/New_York", 1, "2026-02-28"),
    ],
)
def test_the_run_date_of_a_scheduled_time(scheduled: str, timezone: str, days_before: int, day: str) -> None:
    assert entry.scheduled_day(scheduled, timezone, days_before) == date.fromisoformat(day)
    arguments = ["--job", "sales_warehouse", "--env", "emr", "--scheduled-time", scheduled, "--timezone", timezone]
    assert main_py_command([*arguments, "--days-before", str(days_before)]) == ["run", "sales_warehouse", "--env", "emr", "--run-date", day]


@pytest.mark.parametrize(
    "arguments, error",
    [
        (
            ["--scheduled-time", "<aws.scheduler.scheduled-time>"],
            "--scheduled-time '<aws.scheduler.scheduled-time>' is not an ISO 8601 time such as 2026-01-02T01:30:00Z",
        ),
        (
            ["--scheduled-time", "2026-01-02T01:30:00"],
            "--scheduled-time '2026-01-02T01:30:00' has no UTC offset (EventBridge Scheduler writes ...Z)",
        ),
        (
            ["--scheduled-time", "2026-01-02T01:30:00Z", "--timezone", "Mars/Olympus"],
            "--timezone 'Mars/Olympus': no such time zone here (an IANA name such as Europe/Berlin; pip install tzdata)",
        ),
        (
            ["--scheduled-time", "2026-01-02T01:30:00Z", "--run-date", "2026-01-02"],
            "argument --run-date: not allowed with argument --scheduled-time",
        ),
    ],
)
def test_main_py_refuses_a_bad_scheduled_time(arguments: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        entry.main(["--job", "sales_warehouse", *arguments])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"etl: error: {error}"


# --- etl package --venv-pack ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "pyspark_venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    return venv


def test_package_packs_the_venv(tiny_venv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dist = tmp_path / "dist"
    assert (
        main(
            [
                "--conf-dir",
                str(REPO_CONF),
                "package",
                "--source",
                str(REPO),
                "--allow-dirty",
                "--out",
                str(dist),
                "--venv-pack",
                str(tiny_venv),
            ]
        )
        == 0
    )
    archive = dist / "pyspark_venv.tar.gz"
    version = ".".join(map(str, sys.version_info[:3]))
    assert capsys.readouterr().out.splitlines()[-1].startswith(f"{archive}  (Python {version} (")
    with tarfile.open(archive) as packed:
        names = set(packed.getnames())
        python = packed.getmember("bin/python")
    assert {"bin/python", "bin/activate", "pyvenv.cfg"} <= names
    assert python.issym()  # venv-pack does not copy Python: the cluster must have the interpreter the venv links to
    # a second build replaces the first, the archive included (it is a build's own file)
    assert main(["--conf-dir", str(REPO_CONF), "package", "--source", str(REPO), "--allow-dirty", "--out", str(dist)]) == 0
    assert not archive.exists()


def test_pack_venv_refuses_a_folder_that_is_no_venv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "package", "--out", str(tmp_path / "dist"), "--venv-pack", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == f"etl: error: --venv-pack {tmp_path}: not a virtual environment (no pyvenv.cfg)"
    assert not (tmp_path / "dist").exists()  # checked before the build


def test_pack_venv_alone(tiny_venv: Path, tmp_path: Path) -> None:
    archive, python = pack_venv(tiny_venv, tmp_path)
    assert archive == tmp_path / "pyspark_venv.tar.gz"
    assert python.startswith(".".join(map(str, sys.version_info[:3])))


def test_main_py_from_the_zip_takes_a_scheduled_time(tmp_path: Path) -> None:
    """As a job run of the schedule starts it: main.py and the zip alone (the time zone from the host's database)."""
    from etl.emr.package import build
    from tests.unit.test_package import isolated_python

    built = build(REPO, tmp_path / "dist", allow_dirty=True)
    node = tmp_path / "node"
    node.mkdir()
    (node / "main.py").write_bytes(built.main.read_bytes())
    zip_path = node / built.zip.name
    zip_path.write_bytes(built.zip.read_bytes())
    arguments = ["--env", "emr", "--scheduled-time", "2026-01-01T23:30:00Z", "--timezone", "Europe/Berlin", "--days-before", "1"]
    done = isolated_python(["main.py", "--job", "nightly", *arguments], zip_path, node, ETL_BUCKET="lake-bucket")
    # the arguments parsed, the day derived: the run got as far as the job's config (a config error comes before Spark)
    assert (done.returncode, done.stderr.strip()) == (
        1,
        "etl: error: conf/jobs/nightly.yaml: not found (known: clickstream_sessions, daily_kpis, iot_telemetry, sales_warehouse)",
    )
    done = isolated_python(
        ["main.py", "--job", "nightly", "--scheduled-time", "2026-01-01T23:30:00Z", "--timezone", "Nowhere/Place"], zip_path, node
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "etl: error: --timezone 'Nowhere/Place': no such time zone here (an IANA name such as Europe/Berlin; pip install tzdata)"
    )


def test_a_time_the_clocks_skip_is_noted(conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """EventBridge Scheduler skips an invocation whose local time does not exist (the spring's daylight saving hour)."""
    assert skipped_nights("cron(30 2 * * ? *)", "Europe/Berlin", date(2026, 1, 1)) == [date(2026, 3, 29)]
    assert skipped_nights("cron(0 2 * * ? *)", "America/New_York", date(2026, 1, 1)) == [date(2026, 3, 8)]
    assert skipped_nights("cron(30 3 * * ? *)", "Europe/Berlin", date(2026, 1, 1)) == []
    assert skipped_nights("cron(30 2 * * ? *)", "UTC", date(2026, 1, 1)) == []
    assert skipped_nights("rate(1 day)", "Europe/Berlin", date(2026, 1, 1)) == []

    command = ["--conf-dir", str(conf), "schedule", "sales_warehouse", "--serverless", APP, "--role-arn", SCHEDULER_ROLE]
    assert main([*command, "--artifacts", ARTIFACTS, "--cron", "cron(30 2 * * ? *)", "--timezone", "Europe/Berlin"]) == 0
    [note] = capsys.readouterr().err.splitlines()
    assert re.fullmatch(
        r"note: the time of cron\(30 2 \* \* \? \*\) does not exist in Europe/Berlin on \d{4}-03-\d\d \(daylight saving time\): "
        r"EventBridge Scheduler skips a run due then; a time outside the hour the clocks skip runs every night",
        note,
    )
    assert main([*command, "--artifacts", ARTIFACTS, "--cron", "cron(30 3 * * ? *)", "--timezone", "Europe/Berlin"]) == 0
    assert capsys.readouterr().err == ""
