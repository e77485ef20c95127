"""etl submit and etl deploy, the commands that talk to AWS: against moto's EMR and S3 APIs, and botocore's
Stubber (real request and response validation) where moto cannot go, such as a step that FAILED."""

from __future__ import annotations

import hashlib
import shutil
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.emr.models import emr_backends
from moto.server import ThreadedMotoServer

from etl.cli import main
from etl.context import DateWindow
from etl.dev.ports import free_port
from etl.emr.package import build
from etl.emr.steps import emr_step, spark_submit_args
from etl.emr.submit import StepFailed, wait_for_step
from tests.release import release_zip

REPO = Path(__file__).resolve().parents[2]
REPO_CONF = REPO / "conf"
REGION = "us-east-1"
ARTIFACTS = "s3://acme-etl/artifacts/0.1.0/"
SECRET = "wJalrXUtnFEMI-not-a-real-secret"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, no profile or endpoint of the machine's own."""
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ENDPOINT_URL_EMR",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


@pytest.fixture
def emr() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("emr", region_name=REGION)


def start_cluster(emr: Any) -> str:
    return str(
        emr.run_job_flow(
            Name="etl-test",
            ReleaseLabel="emr-7.13.0",
            Applications=[{"Name": "Spark"}],
            Instances={"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True},
            JobFlowRole="EMR_EC2_DefaultRole",
            ServiceRole="EMR_DefaultRole",
        )["JobFlowId"]
    )


def submit(*args: str) -> int:
    return main(["--conf-dir", str(REPO_CONF), "submit", "sales_warehouse", "--artifacts", ARTIFACTS, "--region", REGION, *args])


def test_submit_adds_exactly_the_step(emr: Any, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = start_cluster(emr)
    assert submit("--backfill", "--from", "1992-01-01", "--to", "1992-01-31", "--cluster-id", cluster) == 0
    out, err = capsys.readouterr()
    step_id = out.strip()
    assert step_id.startswith("s-") and err == ""

    step = emr.describe_step(ClusterId=cluster, StepId=step_id)["Step"]
    window = DateWindow(date(1992, 1, 1), date(1992, 1, 31))
    assert step["Config"]["Args"] == spark_submit_args("sales_warehouse", "emr", window, ARTIFACTS)
    assert step["Config"]["Jar"] == "command-runner.jar"
    assert (step["Name"], step["ActionOnFailure"]) == ("etl backfill sales_warehouse 1992-01-01..1992-01-31 --env emr", "CONTINUE")
    assert [s["Id"] for s in emr.list_steps(ClusterId=cluster)["Steps"]] == [step_id]


def test_wait_reports_each_state_until_completed(emr: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """moto leaves a step RUNNING (or PENDING) for ever; the test moves it on between two polls, as EMR would."""
    cluster = start_cluster(emr)
    steps = emr_backends[DEFAULT_ACCOUNT_ID][REGION].clusters[cluster].steps
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        steps[-1].state = "COMPLETED" if len(pauses) > 1 else "RUNNING"

    monkeypatch.setattr("etl.emr.submit.time.sleep", sleep)
    assert submit("--run-date", "1992-01-02", "--cluster-id", cluster, "--wait", "--poll-seconds", "0.01") == 0
    out, err = capsys.readouterr()
    step_id = out.strip()
    assert err.splitlines() == [f"step {step_id}: RUNNING", f"step {step_id}: COMPLETED"]
    assert pauses == [0.01, 0.01]


def test_cluster_region_and_artifacts_from_the_env(emr: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cluster = start_cluster(emr)
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    with (conf / "env" / "emr.yaml").open("a") as overlay:
        overlay.write(f"\nemr:\n  cluster_id: {cluster}\n  region: {REGION}\n  artifacts: {ARTIFACTS}\n")
    assert main(["--conf-dir", str(conf), "submit", "sales_warehouse", "--run-date", "1992-01-02"]) == 0
    step_id = capsys.readouterr().out.strip()
    args = emr.describe_step(ClusterId=cluster, StepId=step_id)["Step"]["Config"]["Args"]
    assert args == spark_submit_args("sales_warehouse", "emr", DateWindow.day(date(1992, 1, 2)), ARTIFACTS)


def test_no_cluster_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert submit("--run-date", "1992-01-02") == 1
    assert capsys.readouterr().err.strip() == (
        "etl: error: no cluster to submit to: pass --cluster-id j-... or set emr.cluster_id in conf/env/emr.yaml"
    )


def stubbed_emr(monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Stubber]:
    client = boto3.client("emr", region_name=REGION)
    stubber = Stubber(client)
    monkeypatch.setattr("etl.emr.aws.emr_client", lambda env, region=None, endpoint=None: client)
    monkeypatch.setattr("etl.emr.submit.time.sleep", lambda seconds: None)
    return client, stubber


def described(state: str, **status: Any) -> dict[str, Any]:
    return {
        "Step": {
            "Id": "s-2B5WSQ7Q1Y3ZZ",
            "Name": "etl run sales_warehouse 1992-01-02 --env emr",
            "ActionOnFailure": "CONTINUE",
            "Config": {"Jar": "command-runner.jar", "Args": ["spark-submit"]},
            "Status": {"State": state, **status},
        }
    }


def test_a_failed_step_is_one_line_with_emrs_reason(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _, stubber = stubbed_emr(monkeypatch)
    step = emr_step("sales_warehouse", "emr", DateWindow.day(date(1992, 1, 2)), ARTIFACTS)
    stubber.add_response("add_job_flow_steps", {"StepIds": ["s-2B5WSQ7Q1Y3ZZ"]}, {"JobFlowId": "j-TEST", "Steps": [step]})
    where = {"ClusterId": "j-TEST", "StepId": "s-2B5WSQ7Q1Y3ZZ"}
    stubber.add_response("describe_step", described("PENDING"), where)
    stubber.add_response("describe_step", described("RUNNING"), where)
    failure = {
        "Reason": "Unknown Error.",
        "Message": f"etl: error: source orders: no input for 1 of the 1 day(s)\nof 1992-01-02 (key {SECRET})",
        "LogFile": "s3://acme-logs/j-TEST/steps/s-2B5WSQ7Q1Y3ZZ/stderr.gz",
    }
    stubber.add_response("describe_step", described("FAILED", FailureDetails=failure), where)
    with stubber:
        assert submit("--run-date", "1992-01-02", "--cluster-id", "j-TEST", "--wait") == 1
    stubber.assert_no_pending_responses()
    out, err = capsys.readouterr()
    assert out == "s-2B5WSQ7Q1Y3ZZ\n"
    assert err.splitlines() == [
        "step s-2B5WSQ7Q1Y3ZZ: PENDING",
        "step s-2B5WSQ7Q1Y3ZZ: RUNNING",
        "step s-2B5WSQ7Q1Y3ZZ: FAILED",
        "etl: error: step s-2B5WSQ7Q1Y3ZZ (etl run sales_warehouse 1992-01-02 --env emr) FAILED: Unknown Error.: etl: error: source orders: "
        "no input for 1 of the 1 day(s) of 1992-01-02 (key ****); log: s3://acme-logs/j-TEST/steps/s-2B5WSQ7Q1Y3ZZ/stderr.gz",
    ]
    assert SECRET not in out + err


def test_cancelled_and_interrupted_say_why(monkeypatch: pytest.MonkeyPatch) -> None:
    client, stubber = stubbed_emr(monkeypatch)
    where = {"ClusterId": "j-TEST", "StepId": "s-2B5WSQ7Q1Y3ZZ"}
    stubber.add_response("describe_step", described("CANCELLED", StateChangeReason={"Message": "Cancelled by the user"}), where)
    stubber.add_response("describe_step", described("INTERRUPTED"), where)
    with stubber:
        for expected in ("CANCELLED: Cancelled by the user", "INTERRUPTED: EMR gave no reason"):
            with pytest.raises(StepFailed) as failed:
                wait_for_step(client, "j-TEST", "s-2B5WSQ7Q1Y3ZZ", poll_seconds=0, say=lambda line: None)
            assert str(failed.value) == f"step s-2B5WSQ7Q1Y3ZZ (etl run sales_warehouse 1992-01-02 --env emr) {expected}"


def test_aws_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _, stubber = stubbed_emr(monkeypatch)
    stubber.add_client_error("add_job_flow_steps", "ValidationException", "Cluster id 'j-NOPE' is not valid.", 400)
    with stubber:
        assert submit("--run-date", "1992-01-02", "--cluster-id", "j-NOPE") == 1
    assert capsys.readouterr().err.strip() == "etl: error: EMR AddJobFlowSteps: ValidationException: Cluster id 'j-NOPE' is not valid."


def test_no_region_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "--conf-dir",
                str(REPO_CONF),
                "submit",
                "sales_warehouse",
                "--run-date",
                "1992-01-02",
                "--artifacts",
                ARTIFACTS,
                "--cluster-id",
                "j-X",
            ]
        )
        == 1
    )
    assert capsys.readouterr().err.strip() == "etl: error: EMR: no AWS region: set emr.region in the env, pass --region, or set AWS_REGION"


# --- deploy ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(REPO, tmp_path_factory.mktemp("build") / "dist", allow_dirty=True).out


@pytest.fixture
def s3_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
    ).close()  # moto's state is per process
    try:
        yield endpoint
    finally:
        server.stop()


def bucket_contents(endpoint: str, bucket: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def expected_contents(dist: Path, prefix: str) -> dict[str, bytes]:
    return {prefix + path.relative_to(dist).as_posix(): path.read_bytes() for path in dist.rglob("*") if path.is_file()}


def test_deploy_uploads_every_file_of_dist(s3_server: str, dist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    boto3.client("s3", region_name=REGION, endpoint_url=s3_server).create_bucket(Bucket="acme-etl")
    args = ["deploy", "--dist", str(dist), "--artifacts", "s3://acme-etl/artifacts/0.1.0", "--endpoint-url", s3_server]
    assert main(["--conf-dir", str(REPO_CONF), *args]) == 0
    expected = expected_contents(dist, "artifacts/0.1.0/")
    assert bucket_contents(s3_server, "acme-etl") == expected
    assert {
        f"artifacts/0.1.0/{release_zip()}",
        "artifacts/0.1.0/main.py",
        "artifacts/0.1.0/requirements.txt",
        "artifacts/0.1.0/conf/base.yaml",
    } <= set(expected)
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"uploaded s3://acme-etl/{key} ({len(body)} bytes)" for key, body in sorted(expected.items())]
    zip_key = f"artifacts/0.1.0/{release_zip()}"
    assert (
        hashlib.sha256(bucket_contents(s3_server, "acme-etl")[zip_key]).digest()
        == hashlib.sha256((dist / release_zip()).read_bytes()).digest()
    )


def test_deploy_finds_the_endpoint_in_the_environment_or_the_env(
    s3_server: str, dist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("s3", region_name=REGION, endpoint_url=s3_server).create_bucket(Bucket="acme-etl")
    # AWS_ENDPOINT_URL, as every AWS tool reads it
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server)
    assert main(["--conf-dir", str(REPO_CONF), "deploy", "--dist", str(dist), "--artifacts", "s3://acme-etl/by-variable/"]) == 0
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    # an env's s3 section (a local S3 server) and its emr.artifacts
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    (conf / "env" / "shipping.yaml").write_text(
        f"s3:\n  endpoint: {s3_server}\n  region: {REGION}\n  path_style_access: true\nemr:\n  artifacts: s3://acme-etl/by-env/\n"
    )
    assert main(["--conf-dir", str(conf), "deploy", "--dist", str(dist), "--env", "shipping"]) == 0
    assert bucket_contents(s3_server, "acme-etl") == {**expected_contents(dist, "by-variable/"), **expected_contents(dist, "by-env/")}


def test_deploy_needs_a_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "deploy", "--dist", str(tmp_path), "--artifacts", ARTIFACTS]) == 1
    assert (
        capsys.readouterr().err.strip() == f"etl: error: {tmp_path}: no etl-<release>.zip here; run `etl package` (or make package) first"
    )


