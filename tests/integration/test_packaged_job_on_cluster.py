"""The release artifact on a real Spark standalone cluster, as an EMR step runs it.

`etl package` builds dist/ and the exact spark-submit Args of `etl emr-step` run on a master + worker
started here, with the settings an EMR cluster brings itself (file system, metastore URI, table format
jars) given as --conf, the way EMR's classifications do. Driver and executors run a Python that cannot
import the project except from the zip: the editable install of the checkout is hidden from them
(python -S, site-packages on PYTHONPATH). DuckDB gives the expected values.

On Spark 3.5 (EMR 7, env emr) the release is uploaded to the S3 server by `etl deploy`'s code and the
tables are Iceberg tables on s3:// in the Hive metastore service. Spark 4.0 (EMR 8, env emr8, ANSI SQL
on) has neither S3A nor Iceberg here (ENVIRONMENT: no registry has them), so there the same step reads
the release from a local folder (its s3:// prefix replaced) and loads Parquet tables in a file:// lake.
"""

from __future__ import annotations

import os
import stat
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
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
from etl.spark_internals import SPARK_LINE
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
from tests.leaks import record_output
from tests.release import release_zip

pytestmark = pytest.mark.integration

BUCKET, PREFIX = "etl-lake", "cluster"
ARTIFACTS = f"s3://{BUCKET}/artifacts/test/"
FIRST, LAST = date(1992, 1, 1), date(1992, 1, 4)
ON_S3 = SPARK_LINE == "3.5"  # S3A and Iceberg exist for Spark 3.5 only on this machine
S3_JARS = ("hadoop-aws", "aws-java-sdk-bundle", "iceberg-spark-runtime")


@dataclass(frozen=True)
class Release:
    """Where the cluster reads dist/ from, and the names it holds."""

    uri: str
    names: list[str]

    def step_args(self, env: str, window: DateWindow) -> list[str]:
        """The step's spark-submit Args, reading the release from here instead of ARTIFACTS."""
        args: list[str] = emr_step("sales_warehouse", env, window, ARTIFACTS)["HadoopJarStep"]["Args"]
        return [arg.replace(ARTIFACTS, self.uri) for arg in args]


@dataclass(frozen=True)
class Line:
    """What differs between the two lanes' runs of the same release."""

    env: str
    table_format: str
    driver_env: dict[str, str]  # what the cluster's spark-env.sh would export
    cluster_settings: list[str]  # spark-submit options standing in for the cluster's own configuration


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


@pytest.fixture(scope="module")
def hms(request: pytest.FixtureRequest) -> HiveMetastore:
    """The metastore service: one that reaches the S3 server where the tables are on s3://."""
    return request.getfixturevalue("metastore" if ON_S3 else "plain_metastore")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Release:
    package = build(REPO, tmp_path_factory.mktemp("dist") / "dist", allow_dirty=True)
    if not ON_S3:
        return Release(f"file://{package.out}/", sorted(path.name for path in package.out.iterdir() if path.is_file()))
    s3_server: S3Server = request.getfixturevalue("s3_server")
    s3_server.create_bucket(BUCKET)
    keys = deploy(s3_server.client(), package.out, ARTIFACTS, say=lambda _: None)
    return Release(ARTIFACTS, sorted(key.rsplit("/", 1)[1] for key in keys if "/conf/" not in key))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, hms: HiveMetastore, request: pytest.FixtureRequest) -> Lake:
    """The raw extracts of four days landed (by `etl demo-data`), and `etl sql` access to the result."""
    state = tmp_path_factory.mktemp("cluster-state")
    if not ON_S3:
        lake = Lake(state / "lake", env="local-hms", environ={"ETL_METASTORE_URIS": hms.uris, "ETL_TABLE_FORMAT": "parquet"})
        lake.etl_ok("demo-data", "--env", "local-hms", "--scale", "0.01", "--from", str(FIRST), "--to", str(LAST))
        return lake
    s3_server: S3Server = request.getfixturevalue("s3_server")
    s3_server.create_bucket(BUCKET)
    environ = {
        **AWS_ENV,
        "ETL_BUCKET": BUCKET,
        "ETL_PREFIX": PREFIX,
        "ETL_S3_ENDPOINT": s3_server.endpoint,
        "ETL_METASTORE_URIS": hms.uris,
        "ETL_TABLE_FORMAT": "iceberg",
    }
    lake = Lake(state / "state", env="local-emr", environ=environ)
    lake.etl_ok("demo-data", "--env", "local-s3", "--scale", "0.01", "--from", str(FIRST), "--to", str(LAST))
    return lake


