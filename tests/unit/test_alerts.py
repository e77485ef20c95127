"""Failure alerts (etl/alerts.py): one message on the env's SNS topic, read back from an SQS queue subscribed to
it, against moto's SNS and SQS; nothing secret in it; a failed publish is one log line, never an exception."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from etl.alerts import notify_failure, redact, subject
from etl.cli import main
from etl.config import ConfigDir
from etl.config.models import EnvConfig
from etl.context import DateWindow
from etl.errors import ConfigError
from etl.zones import local_path
from tests.leaks import register_secret

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
REGION = "eu-central-1"
TOPIC = f"arn:aws:sns:{REGION}:123456789012:etl-alerts"
SECRET = "wJalrXUtnFEMI-not-a-real-secret-alerts"
DB_PASSWORD = "hunter2-not-a-real-password"


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    register_secret(SECRET)
    register_secret(DB_PASSWORD)


def env_with_alerts(topic: str = TOPIC, **more: Any) -> EnvConfig:
    return EnvConfig.model_validate(
        {"name": "emr", "lake_root": "s3://acme-lake/etl", "metastore": {"kind": "cluster"}, "alerts": {"sns_topic_arn": topic, **more}}
    )


@pytest.fixture
def subscribed() -> Iterator[tuple[Any, str]]:
    """moto's SNS with the alerts topic, and an SQS queue subscribed to it: (sqs client, queue URL)."""
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        yield subscribe(sns, sqs)


