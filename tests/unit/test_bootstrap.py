"""bootstrap/: the cluster's Configurations JSON against botocore's model of RunJobFlow, and the bootstrap
script run twice in a sandbox where aws, sudo, dnf and python3.11 are stubs that only log their calls."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from botocore.validate import ParamValidator

from etl.config.models import ZONE_NAMES

REPO = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO / "bootstrap"
SCRIPT = BOOTSTRAP / "install-python-deps.sh"
CONFIGURATIONS = sorted((BOOTSTRAP / "configurations").glob("*.json"))
REQUIREMENTS_URI = "s3://acme-etl/artifacts/0.1.0/requirements.txt"


def configurations_errors(configurations: Any) -> str:
    shape = botocore.session.get_session().get_service_model("emr").operation_model("RunJobFlow").input_shape.members["Configurations"]
    return str(ParamValidator().validate(configurations, shape).generate_report())


def load(name: str) -> Any:
    return json.loads((BOOTSTRAP / "configurations" / name).read_text())


def properties(configurations: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {item["Classification"]: item["Properties"] for item in configurations}


def test_the_configurations_are_there() -> None:
    assert [path.name for path in CONFIGURATIONS] == [
        "delta.json",
        "external-hive-metastore.json",
        "glue-data-catalog.json",
        "iceberg-glue.json",
        "iceberg.json",
        "python311.json",
        "python312.json",
    ]


@pytest.mark.parametrize("path", CONFIGURATIONS, ids=lambda path: path.name)
def test_each_configuration_is_valid_for_run_job_flow(path: Path) -> None:
    assert configurations_errors(json.loads(path.read_text())) == ""


def test_a_broken_configuration_is_caught() -> None:
    assert configurations_errors([{"Classification": "delta-defaults", "Properties": {"delta.enabled": True}}]) != ""
    assert configurations_errors([{"Classification": "spark-env", "Exports": {}}]) != ""
    assert configurations_errors({"Classification": "spark-env"}) != ""


def test_what_the_configurations_say() -> None:
    hive = properties(load("external-hive-metastore.json"))
    assert sorted(hive) == ["hive-site", "spark-hive-site"]
    assert hive["hive-site"] == hive["spark-hive-site"]
    assert sorted(hive["hive-site"]) == [
        "javax.jdo.option.ConnectionDriverName",
        "javax.jdo.option.ConnectionPassword",
        "javax.jdo.option.ConnectionURL",
        "javax.jdo.option.ConnectionUserName",
    ]
    assert hive["hive-site"]["javax.jdo.option.ConnectionURL"].startswith("jdbc:mysql://")
    assert "SECRETS-MANAGER" in hive["hive-site"]["javax.jdo.option.ConnectionPassword"]  # a placeholder, never a password

    glue = properties(load("glue-data-catalog.json"))
    assert glue == {
        "spark-hive-site": {
            "hive.metastore.client.factory.class": "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory"
        }
    }
    delta = properties(load("delta.json"))
    assert delta["delta-defaults"] == {"delta.enabled": "true"}
    assert delta["spark-defaults"]["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    iceberg = properties(load("iceberg.json"))
    assert iceberg["iceberg-defaults"] == {"iceberg.enabled": "true"}
    assert iceberg["spark-defaults"]["spark.sql.catalog.spark_catalog"] == "org.apache.iceberg.spark.SparkSessionCatalog"
    assert iceberg["spark-defaults"]["spark.sql.catalog.spark_catalog.type"] == "hive"
    assert properties(load("iceberg-glue.json"))["spark-defaults"]["spark.sql.catalog.spark_catalog.type"] == "glue"
    for version in ("3.11", "3.12"):
        assert load(f"python{version.replace('.', '')}.json") == [
            {
                "Classification": "spark-env",
                "Configurations": [{"Classification": "export", "Properties": {"PYSPARK_PYTHON": f"/usr/bin/python{version}"}}],
                "Properties": {},
            }
        ]


@pytest.mark.parametrize(
    ("env_name", "release", "spark_line", "iceberg"),
    [("emr", "emr-7.13.0", "3.5", "iceberg.json"), ("emr8", "emr-spark-8.0.0", "4.0", "iceberg-glue.json")],
)
def test_each_emr_env_matches_its_configurations(env_name: str, release: str, spark_line: str, iceberg: str) -> None:
    """The spark-defaults of the format files are what etl's own sessions set (for spark-sql and notebooks),
    and the env's Python is the one a python3XX.json points Spark at."""
    from etl.config import ConfigDir
    from etl.formats import session_settings

    env = ConfigDir(BOOTSTRAP.parent / "conf", environ={"ETL_BUCKET": "b"}).env(env_name)
    assert (env.emr.release_label, env.emr.spark_line) == (release, spark_line)
    assert properties(load("delta.json"))["spark-defaults"] == session_settings(env, {"delta"})
    assert properties(load(iceberg))["spark-defaults"] == session_settings(env, {"iceberg"})
    exports = load(f"{env.emr.python.replace('.', '')}.json")[0]["Configurations"][0]["Properties"]
    assert exports == {"PYSPARK_PYTHON": f"/usr/bin/{env.emr.python}"}


