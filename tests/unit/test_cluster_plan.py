"""etl cluster plan: the RunJobFlow request of a transient cluster, checked against botocore's model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from etl.cli import main
from etl.emr.cluster import create_cluster_command
from etl.errors import ConfigError

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
ARTIFACTS = "s3://acme-etl/artifacts/0.1.0/"


def run_job_flow_errors(request: dict[str, Any]) -> str:
    shape = botocore.session.get_session().get_service_model("emr").operation_model("RunJobFlow").input_shape
    return str(ParamValidator().validate(request, shape).generate_report())


def plan(capsys: pytest.CaptureFixture[str], *args: str, conf: Path = REPO_CONF) -> Any:
    assert main(["--conf-dir", str(conf), "cluster", "plan", *args, "--artifacts", ARTIFACTS]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def failure(capsys: pytest.CaptureFixture[str], *args: str, conf: Path = REPO_CONF) -> str:
    assert main(["--conf-dir", str(conf), "cluster", "plan", *args, "--artifacts", ARTIFACTS]) != 0
    return capsys.readouterr().err.strip().splitlines()[-1]


def test_the_nightly_pipeline_on_a_transient_emr7_cluster(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")
    monkeypatch.delenv("ETL_PREFIX", raising=False)
    monkeypatch.delenv("ETL_TABLE_FORMAT", raising=False)
    request = plan(capsys, "nightly", "--run-date", "1992-01-02")
    assert run_job_flow_errors(request) == ""
    steps = [(step["Name"], step["ActionOnFailure"], step["HadoopJarStep"]["Args"][-4:]) for step in request.pop("Steps")]
    assert steps == [
        # EMR cancels the steps after a failed CANCEL_AND_WAIT one: daily_kpis needs both loads
        ("etl run sales_warehouse 1992-01-02 --env emr", "CANCEL_AND_WAIT", ["--env", "emr", "--run-date", "1992-01-02"]),
        ("etl run clickstream_sessions 1992-01-02 --env emr", "CANCEL_AND_WAIT", ["--env", "emr", "--run-date", "1992-01-02"]),
        ("etl run daily_kpis 1992-01-02 --env emr", "CONTINUE", ["--env", "emr", "--run-date", "1992-01-02"]),
    ]
    assert request == {
        "Name": "etl nightly 1992-01-02",
        "ReleaseLabel": "emr-7.13.0",
        "LogUri": "s3://acme-lake/etl/emr-logs/",
        "Applications": [{"Name": "Spark"}],
        "Instances": {
            "InstanceGroups": [
                {"Name": "primary", "InstanceRole": "MASTER", "InstanceType": "m5.xlarge", "InstanceCount": 1, "Market": "ON_DEMAND"},
                {"Name": "core", "InstanceRole": "CORE", "InstanceType": "m5.xlarge", "InstanceCount": 2, "Market": "ON_DEMAND"},
            ],
            "KeepJobFlowAliveWhenNoSteps": False,
            "TerminationProtected": False,
        },
        "BootstrapActions": [
            {
                "Name": "install-python-deps",
                "ScriptBootstrapAction": {
                    "Path": "s3://acme-etl/artifacts/0.1.0/install-python-deps.sh",
                    "Args": ["s3://acme-etl/artifacts/0.1.0/requirements.txt", "python3.11"],
                },
            }
        ],
        "Configurations": [
            {
                "Classification": "spark-env",
                "Properties": {},
                "Configurations": [
                    {"Classification": "export", "Properties": {"PYSPARK_PYTHON": "/usr/bin/python3.11", "ETL_BUCKET": "acme-lake"}}
                ],
            },
            {
                "Classification": "spark-hive-site",
                "Properties": {
                    "hive.metastore.client.factory.class": "com.amazonaws.glue.catalog.metastore.AWSGlueDataCatalogHiveClientFactory"
                },
            },
            {"Classification": "delta-defaults", "Properties": {"delta.enabled": "true"}},
            {
                "Classification": "spark-defaults",
                "Properties": {
                    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
                    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
                },
            },
        ],
        "AutoTerminationPolicy": {"IdleTimeout": 3600},
        "ServiceRole": "EMR_DefaultRole",
        "JobFlowRole": "EMR_EC2_DefaultRole",
        "VisibleToAllUsers": True,
        "Tags": [
            {"Key": "etl:run", "Value": "etl nightly 1992-01-02"},
            {"Key": "etl:first-day", "Value": "1992-01-02"},
            {"Key": "etl:last-day", "Value": "1992-01-02"},
        ],
    }


def test_a_job_backfilled_on_an_emr8_cluster(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")
    request = plan(capsys, "sales_warehouse", "--env", "emr8", "--from", "1992-01-01", "--to", "1992-01-31")
    assert run_job_flow_errors(request) == ""
    assert (request["Name"], request["ReleaseLabel"]) == ("etl sales_warehouse 1992-01-01..1992-01-31", "emr-spark-8.0.0")
    assert request["BootstrapActions"][0]["ScriptBootstrapAction"]["Args"][-1] == "python3.12"
    assert request["Configurations"][0]["Configurations"][0]["Properties"]["PYSPARK_PYTHON"] == "/usr/bin/python3.12"
    [step] = request["Steps"]
    assert step["Name"] == "etl backfill sales_warehouse 1992-01-01..1992-01-31 --env emr8"
    assert step["HadoopJarStep"]["Args"][-6:] == ["--env", "emr8", "--from", "1992-01-01", "--to", "1992-01-31"]


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    shutil.copytree(REPO_CONF, target)
    return target


def test_a_job_others_depend_on_cancels_the_later_steps_when_it_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, conf: Path
) -> None:
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")
    (conf / "pipelines" / "chain.yaml").write_text(
        "description: c\njobs:\n  clickstream_sessions: {depends_on: [sales_warehouse]}\n  sales_warehouse: {}\n"
    )
    steps = plan(capsys, "chain", "--run-date", "1992-01-02", conf=conf)["Steps"]
    assert [(step["Name"].split()[2], step["ActionOnFailure"]) for step in steps] == [
        ("sales_warehouse", "CANCEL_AND_WAIT"),
        ("clickstream_sessions", "CONTINUE"),
    ]


def test_a_cluster_whose_metastore_would_die_with_it_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, conf: Path
) -> None:
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")
    (conf / "env" / "emr-bare.yaml").write_text("extends: emr\nemr: {cluster: {configurations: [python311, delta]}}\n")
    assert failure(capsys, "nightly", "--run-date", "1992-01-02", "--env", "emr-bare", conf=conf) == (
        "etl: error: conf/env/emr-bare.yaml: emr.cluster.configurations: the tables would die with the cluster: add glue-data-catalog "
        "(the Glue Data Catalog) or external-hive-metastore (a metastore database on RDS), with metastore.kind: cluster"
    )


@pytest.mark.parametrize(
    ("configurations", "error"),
    [
        ("[python311, glue]", "emr.cluster.configurations: no glue.json in bootstrap/configurations (known: delta, external-hive-metastore, "
         "glue-data-catalog, iceberg, iceberg-glue, python311, python312)"),
        ("[python311, python312, glue-data-catalog]", "emr.cluster.configurations: export sets PYSPARK_PYTHON to two values"),
    ],
    ids=["unknown", "conflict"],
)  # fmt: skip
def test_configurations_that_do_not_fit_are_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, conf: Path, configurations: str, error: str
) -> None:
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")
    (conf / "env" / "emr-odd.yaml").write_text(f"extends: emr\nemr: {{cluster: {{configurations: {configurations}}}}}\n")
    assert (
        failure(capsys, "nightly", "--run-date", "1992-01-02", "--env", "emr-odd", conf=conf)
        == f"etl: error: conf/env/emr-odd.yaml: {error}"
    )


def test_the_log_location_needs_the_bucket(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETL_BUCKET", raising=False)
    assert failure(capsys, "nightly", "--run-date", "1992-01-02") == (
        "etl: error: conf/env/emr.yaml: lake_root: environment variable ETL_BUCKET is not set"
    )


def test_the_cli_shape_writes_every_key_of_the_request_or_refuses(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """--shape cli: aws emr create-cluster's options for the request (tests/unit/test_aws_cli.py runs them); a key
    with no option written is refused, never left out."""
    monkeypatch.setenv("ETL_BUCKET", "acme-lake")
    request = plan(capsys, "nightly", "--run-date", "1992-01-02")
    request["Instances"]["Ec2SubnetId"] = "subnet-0a1b2c3d4e5f67890"
    options = create_cluster_command(request)
    assert [option[0] for option in options] == [
        "aws", "--name", "--release-label", "--log-uri", "--applications", "--instance-groups", "--auto-terminate",
        "--no-termination-protected", "--ec2-attributes", "--service-role", "--bootstrap-actions", "--configurations", "--steps",
        "--auto-termination-policy", "--visible-to-all-users", "--tags",
    ]  # fmt: skip
    assert ["--ec2-attributes", '{"InstanceProfile":"EMR_EC2_DefaultRole","SubnetId":"subnet-0a1b2c3d4e5f67890"}'] in options
    assert options[-1] == ["--tags", "etl:run=etl nightly 1992-01-02", "etl:first-day=1992-01-02", "etl:last-day=1992-01-02"]
    unknown = {**request, "SecurityConfiguration": "tls", "Instances": {**request["Instances"], "Placement": {"AvailabilityZone": "x"}}}
    with pytest.raises(ConfigError) as refused:
        create_cluster_command(unknown)
    assert str(refused.value) == "aws emr create-cluster: no option written for SecurityConfiguration, Instances.Placement"
    spot = {
        **request,
        "Instances": {**request["Instances"], "InstanceGroups": [{**request["Instances"]["InstanceGroups"][0], "Market": "SPOT"}]},
    }
    with pytest.raises(ConfigError) as refused:
        create_cluster_command(spot)
    assert str(refused.value) == "aws emr create-cluster: only ON_DEMAND instance groups are written as its options"
