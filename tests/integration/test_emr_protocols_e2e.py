"""sales_warehouse over the protocols EMR uses, with real servers: the lake on an S3 API server (the
same s3:// URIs as on EMR, through S3A) and the tables in a Hive metastore service on MariaDB, reached
over thrift:// only (env local-emr). Expected values: DuckDB over the raw extracts, fetched back from S3."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from etl.dev.metastore import HiveMetastore
from etl.dev.s3 import S3Server
from etl.state.audit import AUDIT_TARGET
from etl.state.lock import COMMENTS as LOCK_COMMENTS
from tests.integration.conftest import AWS_ENV, REPO, Lake, hive_table
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

pytestmark = [pytest.mark.integration, needs_jars("hadoop-aws", "aws-java-sdk-bundle")]

CATALOG_SQL = (
    "DESCRIBE TABLE EXTENDED warehouse.fact_sales",
    "DESCRIBE TABLE EXTENDED warehouse.agg_sales_daily",
    "DESCRIBE TABLE EXTENDED warehouse.dim_customer",
    "SHOW PARTITIONS warehouse.fact_sales",
    "SHOW PARTITIONS warehouse.agg_sales_daily",
    "SHOW TABLES IN warehouse",
    "SELECT env, status, window_start, run_date FROM etl_audit.job_runs ORDER BY started_at",
)

BUCKET, PREFIX = "etl-lake", "e2e"
FIRST, LAST = "1992-01-01", "1992-01-04"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, metastore: HiveMetastore) -> Lake:
    """demo-data into s3://etl-lake/e2e/raw, a backfill of three days, then the fourth day as a nightly run."""
    s3_server.create_bucket(BUCKET)
    environ = {
        **AWS_ENV,
        "ETL_BUCKET": BUCKET,
        "ETL_PREFIX": PREFIX,
        "ETL_S3_ENDPOINT": s3_server.endpoint,
        "ETL_METASTORE_URIS": metastore.uris,
    }
    lake = Lake(tmp_path_factory.mktemp("emr-protocols") / "state", env="local-emr", environ=environ)
    lake.etl_ok("demo-data", "--env", "local-emr", "--scale", "0.01", "--from", FIRST, "--to", LAST)
    lake.etl_ok("backfill", "sales_warehouse", "--env", "local-emr", "--from", FIRST, "--to", "1992-01-03")
    lake.etl_ok("run", "sales_warehouse", "--env", "local-emr", "--run-date", LAST)
    lake.prefetch(*WAREHOUSE_SQL, *CATALOG_SQL)
    return lake


def keys(s3_server: S3Server, prefix: str) -> list[str]:
    pages = s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/{prefix}")
    return sorted(item["Key"].removeprefix(f"{PREFIX}/") for page in pages for item in page.get("Contents", []))