def test_script_syntax() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    assert os.access(SCRIPT, os.X_OK)
    assert "set -euo pipefail" in SCRIPT.read_text()
    assert not re.search(r"^\s*set -\w*x", SCRIPT.read_text(), re.MULTILINE)  # no tracing: it would log every command's arguments


# --- the script in a sandbox --------------------------------------------------------------------------

STUB = """#!/usr/bin/env bash
echo "{name} $*" >> "$STUB_LOG"
"""
STUBS = {
    # sudo runs the command as it is (its stubs, in the sandbox)
    "sudo": STUB + 'exec "$@"\n',
    # dnf "installs" the Python it is asked for (install -y -q NAME NAME-pip): the stub below appears on the PATH
    "dnf": STUB + 'cp "$SANDBOX/$4.stub" "$SANDBOX/bin/$4"\n',
    # aws s3 cp SRC DST: the requirements come from a local file instead of S3
    "aws": STUB + 'cp "$SANDBOX/requirements.txt" "${@: -1}"\n',
}
PYTHON_STUB = STUB + (
    'if [[ "$1" == --version ]]; then echo "Python {version}.9"; fi\nif [[ "$*" == *"pip install"* ]]; then cat "${@: -1}" >> "$STUB_LOG"; fi\n'
)
PYTHONS = ("python3.11", "python3.12", "python3.13")


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    for name, text in STUBS.items():
        (tmp_path / "bin" / name).write_text(text.replace("{name}", name))
        (tmp_path / "bin" / name).chmod(0o755)
    for python in PYTHONS:
        (tmp_path / f"{python}.stub").write_text(PYTHON_STUB.replace("{name}", python).replace("{version}", python.removeprefix("python")))
        (tmp_path / f"{python}.stub").chmod(0o755)
    (tmp_path / "requirements.txt").write_text("pydantic>=2.5,<3\npyyaml>=6\n")
    (tmp_path / "system").mkdir()  # only the basic tools the script and stubs use, never a real sudo, dnf, aws or python
    for tool in ("bash", "env", "mktemp", "rm", "cp", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (tmp_path / "system" / tool).symlink_to(found)
    (tmp_path / "tmp").mkdir()
    return tmp_path


def run_script(sandbox: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {
        "PATH": f"{sandbox / 'bin'}:{sandbox / 'system'}",
        "SANDBOX": str(sandbox),
        "STUB_LOG": str(sandbox / "calls.log"),
        "TMPDIR": str(sandbox / "tmp"),
        "HOME": str(sandbox),
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-not-a-real-secret",
    }
    return subprocess.run(["bash", str(SCRIPT), *args], env=environ, capture_output=True, text=True, timeout=60)


def calls(sandbox: Path) -> list[str]:
    log = sandbox / "calls.log"
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return [re.sub(r"/tmp\.\w+/", "/WORKDIR/", line.replace(str(sandbox / "tmp"), "$TMPDIR")) for line in lines]


@pytest.mark.parametrize(("args", "python"), [([], "python3.11"), (["python3.12"], "python3.12")], ids=["default", "emr8"])
def test_script_installs_once_and_is_safe_to_rerun(sandbox: Path, args: list[str], python: str) -> None:
    fetch_and_install = [
        f"aws s3 cp --only-show-errors {REQUIREMENTS_URI} $TMPDIR/WORKDIR/requirements.txt",
        f"sudo {python} -m pip install --quiet --disable-pip-version-check --no-warn-script-location -r $TMPDIR/WORKDIR/requirements.txt",
        f"{python} -m pip install --quiet --disable-pip-version-check --no-warn-script-location -r $TMPDIR/WORKDIR/requirements.txt",
        "pydantic>=2.5,<3",  # what pip was given: the file from S3
        "pyyaml>=6",
    ]
    first = run_script(sandbox, REQUIREMENTS_URI, *args)
    assert first.returncode == 0, first.stderr
    first_calls = calls(sandbox)
    assert first_calls == [
        f"sudo dnf install -y -q {python} {python}-pip",
        f"dnf install -y -q {python} {python}-pip",
        f"{python} -m pip --version",
        *fetch_and_install,
    ]

    second = run_script(sandbox, REQUIREMENTS_URI, *args)
    assert second.returncode == 0, second.stderr
    second_calls = calls(sandbox)
    assert not [call for call in second_calls if "dnf" in call]  # Python is there now: not installed again
    assert second_calls[:2] == [f"{python} --version", f"{python} -m pip --version"]
    assert second_calls[2:] == fetch_and_install  # the same requirements, which pip leaves alone when satisfied
    assert second.stdout.splitlines()[0] == f"install-python-deps: {python} present: Python {python.removeprefix('python')}.9"

    assert list((sandbox / "tmp").iterdir()) == []  # the downloaded file is cleaned up
    for done in (first, second):
        assert "wJalrXUtnFEMI" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["requirements.txt"],
        ["s3://bucket-only"],
        [REQUIREMENTS_URI, "extra"],
        [REQUIREMENTS_URI, "python3.9"],
        [REQUIREMENTS_URI, "python3.12", "x"],
    ],
)
def test_script_wants_one_s3_uri_and_a_known_python(sandbox: Path, args: list[str]) -> None:
    done = run_script(sandbox, *args)
    usage = "usage: install-python-deps.sh s3://bucket/prefix/requirements.txt [python3.11|python3.12|python3.13]"
    assert (done.returncode, done.stderr.strip()) == (2, usage)
    assert calls(sandbox) == []


