"""The release artifact on a real Spark standalone cluster, as an EMR step runs it.

`etl package` builds dist/, `etl deploy`'s code uploads it to the S3 server, and the exact spark-submit
Args of `etl emr-step` run on a master + worker started here, with the settings an EMR cluster brings
itself (s3:// file system, metastore URI, Iceberg on the classpath) given as --conf, the way EMR's
classifications do. Driver and executors run a Python that cannot import the project except from the
zip: the editable install of the checkout is hidden from them (python -S, site-packages on PYTHONPATH).
The tables are Iceberg tables in the Hive metastore service; DuckDB gives the expected values.
"""

from __future__ import annotations

import os
import stat
import sys
import sysconfig
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from etl.context import DateWindow
from etl.dev.cluster import StandaloneCluster
from etl.dev.metastore import HiveMetastore
from etl.dev.s3 import S3Server
from etl.emr.deploy import deploy
from etl.emr.package import build
from etl.emr.steps import emr_step
from etl.jars import jar_path
from tests.integration.conftest import AWS_ENV, REPO, Lake
from tests.integration.expected import (
    WAREHOUSE_SQL,
    aggregate_rows,
    dimension_rows,
    expected_aggregates,
    expected_dimension,
    expected_fact_keys,
    fact_keys,
)
from tests.lanes import needs_jars
from tests.leaks import record_output

pytestmark = [pytest.mark.integration, needs_jars("hadoop-aws", "aws-java-sdk-bundle", "iceberg-spark-runtime")]

