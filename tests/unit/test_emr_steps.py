"""etl emr-step: the exact step JSON, checked against botocore's own model of EMR's AddJobFlowSteps."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from etl.cli import main
from etl.context import DateWindow
from etl.emr.steps import ACTIONS_ON_FAILURE, emr_step, spark_submit_args
from tests.release import release_zip

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
ARTIFACTS = "s3://acme-etl/artifacts/0.1.0/"


def add_steps_errors(steps: list[dict[str, Any]]) -> str:
    """botocore's validation report of AddJobFlowSteps with these steps; empty when valid."""
    return str(ParamValidator().validate({"JobFlowId": "j-TEST", "Steps": steps}, add_steps_shape()).generate_report())


def add_steps_shape() -> Any:
    return botocore.session.get_session().get_service_model("emr").operation_model("AddJobFlowSteps").input_shape


def emr_step_json(capsys: pytest.CaptureFixture[str], *args: str, conf: Path = REPO_CONF, shape: str = "api") -> Any:
    assert main(["--conf-dir", str(conf), "emr-step", *args, "--shape", shape]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def one_day_args(env: str) -> list[str]:
    """What a step of one day of sales_warehouse runs, written out by hand."""
    return [
        "spark-submit",
        "--deploy-mode",
        "client",
        "--py-files",
        f"s3://acme-etl/artifacts/0.1.0/{release_zip()}",
        "--jars",
        "s3://acme-etl/artifacts/0.1.0/etl-catalog.jar",
        "s3://acme-etl/artifacts/0.1.0/main.py",
        "--job",
        "sales_warehouse",
        "--env",
        env,
        "--run-date",
        "1992-01-02",
    ]


def test_one_day(capsys: pytest.CaptureFixture[str]) -> None:
    steps = emr_step_json(capsys, "sales_warehouse", "--run-date", "1992-01-02", "--artifacts", "s3://acme-etl/artifacts/0.1.0")
    assert steps == [
        {
            "Name": "etl run sales_warehouse 1992-01-02 --env emr",
            "ActionOnFailure": "CONTINUE",
            "HadoopJarStep": {"Jar": "command-runner.jar", "Args": one_day_args("emr")},
        }
    ]
    assert add_steps_errors(steps) == ""


def test_by_default_the_step_is_in_the_aws_clis_own_shape(capsys: pytest.CaptureFixture[str]) -> None:
    """What `aws emr add-steps --steps file://steps.json` takes (tests/unit/test_aws_cli.py runs it)."""
    assert main(["--conf-dir", str(REPO_CONF), "emr-step", "sales_warehouse", "--run-date", "1992-01-02", "--artifacts", ARTIFACTS]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {
            "Type": "CUSTOM_JAR",
            "Name": "etl run sales_warehouse 1992-01-02 --env emr",
            "ActionOnFailure": "CONTINUE",
            "Jar": "command-runner.jar",
            "Args": one_day_args("emr"),
        }
    ]


def test_an_emr8_step_runs_the_same_release(capsys: pytest.CaptureFixture[str]) -> None:
    """EMR 8 (Spark 4.0) runs the zip and the catalog jar EMR 7 runs: only the env differs."""
    steps = emr_step_json(capsys, "sales_warehouse", "--env", "emr8", "--run-date", "1992-01-02", "--artifacts", ARTIFACTS)
    assert steps[0]["Name"] == "etl run sales_warehouse 1992-01-02 --env emr8"
    assert steps[0]["HadoopJarStep"]["Args"] == one_day_args("emr8")
    assert add_steps_errors(steps) == ""


def test_backfill_in_cluster_mode(capsys: pytest.CaptureFixture[str]) -> None:
    steps = emr_step_json(
        capsys,
        "sales_warehouse",
        "--backfill",
        "--from",
        "1992-01-01",
        "--to",
        "1992-03-31",
        "--artifacts",
        ARTIFACTS,
        "--deploy-mode",
        "cluster",
        "--action-on-failure",
        "TERMINATE_CLUSTER",
    )
    assert steps == [
        {
            "Name": "etl backfill sales_warehouse 1992-01-01..1992-03-31 --env emr",
            "ActionOnFailure": "TERMINATE_CLUSTER",
            "HadoopJarStep": {
                "Jar": "command-runner.jar",
                "Args": [
                    "spark-submit",
                    "--deploy-mode",
                    "cluster",
                    "--py-files",
                    f"s3://acme-etl/artifacts/0.1.0/{release_zip()}",
                    "--jars",
                    "s3://acme-etl/artifacts/0.1.0/etl-catalog.jar",
                    "s3://acme-etl/artifacts/0.1.0/main.py",
                    "--job",
                    "sales_warehouse",
                    "--env",
                    "emr",
                    "--from",
                    "1992-01-01",
                    "--to",
                    "1992-03-31",
                ],
            },
        }
    ]
    assert add_steps_errors(steps) == ""


def test_artifacts_default_to_the_envs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    with (conf / "env" / "emr.yaml").open("a") as overlay:
        overlay.write("\nemr:\n  artifacts: s3://${ETL_ARTIFACTS_BUCKET:-acme-etl}/artifacts/0.1.0\n")
    steps = emr_step_json(capsys, "sales_warehouse", "--run-date", "1992-01-02", conf=conf)
    assert steps[0]["HadoopJarStep"]["Args"][4:8] == [
        f"s3://acme-etl/artifacts/0.1.0/{release_zip()}",
        "--jars",
        "s3://acme-etl/artifacts/0.1.0/etl-catalog.jar",
        "s3://acme-etl/artifacts/0.1.0/main.py",
    ]
    # the lake's ${ETL_BUCKET} is for the cluster's run: printing a step does not need it

    (conf / "env" / "emr.yaml").write_text((conf / "env" / "emr.yaml").read_text().replace(":-acme-etl", ""))
    assert main(["--conf-dir", str(conf), "emr-step", "sales_warehouse", "--run-date", "1992-01-02"]) == 1
    assert (
        capsys.readouterr().err.strip()
        == "etl: error: conf/env/emr.yaml: emr.artifacts: environment variable ETL_ARTIFACTS_BUCKET is not set"
    )


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["sales_warehouse", "--run-date", "1992-01-02"],
            "no artifacts location: pass --artifacts s3://bucket/prefix/ or set emr.artifacts in conf/env/emr.yaml",
        ),
        (
            ["sales_warehouse", "--run-date", "1992-01-02", "--artifacts", "/home/me/dist"],
            "artifacts must be an s3://bucket/prefix/ URI (where `etl deploy` put dist/), got '/home/me/dist'",
        ),
        (
            ["nightly", "--run-date", "1992-01-02", "--artifacts", ARTIFACTS],
            "conf/jobs/nightly.yaml: not found (known: clickstream_sessions, daily_kpis, iot_telemetry, sales_warehouse)",
        ),
        (["sales_warehouse", "--run-date", "1992-01-02", "--env", "prod", "--artifacts", ARTIFACTS], "conf/env/prod.yaml: no such env"),
        (["sales_warehouse", "--artifacts", ARTIFACTS], "give --run-date D, or --backfill --from D --to D"),
        (
            ["sales_warehouse", "--backfill", "--from", "1992-01-02", "--artifacts", ARTIFACTS],
            "give --run-date D, or --backfill --from D --to D",
        ),
        (
            ["sales_warehouse", "--run-date", "1992-01-02", "--backfill", "--artifacts", ARTIFACTS],
            "give either --run-date D or --backfill --from D --to D, not both",
        ),
        (
            ["sales_warehouse", "--from", "1992-02-01", "--to", "1992-01-01", "--artifacts", ARTIFACTS],
            "the window's first day 1992-02-01 is after its last day 1992-01-01",
        ),
    ],
)
def test_bad_input_is_one_line(args: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "emr-step", *args]) == 1
    assert capsys.readouterr().err.strip().startswith(f"etl: error: {error}")