# --- bootstrap/iam: least privilege, checked against the calls the code makes -------------------------

IAM = BOOTSTRAP / "iam"


def policy(name: str) -> dict[str, Any]:
    document = json.loads((IAM / name).read_text())
    assert document["Version"] == "2012-10-17"
    return document


def api_calls(module: str, service: str) -> set[str]:
    """The operations of `service` that etl/emr/<module> calls on a boto3 client (by the client method names)."""
    operations = botocore.session.get_session().get_service_model(service).operation_names
    by_method = {xform_name(operation): operation for operation in operations}
    tree = ast.parse((REPO / "etl" / "emr" / module).read_text())
    calls = (node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute))
    return {by_method[name] for name in calls if name in by_method}


IAM_ACTION = {"ListObjectsV2": "ListBucket"}  # the API operation -> the IAM action that allows it


@pytest.mark.parametrize(
    ("name", "module", "service", "prefix"),
    [("submit-policy.json", "submit.py", "emr", "elasticmapreduce"), ("deploy-policy.json", "deploy.py", "s3", "s3")],
)
def test_each_command_policy_allows_exactly_the_calls_the_command_makes(name: str, module: str, service: str, prefix: str) -> None:
    statements = policy(name)["Statement"]
    assert all(statement["Effect"] == "Allow" for statement in statements)
    allowed = {action for statement in statements for action in statement["Action"]}
    assert allowed == {f"{prefix}:{IAM_ACTION.get(operation, operation)}" for operation in api_calls(module, service)} != set()
    assert all("*" not in statement["Resource"].split(":")[-1].split("/")[0] for statement in statements)  # one cluster, one bucket


def test_the_cluster_policy_reads_raw_and_writes_every_other_zone_under_the_prefix_only() -> None:
    statements = {statement["Sid"]: statement for statement in policy("cluster-lake-policy.json")["Statement"]}
    read = statements["ReadReleasesAndRawLandingData"]
    assert read["Action"] == ["s3:GetObject"]
    assert read["Resource"] == ["arn:aws:s3:::BUCKET/artifacts/*", "arn:aws:s3:::BUCKET/PREFIX/raw/*"]
    write = statements["WriteTheZonesTheJobsWrite"]
    assert write["Resource"] == [f"arn:aws:s3:::BUCKET/PREFIX/{zone}/*" for zone in ZONE_NAMES if zone != "raw"]
    assert statements["ListTheLakeAndArtifactsPrefixesOnly"]["Condition"] == {"StringLike": {"s3:prefix": ["PREFIX/*", "artifacts/*"]}}
    assert all(statement["Effect"] == "Allow" and "*" not in json.dumps(statement["Action"]) for statement in statements.values())