BUCKET, PREFIX = "etl-lake", "cluster"
ARTIFACTS = f"s3://{BUCKET}/artifacts/test/"
FIRST, LAST = date(1992, 1, 1), date(1992, 1, 4)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandaloneCluster]:
    # the worker's environment is what executors get: AWS credentials as an instance profile would provide
    with StandaloneCluster(tmp_path_factory.mktemp("cluster"), cores=1, memory="2g", extra_env=AWS_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def isolated_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The venv's Python without site processing, so the checkout's editable install (a .pth hook) is
    invisible; the installed libraries stay importable through PYTHONPATH, after Spark's entries."""
    wrapper = tmp_path_factory.mktemp("python") / "python"
    site_packages = sysconfig.get_paths()["purelib"]
    wrapper.write_text(f'#!/bin/sh\nexport PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{site_packages}"\nexec {sys.executable} -S "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return wrapper


def cluster_settings(s3_server: S3Server, metastore: HiveMetastore) -> list[str]:
    """What EMR configures on its own: EMRFS for s3://, the metastore (hive-site), Iceberg (iceberg-defaults)."""
    jars = ":".join(str(jar_path(name)) for name in ("hadoop-aws", "aws-java-sdk-bundle", "iceberg-spark-runtime"))
    settings = {
        "spark.executor.extraClassPath": jars,
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": s3_server.endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
        "spark.hadoop.hive.metastore.uris": metastore.uris,
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": "false",
    }
    return ["--driver-class-path", jars, *(arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}"))]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> list[str]:
    """dist/ built and uploaded to the S3 server; returns the uploaded keys."""
    s3_server.create_bucket(BUCKET)
    package = build(REPO, tmp_path_factory.mktemp("dist") / "dist")
    return deploy(s3_server.client(), package.out, ARTIFACTS, say=lambda _: None)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, metastore: HiveMetastore) -> Lake:
    """The raw extracts of four days landed on S3 (by `etl demo-data`), and `etl sql` access to the result."""
    environ = {
        **AWS_ENV,
        "ETL_BUCKET": BUCKET,
        "ETL_PREFIX": PREFIX,
        "ETL_S3_ENDPOINT": s3_server.endpoint,
        "ETL_METASTORE_URIS": metastore.uris,
        "ETL_TABLE_FORMAT": "iceberg",
    }
    lake = Lake(tmp_path_factory.mktemp("cluster-state") / "state", env="local-emr", environ=environ)
    lake.etl_ok("demo-data", "--env", "local-s3", "--scale", "0.01", "--from", str(FIRST), "--to", str(LAST))
    return lake


def submit(cluster: StandaloneCluster, args: list[str], python: Path, cwd: Path, settings: list[str]):  # type: ignore[no-untyped-def]
    assert args[0] == "spark-submit"
    driver_env = {**AWS_ENV, "ETL_BUCKET": BUCKET, "ETL_PREFIX": PREFIX, "ETL_TABLE_FORMAT": "iceberg", "PYSPARK_PYTHON": str(python)}
    driver_env["PYTHONPATH"] = ""
    done = cluster.spark_submit([*settings, *args[1:]], cwd=cwd, env=driver_env, timeout=900)
    record_output(f"spark-submit {' '.join(args[1:])}", done.stdout + done.stderr)
    return done


def test_the_release_is_what_the_steps_point_at(released: list[str]) -> None:
    shipped = sorted(key.rsplit("/", 1)[1] for key in released if "/conf/" not in key)
    assert shipped == ["etl-0.1.0.zip", "etl-catalog.jar", "main.py", "requirements.txt"]


def test_without_the_zip_the_step_fails_loudly(  # type: ignore[no-untyped-def]
    cluster, released, lake, s3_server, metastore, isolated_python, tmp_path
) -> None:
    args = emr_step("sales_warehouse", "emr", DateWindow(FIRST, FIRST), ARTIFACTS)["HadoopJarStep"]["Args"]
    without_zip = [arg for i, arg in enumerate(args) if arg != "--py-files" and args[i - 1] != "--py-files"]
    done = submit(cluster, without_zip, isolated_python, tmp_path, cluster_settings(s3_server, metastore))
    assert done.returncode == 1, done.stderr[-3000:]
    # spark-submit merges the Python driver's stderr into its stdout (the step's stdout log on EMR)
    assert done.stdout.splitlines()[-1] == (
        "etl: error: cannot import the etl package (No module named 'etl'); pass etl-<version>.zip with spark-submit --py-files"
    )


def test_the_emr_step_loads_correct_iceberg_tables_on_the_cluster(  # type: ignore[no-untyped-def]
    cluster, released, lake, s3_server, metastore, isolated_python, tmp_path, tmp_path_factory
) -> None:
    step = emr_step("sales_warehouse", "emr", DateWindow(FIRST, LAST), ARTIFACTS)
    done = submit(cluster, step["HadoopJarStep"]["Args"], isolated_python, tmp_path, cluster_settings(s3_server, metastore))
    assert done.returncode == 0, done.stderr[-4000:]
    # the driver found the catalog helper the step passes with --jars (the lock alone lists partitions);
    # the run's log reaches the step's output, so the warning would be there
    output = done.stdout + done.stderr
    assert "INFO etl.run.batch: publishing fact_sales into warehouse.fact_sales" in output
    assert "etl-catalog.jar is not on the driver's classpath" not in output
    # the executors ran job code from the zip Spark shipped to them
    executor_logs = [p for p in (cluster.work_dir / "worker").rglob("stderr")]
    assert executor_logs

    raw = tmp_path_factory.mktemp("cluster-raw")
    client = s3_server.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/raw/"):
        for item in page.get("Contents", []):
            target = raw / item["Key"].removeprefix(f"{PREFIX}/")
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(BUCKET, item["Key"], str(target))
    raw_copy = Lake(raw)
    first, last = str(FIRST), str(LAST)
    lake.prefetch(*WAREHOUSE_SQL, "DESCRIBE TABLE EXTENDED warehouse.fact_sales", "SELECT env, status FROM etl_audit.job_runs")
    assert fact_keys(lake) == expected_fact_keys(raw_copy, first, last)
    assert dimension_rows(lake) == expected_dimension(raw_copy, first, last)
    assert aggregate_rows(lake) == expected_aggregates(raw_copy, first, last)
    providers = {r["col_name"]: r["data_type"] for r in lake.sql("DESCRIBE TABLE EXTENDED warehouse.fact_sales")}
    assert providers["Provider"] == "iceberg"
    assert providers["Location"] == f"s3://{BUCKET}/{PREFIX}/curated/warehouse.db/fact_sales"
    assert lake.sql("SELECT env, status FROM etl_audit.job_runs") == [{"env": "emr", "status": "succeeded"}]
    assert os.environ.get("ETL_BUCKET") is None  # the test process itself never had the cluster's settings