@pytest.fixture(scope="module")
def line(lake: Lake, hms: HiveMetastore, request: pytest.FixtureRequest) -> Line:
    settings = {
        "spark.hadoop.hive.metastore.uris": hms.uris,
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.host": "127.0.0.1",
        "spark.ui.enabled": "false",
    }
    if not ON_S3:
        driver_env = {"ETL_LAKE_ROOT": f"file://{lake.root}", "ETL_TABLE_FORMAT": "parquet"}
        return Line("emr8", "parquet", driver_env, [arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}")])
    # EMRFS for s3://, Iceberg (iceberg-defaults)
    s3_server: S3Server = request.getfixturevalue("s3_server")
    jars = ":".join(str(jar_path(name)) for name in S3_JARS)
    settings |= {
        "spark.executor.extraClassPath": jars,
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": s3_server.endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
    }
    driver_env = {**AWS_ENV, "ETL_BUCKET": BUCKET, "ETL_PREFIX": PREFIX, "ETL_TABLE_FORMAT": "iceberg"}
    options = ["--driver-class-path", jars, *(arg for key, value in settings.items() for arg in ("--conf", f"{key}={value}"))]
    return Line("emr", "iceberg", driver_env, options)


def submit(cluster: StandaloneCluster, args: list[str], python: Path, cwd: Path, line: Line):  # type: ignore[no-untyped-def]
    assert args[0] == "spark-submit"
    driver_env = {**line.driver_env, "PYSPARK_PYTHON": str(python), "PYTHONPATH": ""}
    done = cluster.spark_submit([*line.cluster_settings, *args[1:]], cwd=cwd, env=driver_env, timeout=900)
    record_output(f"spark-submit {' '.join(args[1:])}", done.stdout + done.stderr)
    return done


def test_the_release_is_what_the_steps_point_at(release: Release) -> None:
    assert release.names == [
        release_zip(),
        "etl-catalog.jar",
        "main.py",
        "requirements.txt",
    ]


def test_without_the_zip_the_step_fails_loudly(  # type: ignore[no-untyped-def]
    cluster, release, lake, line, isolated_python, tmp_path
) -> None:
    args = release.step_args(line.env, DateWindow(FIRST, FIRST))
    without_zip = [arg for i, arg in enumerate(args) if arg != "--py-files" and args[i - 1] != "--py-files"]
    done = submit(cluster, without_zip, isolated_python, tmp_path, line)
    assert done.returncode == 1, done.stderr[-3000:]
    # spark-submit merges the Python driver's stderr into its stdout (the step's stdout log on EMR)
    assert done.stdout.splitlines()[-1] == (
        "etl: error: cannot import the etl package (No module named 'etl'); pass etl-<release>.zip with spark-submit --py-files"
    )


def test_the_emr_step_loads_correct_tables_on_the_cluster(  # type: ignore[no-untyped-def]
    cluster, release, lake, line, request, isolated_python, tmp_path, tmp_path_factory
) -> None:
    done = submit(cluster, release.step_args(line.env, DateWindow(FIRST, LAST)), isolated_python, tmp_path, line)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    # the driver found the catalog helper the step passes with --jars (the lock alone lists partitions);
    # the run's log reaches the step's output, so the warning would be there
    output = done.stdout + done.stderr
    assert "INFO etl.run.batch: staging fact_sales for warehouse.fact_sales" in output
    assert "etl-catalog.jar is not on the driver's classpath" not in output
    assert "\tat " not in output, output[max(0, output.find("\tat ") - 1500) : output.find("\tat ") + 300]  # no Java stack trace
    # the executors ran job code from the zip Spark shipped to them
    assert list((cluster.work_dir / "worker").rglob("stderr"))

    raw_copy = lake if not ON_S3 else download_raw(request.getfixturevalue("s3_server"), tmp_path_factory.mktemp("cluster-raw"))
    first, last = str(FIRST), str(LAST)
    lake.prefetch(*WAREHOUSE_SQL, "DESCRIBE TABLE EXTENDED warehouse.fact_sales", "SELECT env, status FROM etl_audit.job_runs")
    assert fact_keys(lake) == expected_fact_keys(raw_copy, first, last)
    assert dimension_rows(lake) == expected_dimension(raw_copy, first, last)
    assert aggregate_rows(lake) == expected_aggregates(raw_copy, first, last)
    described = {r["col_name"]: r["data_type"] for r in lake.sql("DESCRIBE TABLE EXTENDED warehouse.fact_sales")}
    lake_root = f"s3://{BUCKET}/{PREFIX}" if ON_S3 else f"file:{lake.root}"
    assert (described["Provider"], described["Location"]) == (line.table_format, f"{lake_root}/curated/warehouse.db/fact_sales")
    assert lake.sql("SELECT env, status FROM etl_audit.job_runs") == [{"env": line.env, "status": "succeeded"}]
    assert (
        os.environ.get("ETL_BUCKET") is None and os.environ.get("ETL_TABLE_FORMAT") is None
    )  # the test process never had the cluster's settings


def download_raw(s3_server: S3Server, into: Path) -> Lake:
    """The raw zone on the S3 server, copied into a local lake for DuckDB."""
    client = s3_server.client()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/raw/"):
        for item in page.get("Contents", []):
            target = into / item["Key"].removeprefix(f"{PREFIX}/")
            target.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(BUCKET, item["Key"], str(target))
    return Lake(into)