@pytest.fixture(scope="module")
def raw_copy(lake: Lake, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """The raw zone downloaded from the S3 server with boto3, for DuckDB."""
    root = tmp_path_factory.mktemp("raw-copy")
    for key in keys(s3_server, "raw/"):
        target = root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        s3_server.client().download_file(BUCKET, f"{PREFIX}/{key}", str(target))
    return Lake(root)


def test_tables_on_s3_equal_the_raw_extracts(lake: Lake, raw_copy: Lake) -> None:
    facts = expected_fact_keys(raw_copy, FIRST, LAST)
    assert fact_keys(lake) == facts and len(facts) > 100
    assert dimension_rows(lake) == expected_dimension(raw_copy, FIRST, LAST)
    assert aggregate_rows(lake) == expected_aggregates(raw_copy, FIRST, LAST)


def test_metastore_and_storage_agree(lake: Lake, s3_server: S3Server, raw_copy: Lake) -> None:
    order_days = sorted({day for _, _, day, _ in expected_fact_keys(raw_copy, FIRST, LAST)})
    for table in ("fact_sales", "agg_sales_daily"):
        location = lake.sql(f"DESCRIBE TABLE EXTENDED warehouse.{table}")
        assert [r["data_type"] for r in location if r["col_name"] == "Location"] == [f"s3://{BUCKET}/{PREFIX}/curated/warehouse.db/{table}"]
        registered = [r["partition"] for r in lake.sql(f"SHOW PARTITIONS warehouse.{table}")]
        # the folders holding Parquet: <table>/run-<run_id>/etl_rows=loaded/order_date=<day>, one per partition (a folder an
        # earlier run left behind would show the same partition twice)
        holding = sorted({Path(key).parent for key in keys(s3_server, f"curated/warehouse.db/{table}/") if key.endswith(".parquet")})
        assert all(
            folder.parent.name == "etl_rows=loaded"
            and folder.parent.parent.name.startswith("run-")
            and folder.parent.parent.parent.name == table
            for folder in holding
        )
        stored = sorted(folder.name for folder in holding)
        assert registered == stored == [f"order_date={day}" for day in order_days]
    # the SCD2 dimension is rewritten whole: its location holds the data, no earlier run's folder is left
    [location] = [r["data_type"] for r in lake.sql("DESCRIBE TABLE EXTENDED warehouse.dim_customer") if r["col_name"] == "Location"]
    folders = {Path(key).parent for key in keys(s3_server, "curated/warehouse.db/dim_customer/") if key.endswith(".parquet")}
    assert {(folder.parent.name, folder.name) for folder in folders} == {tuple(location.rsplit("/", 2)[1:])}


def test_a_second_application_sees_the_tables_through_the_metastore_service(lake: Lake) -> None:
    # every `etl sql` is its own Spark application; nothing of the metastore lives locally
    assert sorted(r["tableName"] for r in lake.sql("SHOW TABLES IN warehouse")) == ["agg_sales_daily", "dim_customer", "fact_sales"]
    assert not (lake.root / "metastore_db").exists()
    audit = lake.sql("SELECT env, status, window_start, run_date FROM etl_audit.job_runs ORDER BY started_at")
    assert audit == [
        {"env": "local-emr", "status": "succeeded", "window_start": FIRST, "run_date": "1992-01-03"},
        {"env": "local-emr", "status": "succeeded", "window_start": LAST, "run_date": LAST},
    ]


def test_the_metastore_service_holds_each_table_and_column_description_as_its_comment(lake: Lake, metastore: HiveMetastore) -> None:
    """As Glue / Athena / Trino would read them: the table's `comment` parameter, and each column's comment,
    partition columns included, exactly as conf/jobs/sales_warehouse.yaml writes them."""
    targets = yaml.safe_load((REPO / "conf" / "jobs" / "sales_warehouse.yaml").read_text())["targets"]
    for target in targets.values():
        table = hive_table(metastore, target["table"])
        assert table.parameters["comment"] == target["description"]
        assert {column.name: column.comment for column in [*table.sd.cols, *table.partitionKeys]} == target["columns"]
        # and `etl sql "DESCRIBE ..."` shows them
        described = lake.sql(f"DESCRIBE TABLE EXTENDED {target['table']}")
        columns = {
            row["col_name"]: row["comment"] for row in described[: described.index({"col_name": "", "data_type": "", "comment": ""})]
        }
        assert {name: comment for name, comment in columns.items() if not name.startswith("#")} == target["columns"]
        assert [row["data_type"] for row in described if row["col_name"] == "Comment"] == [target["description"]]
    # the framework's own tables describe themselves too
    for name, comments in (("etl_audit.job_runs", AUDIT_TARGET.columns), ("etl_audit.job_locks", LOCK_COMMENTS.columns)):
        table = hive_table(metastore, name)
        assert {column.name: column.comment for column in [*table.sd.cols, *table.partitionKeys]} == comments
    assert hive_table(metastore, "etl_audit.job_runs").parameters["comment"] == AUDIT_TARGET.description
