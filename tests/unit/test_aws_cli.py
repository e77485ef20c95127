"""The AWS CLI commands the README shows, run by the real AWS CLI (awscli from PyPI, in .venv-awscli,
which `make setup` builds) against moto's EMR API on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from etl.cli import main
from etl.dev.ports import free_port
from tests.unit.test_emr_steps import one_day_args

REPO = Path(__file__).resolve().parents[2]
AWS = REPO / ".venv-awscli" / "bin" / "aws"
ARTIFACTS = "s3://acme-etl/artifacts/0.1.0/"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "etl-test", "AWS_SECRET_ACCESS_KEY": "etl-test", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def emr_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def aws(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert AWS.is_file(), f"{AWS} is missing: `make setup` installs the AWS CLI there"
    environ = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **CREDENTIALS}  # no profile or config of the machine's own
    return subprocess.run([str(AWS), *args, "--endpoint-url", endpoint], capture_output=True, text=True, env=environ, timeout=120)


def test_the_readmes_add_steps_takes_what_emr_step_prints(
    emr_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    emr = boto3.client("emr", endpoint_url=emr_endpoint)
    instances = {"MasterInstanceType": "m5.xlarge", "InstanceCount": 1, "KeepJobFlowAliveWhenNoSteps": True}
    cluster_id = emr.run_job_flow(Name="night", ReleaseLabel="emr-7.13.0", Instances=instances, JobFlowRole="r", ServiceRole="s")[
        "JobFlowId"
    ]

    # the README's: etl emr-step sales_warehouse --run-date D --artifacts s3://BUCKET/artifacts/0.1.0/ > steps.json
    assert (
        main(["--conf-dir", str(REPO / "conf"), "emr-step", "sales_warehouse", "--run-date", "1992-01-02", "--artifacts", ARTIFACTS]) == 0
    )
    steps = tmp_path / "steps.json"
    steps.write_text(capsys.readouterr().out)
    # aws emr add-steps --cluster-id j-XXXXXXXX --steps file://steps.json
    added = aws(emr_endpoint, "emr", "add-steps", "--cluster-id", cluster_id, "--steps", f"file://{steps}")
    assert added.returncode == 0, added.stderr
    [step_id] = json.loads(added.stdout)["StepIds"]

    step = emr.describe_step(ClusterId=cluster_id, StepId=step_id)["Step"]
    assert (step["Name"], step["ActionOnFailure"], step["Config"]["Jar"]) == (
        "etl run sales_warehouse 1992-01-02 --env emr",
        "CONTINUE",
        "command-runner.jar",
    )
    assert step["Config"]["Args"] == one_day_args("emr")


def test_the_api_shape_is_not_what_add_steps_takes(emr_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Why emr-step prints the CLI's shape by default: the API's (--shape api) is rejected by the CLI itself."""
    assert main(["--conf-dir", str(REPO / "conf"), "emr-step", "sales_warehouse", "--run-date", "1992-01-02", "--artifacts", ARTIFACTS, "--shape", "api"]) == 0  # fmt: skip
    steps = tmp_path / "steps.json"
    steps.write_text(capsys.readouterr().out)
    rejected = aws(emr_endpoint, "emr", "add-steps", "--cluster-id", "j-ANY", "--steps", f"file://{steps}")
    assert rejected.returncode != 0
    assert 'Unknown parameter in [0]: "HadoopJarStep", must be one of: Type, Name, ActionOnFailure, Jar, Args' in rejected.stderr
