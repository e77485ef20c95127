"""The AWS CLI with what etl prints, beyond the README's own commands (those run in tests/unit/test_readme_on_aws.py):
run by the real AWS CLI (awscli from PyPI, in .venv-awscli, which `make setup` builds) against moto's EMR API on
127.0.0.1."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from etl.cli import main
from etl.dev.ports import free_port

REPO = Path(__file__).resolve().parents[2]
AWS = REPO / ".venv-awscli" / "bin" / "aws"
ARTIFACTS = "s3://acme-etl/artifacts/0.1.0/"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "etl-test", "AWS_SECRET_ACCESS_KEY": "etl-test", "AWS_DEFAULT_REGION": "us-east-1"}


def aws(endpoint: str, *args: str) -> subprocess.CompletedProcess[str]:
    assert AWS.is_file(), f"{AWS} is missing: `make setup` installs the AWS CLI there"
    environ = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **CREDENTIALS}  # no profile or config of the machine's own
    return subprocess.run([str(AWS), *args, "--endpoint-url", endpoint], capture_output=True, text=True, env=environ, timeout=120)


def test_the_api_shape_is_not_what_add_steps_takes(emr_endpoint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Why emr-step prints the CLI's shape by default: the API's (--shape api) is rejected by the CLI itself."""
    assert main(["--conf-dir", str(REPO / "conf"), "emr-step", "sales_warehouse", "--run-date", "1992-01-02", "--artifacts", ARTIFACTS, "--shape", "api"]) == 0  # fmt: skip
    steps = tmp_path / "steps.json"
    steps.write_text(capsys.readouterr().out)
    rejected = aws(emr_endpoint, "emr", "add-steps", "--cluster-id", "j-ANY", "--steps", f"file://{steps}")
    assert rejected.returncode != 0
    assert 'Unknown parameter in [0]: "HadoopJarStep", must be one of: Type, Name, ActionOnFailure, Jar, Args' in rejected.stderr


# --- etl cluster plan -----------------------------------------------------------------------------------

NIGHT = ["--conf-dir", str(REPO / "conf"), "cluster", "plan", "nightly", "--run-date", "1992-01-02", "--artifacts", ARTIFACTS]


@pytest.fixture
def lake(monkeypatch: pytest.MonkeyPatch) -> None:
    """What conf/env/emr.yaml reads when it plans, and the AWS CLI's fake credentials for boto3 too."""
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")
    monkeypatch.delenv("ETL_PREFIX", raising=False)
    monkeypatch.delenv("ETL_TABLE_FORMAT", raising=False)
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)


class RecordingEmr:
    """moto's API, keeping the JSON body of each EMR call it answers: what the AWS CLI sent."""

    def __init__(self) -> None:
        self.app = DomainDispatcherApplication(create_backend_app)
        self.calls: list[tuple[str, Any]] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        service, _, operation = environ.get("HTTP_X_AMZ_TARGET", "").partition(".")
        if service == "ElasticMapReduce":
            self.calls.append((operation, json.loads(body)))
        return self.app(environ, start_response)


@pytest.fixture
def recording_emr() -> Iterator[tuple[str, RecordingEmr]]:
    recording = RecordingEmr()
    server = make_server("127.0.0.1", free_port(), recording, threaded=True, request_handler=MotoRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", recording
    finally:
        server.shutdown()
        thread.join()


def test_the_aws_cli_takes_no_run_job_flow_json(
    recording_emr: tuple[str, RecordingEmr], tmp_path: Path, capsys: pytest.CaptureFixture[str], lake: None
) -> None:
    """Why the README does not show `aws emr create-cluster --cli-input-json file://cluster.json`: create-cluster is
    the CLI's own command, without --cli-input-json, and awscli v1 has no run-job-flow."""
    emr_endpoint, recording = recording_emr
    assert main(NIGHT) == 0
    cluster = tmp_path / "cluster.json"
    cluster.write_text(capsys.readouterr().out)
    created = aws(emr_endpoint, "emr", "create-cluster", "--cli-input-json", f"file://{cluster}")
    assert (created.returncode, created.stderr.strip().splitlines()[-1]) == (
        255,
        f"Unknown options: --cli-input-json,file://{cluster}",
    )
    run = aws(emr_endpoint, "emr", "run-job-flow", "--cli-input-json", f"file://{cluster}")
    assert run.returncode == 2 and "aws: error: argument operation: Invalid choice, valid choices are:" in run.stderr
    assert recording.calls == []  # neither called AWS


def test_create_cluster_sends_the_planned_request_of_a_backfill_in_a_subnet(
    recording_emr: tuple[str, RecordingEmr], tmp_path: Path, capsys: pytest.CaptureFixture[str], lake: None
) -> None:
    """etl cluster plan ... --shape cli > create-cluster.sh; sh create-cluster.sh for a job's backfill on EMR 8 in a
    subnet: the AWS CLI's create-cluster sends exactly the RunJobFlow request the plan prints as JSON (the README's
    night: tests/unit/test_readme_on_aws.py)."""
    args = ["sales_warehouse", "--env", "emr8-subnet", "--from", "1992-01-01", "--to", "1992-01-31"]
    name = "etl sales_warehouse 1992-01-01..1992-01-31"
    endpoint, recording = recording_emr
    conf = tmp_path / "conf"
    shutil.copytree(REPO / "conf", conf)
    (conf / "env" / "emr8-subnet.yaml").write_text("extends: emr8\nemr: {cluster: {subnet_id: subnet-0a1b2c3d4e5f67890}}\n")
    plan = ["--conf-dir", str(conf), "cluster", "plan", *args, "--artifacts", ARTIFACTS]
    assert main(plan) == 0
    request = json.loads(capsys.readouterr().out)
    assert main([*plan, "--shape", "cli"]) == 0
    script = tmp_path / "create-cluster.sh"
    script.write_text(capsys.readouterr().out)
    assert script.read_text().startswith(f"aws emr create-cluster \\\n  --name '{name}' \\\n")

    environ = {"PATH": f"{AWS.parent}:/usr/bin:/bin", "HOME": "/nonexistent", "AWS_ENDPOINT_URL": endpoint, **CREDENTIALS}
    created = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=environ, timeout=120, cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    cluster_id = json.loads(created.stdout)["ClusterId"]
    assert recording.calls == [("RunJobFlow", request)]

    emr = boto3.client("emr", endpoint_url=endpoint)
    cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
    assert (cluster["Name"], cluster["ReleaseLabel"], cluster["AutoTerminate"], cluster["Tags"]) == (
        name,
        request["ReleaseLabel"],
        True,
        request["Tags"],
    )
    steps = {step["Name"]: step for step in emr.list_steps(ClusterId=cluster_id)["Steps"]}
    assert {name: (step["ActionOnFailure"], step["Config"]["Args"]) for name, step in steps.items()} == {
        step["Name"]: (step["ActionOnFailure"], step["HadoopJarStep"]["Args"]) for step in request["Steps"]
    }