def subscribe(sns: Any, sqs: Any) -> tuple[Any, str]:
    topic = sns.create_topic(Name="etl-alerts")["TopicArn"]
    assert topic == TOPIC
    queue_url = sqs.create_queue(QueueName="etl-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return sqs, queue_url


def received(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(item["Body"]) for item in messages]


def test_a_failure_is_one_message(subscribed: tuple[Any, str], caplog: pytest.LogCaptureFixture) -> None:
    sqs, queue_url = subscribed
    with caplog.at_level(logging.DEBUG, logger="etl.alerts"):
        notify_failure(
            env_with_alerts(),
            what="sales_warehouse",
            run_date=date(1992, 1, 2),
            reason="source orders: no input for 1 of the 1 day(s) of 1992-01-02\n(s3://acme-lake/etl/raw/tpch/orders/dt=1992-01-02/)",
            run_id="19920102T023000Z-1a2b3c4d",
            report_uri="s3://acme-lake/etl/dq/reports/sales_warehouse/1992-01-02/19920102T023000Z-1a2b3c4d.html",
        )
    [notification] = received(sqs, queue_url)
    assert notification["Subject"] == "etl: sales_warehouse 1992-01-02 failed"
    assert notification["Message"] == (
        "etl: sales_warehouse failed for 1992-01-02 (env emr)\n"
        "\n"
        "job or pipeline: sales_warehouse\n"
        "run date: 1992-01-02\n"
        "env: emr\n"
        "reason: source orders: no input for 1 of the 1 day(s) of 1992-01-02 (s3://acme-lake/etl/raw/tpch/orders/dt=1992-01-02/)\n"
        "run id: 19920102T023000Z-1a2b3c4d\n"
        "report: s3://acme-lake/etl/dq/reports/sales_warehouse/1992-01-02/19920102T023000Z-1a2b3c4d.html"
    )
    assert notification["TopicArn"] == TOPIC
    assert caplog.records == []


def test_a_pipeline_over_days_and_nothing_known(subscribed: tuple[Any, str]) -> None:
    sqs, queue_url = subscribed
    notify_failure(
        env_with_alerts(),
        what="nightly",
        run_date=DateWindow(date(1992, 1, 1), date(1992, 1, 31)),
        reason="boom",
        run_id=None,
        report_uri=None,
    )
    [notification] = received(sqs, queue_url)
    assert notification["Subject"] == "etl: nightly 1992-01-01..1992-01-31 failed"
    assert notification["Message"].splitlines()[-3:] == ["reason: boom", "run id: -", "report: -"]


def test_no_secret_in_the_message(subscribed: tuple[Any, str], monkeypatch: pytest.MonkeyPatch) -> None:
    # (moto's mock puts its own fake AWS keys into the environment: the secret is another variable's here)
    monkeypatch.setenv("ETL_METASTORE_DB_PASSWORD", DB_PASSWORD)
    monkeypatch.setenv("ETL_SOURCE_API_TOKEN", SECRET)
    sqs, queue_url = subscribed
    reason = (
        f"metastore: cannot connect to jdbc:mysql://hive:{DB_PASSWORD}@metastore.internal:3306/hive; "
        f"S3A said: bad key {SECRET}; aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY; "
        "postgresql://etl:pa55word@warehouse/etl; AKIAIOSFODNN7EXAMPLE"
    )
    notify_failure(env_with_alerts(), what=f"job {SECRET}", run_date="1992-01-02", reason=reason, run_id="r1", report_uri=None)
    [notification] = received(sqs, queue_url)
    text = notification["Subject"] + notification["Message"]
    for secret in (DB_PASSWORD, SECRET, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "pa55word", "AKIAIOSFODNN7EXAMPLE"):
        assert secret not in text
    assert notification["Subject"] == "etl: job **** 1992-01-02 failed"
    assert notification["Message"].splitlines()[5] == (
        "reason: metastore: cannot connect to jdbc:mysql://hive:****@metastore.internal:3306/hive; S3A said: bad key ****; "
        "aws_secret_access_key=****; postgresql://etl:****@warehouse/etl; ****"
    )


def test_a_topic_that_does_not_exist_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with mock_aws(), caplog.at_level(logging.DEBUG, logger="etl.alerts"):
        notify_failure(env_with_alerts(), what="sales_warehouse", run_date=date(1992, 1, 2), reason="boom", run_id="r1", report_uri=None)
    assert [(record.levelname, record.getMessage()) for record in caplog.records] == [
        ("WARNING", f"alert not sent to {TOPIC}: Publish: NotFound: Endpoint does not exist")  # moto's words for a topic it does not have
    ]


def test_no_credentials_is_one_log_line(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance profile to look for
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # boto3's default session keeps the credentials an earlier test found
    with caplog.at_level(logging.DEBUG, logger="etl.alerts"):
        notify_failure(env_with_alerts(), what="sales_warehouse", run_date=date(1992, 1, 2), reason="boom", run_id="r1", report_uri=None)
    assert [record.getMessage() for record in caplog.records] == [
        f"alert not sent to {TOPIC}: NoCredentialsError: Unable to locate credentials"
    ]


def test_an_env_without_alerts_sends_nothing() -> None:
    env = EnvConfig.model_validate({"name": "local", "lake_root": "./lake", "metastore": {"kind": "derby"}})
    notify_failure(env, what="sales_warehouse", run_date=date(1992, 1, 2), reason="boom", run_id="r1", report_uri=None)  # no AWS call


def test_the_endpoint_from_the_environment(
    emr_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A local SNS, as every AWS tool finds it: AWS_ENDPOINT_URL_SNS (here moto's server on 127.0.0.1)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", emr_endpoint)
    sqs, queue_url = subscribe(
        boto3.client("sns", region_name=REGION, endpoint_url=emr_endpoint),
        boto3.client("sqs", region_name=REGION, endpoint_url=emr_endpoint),
    )
    notify_failure(env_with_alerts(), what="sales_warehouse", run_date=date(1992, 1, 2), reason="boom", run_id="r1", report_uri=None)
    [notification] = received(sqs, queue_url)
    assert notification["Subject"] == "etl: sales_warehouse 1992-01-02 failed"


def test_a_long_subject_is_cut_to_what_sns_takes() -> None:
    long = subject("a_job_with_a_very_long_name_" * 5, "1992-01-02")
    assert len(long) == 100 and long.endswith("...") and long.startswith("etl: a_job_with_a_very_long_name_")
    assert subject("überjob", "1992-01-02") == "etl: ?berjob 1992-01-02 failed"


def test_redact_leaves_ordinary_text() -> None:
    text = "s3://acme-lake/etl/raw/ sha1 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12 https://example.org/a:b column key_count: 3"
    assert redact(text) == text


def test_the_alerts_setting(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    (conf / "env" / "alerting.yaml").write_text(f"extends: local\nalerts:\n  sns_topic_arn: {TOPIC}\n")
    (conf / "env" / "elsewhere.yaml").write_text(f"extends: local\nalerts:\n  sns_topic_arn: {TOPIC}\n  region: eu-west-1\n")
    (conf / "env" / "bad.yaml").write_text("extends: local\nalerts:\n  sns_topic_arn: etl-alerts\n")
    configs = ConfigDir(conf)
    assert configs.env("alerting").alerts is not None and configs.env("alerting").alerts.topic_region == REGION  # type: ignore[union-attr]
    assert configs.env("elsewhere").alerts.topic_region == "eu-west-1"  # type: ignore[union-attr]
    with pytest.raises(ConfigError) as bad:
        configs.env("bad")
    assert str(bad.value).startswith("conf/env/bad.yaml: alerts.sns_topic_arn: String should match pattern")


def run_ids(spark: Any) -> set[str]:
    """The runs the unit tests' audit table holds so far (none before its first run)."""
    if not spark.catalog.tableExists("etl_audit.job_runs"):
        return set()
    return {row.run_id for row in spark.table("etl_audit.job_runs").select("run_id").collect()}


def test_a_failed_etl_run_publishes_one_alert(
    subscribed: tuple[Any, str], spark: Any, zones: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`etl run` of a day that has not landed, in an env with an alerts topic: the run's error line, and one message."""
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    with (conf / "env" / "test.yaml").open("a") as handle:
        handle.write(f"alerts:\n  sns_topic_arn: {TOPIC}\n")
    monkeypatch.setenv("ETL_LAKE_ROOT", str(local_path(zones.lake_root)))
    earlier = run_ids(spark)  # other tests' runs
    Path(str(local_path(zones.uri("raw", "tpch", "orders")))).mkdir(parents=True, exist_ok=True)  # landed before, not this day
    assert main(["--conf-dir", str(conf), "run", "sales_warehouse", "--env", "test", "--run-date", "1992-01-02"]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    orders = zones.uri("raw", "tpch", "orders")
    assert error == f"etl: error: source orders: no input for 1 of the 1 day(s) of 1992-01-02: dt=1992-01-02 missing under {orders}"
    [(run_id, status)] = [(row.run_id, row.status) for row in spark.table("etl_audit.job_runs").collect() if row.run_id not in earlier]
    assert status == "failed"
    [alert] = received(*subscribed)
    assert alert["Subject"] == "etl: sales_warehouse 1992-01-02 failed"
    assert alert["Message"].splitlines() == [
        "etl: sales_warehouse failed for 1992-01-02 (env test)",
        "",
        "job or pipeline: sales_warehouse",
        "run date: 1992-01-02",
        "env: test",
        f"reason: {error.removeprefix('etl: error: ')}",
        f"run id: {run_id}",
        f"report: {zones.uri('dq', 'sales_warehouse', 'run_date=1992-01-02', run_id)}/",
    ]


def test_a_failed_pipeline_publishes_one_alert_for_the_night(
    subscribed: tuple[Any, str], spark: Any, zones: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    with (conf / "env" / "test.yaml").open("a") as handle:
        handle.write(f"alerts:\n  sns_topic_arn: {TOPIC}\n")
    (conf / "pipelines" / "night.yaml").write_text(
        "description: d\njobs:\n  sales_warehouse: {}\n  daily_kpis: {depends_on: [sales_warehouse]}\n"
    )
    monkeypatch.setenv("ETL_LAKE_ROOT", str(local_path(zones.lake_root)))
    earlier = run_ids(spark)  # other tests' runs
    Path(str(local_path(zones.uri("raw", "tpch", "orders")))).mkdir(parents=True, exist_ok=True)  # landed before, not this day
    assert main(["--conf-dir", str(conf), "pipeline", "run", "night", "--env", "test", "--run-date", "1992-01-03"]) == 1
    error = capsys.readouterr().err.splitlines()[-1]
    orders = zones.uri("raw", "tpch", "orders")
    summary = (
        "night 1992-01-03: 0 of 2 job(s) succeeded; sales_warehouse failed: source orders: no input for 1 of the 1 day(s) of "
        f"1992-01-03: dt=1992-01-03 missing under {orders}; daily_kpis skipped (after sales_warehouse)"
    )
    assert error == f"etl: error: {summary}"
    runs = spark.table("etl_audit.job_runs").select("job", "status", "run_id").collect()
    failed = [row for row in runs if row.run_id not in earlier]
    assert [(row.job, row.status) for row in failed] == [("sales_warehouse", "failed")]
    [alert] = received(*subscribed)
    assert alert["Subject"] == "etl: pipeline night 1992-01-03 failed"
    assert alert["Message"].splitlines()[4:] == [
        "env: test",
        f"reason: {summary}",
        f"run id: {failed[0].run_id}",
        f"report: {zones.uri('dq', 'sales_warehouse', 'run_date=1992-01-03', failed[0].run_id)}/",
    ]