def test_spark_submit_args_run_anywhere() -> None:
    """The same command line on a local standalone cluster: any artifacts folder, a master, client mode."""
    args = spark_submit_args(
        "sales_warehouse", "local", DateWindow(date(1992, 1, 1), date(1992, 1, 3)), "/srv/dist/", master="spark://127.0.0.1:7077"
    )
    assert args == [
        "spark-submit",
        "--master",
        "spark://127.0.0.1:7077",
        "--deploy-mode",
        "client",
        "--py-files",
        f"/srv/dist/{release_zip()}",
        "--jars",
        "/srv/dist/etl-catalog.jar",
        "/srv/dist/main.py",
        "--job",
        "sales_warehouse",
        "--env",
        "local",
        "--from",
        "1992-01-01",
        "--to",
        "1992-01-03",
    ]
    one_day = spark_submit_args("sales_warehouse", "local", DateWindow.day(date(1992, 1, 1)), "/srv/dist")
    assert one_day[-2:] == ["--run-date", "1992-01-01"]
    assert spark_submit_args("sales_warehouse", "local", DateWindow.day(date(1992, 1, 1)), "/srv/dist", backfill=True)[-4:] == [
        "--from",
        "1992-01-01",
        "--to",
        "1992-01-01",
    ]


def test_a_broken_step_fails_botocores_validation() -> None:
    step = emr_step("sales_warehouse", "emr", DateWindow.day(date(1992, 1, 2)), ARTIFACTS)
    assert add_steps_errors([step]) == ""
    broken = [
        {**step, "HadoopJarStep": {"Args": step["HadoopJarStep"]["Args"]}},  # no Jar
        {**step, "HadoopJarStep": {**step["HadoopJarStep"], "Args": ["spark-submit", 7]}},  # not a string
        {key: value for key, value in step.items() if key != "Name"},
        {**step, "Steps": "extra"},
    ]
    for bad in broken:
        assert add_steps_errors([bad]) != "", bad


def test_the_choices_are_emrs() -> None:
    """botocore does not check enums on the client side; the CLI's choices must be values EMR's model lists."""
    step_shape = add_steps_shape().members["Steps"].member
    assert set(ACTIONS_ON_FAILURE) <= set(step_shape.members["ActionOnFailure"].enum)


def test_the_envs_artifacts_must_be_on_s3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    with (conf / "env" / "emr.yaml").open("a") as overlay:
        overlay.write("\nemr:\n  artifacts: /home/me/dist\n")
    assert main(["--conf-dir", str(conf), "emr-step", "sales_warehouse", "--run-date", "1992-01-02"]) == 1
    assert capsys.readouterr().err.strip() == (
        "etl: error: conf/env/emr.yaml: emr: artifacts must be an s3://bucket/prefix/ URI (EMR reads the release from S3), got '/home/me/dist'"
    )