def test_deploy_refuses_to_overwrite_another_release_and_redeploys_the_same_one_as_a_no_op(
    s3_server: str, dist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    boto3.client("s3", region_name=REGION, endpoint_url=s3_server).create_bucket(Bucket="acme-etl")
    deploy = ["--conf-dir", str(REPO_CONF), "deploy", "--artifacts", "s3://acme-etl/artifacts/0.1.0/", "--endpoint-url", s3_server]
    assert main([*deploy, "--dist", str(dist)]) == 0
    capsys.readouterr()
    assert main([*deploy, "--dist", str(dist)]) == 0  # the same build again
    assert capsys.readouterr().out == "s3://acme-etl/artifacts/0.1.0/ already holds this build: nothing to upload\n"

    other = tmp_path / "dist"
    shutil.copytree(dist, other)
    (other / "main.py").write_text((dist / "main.py").read_text() + "# changed\n")
    assert main([*deploy, "--dist", str(other)]) == 1
    assert capsys.readouterr().err == (
        "etl: error: s3://acme-etl/artifacts/0.1.0/ holds another release (1 file(s) differ, first "
        "s3://acme-etl/artifacts/0.1.0/main.py): deploy this one under a new prefix (a new version), or pass --replace\n"
    )
    assert bucket_contents(s3_server, "acme-etl") == expected_contents(dist, "artifacts/0.1.0/")  # nothing written
    assert main([*deploy, "--dist", str(other), "--replace"]) == 0
    assert bucket_contents(s3_server, "acme-etl") == expected_contents(other, "artifacts/0.1.0/")
