"""Delta and Iceberg writes through the SQL both formats share. Iceberg runs here (its jar is in the
jar cache); Delta runs where its jars are on the classpath (ETL_TEST_DELTA_JARS), else it skips."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import SparkSession

from etl import formats
from etl.config.models import TableFormat, TargetConfig
from etl.load import acid

SCHEMA = "k bigint, v string, d date"
D1, D2 = date(2024, 1, 1), date(2024, 1, 2)
SESSION_CATALOG = {
    "delta": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "iceberg": "org.apache.iceberg.spark.SparkSessionCatalog",
}


def hosted(spark: SparkSession, table_format: TableFormat) -> None:
    if not formats.runtime_available(spark, table_format):
        pytest.skip(f"{table_format} is not on the classpath ({formats.HOW_TO_ENABLE[table_format].split(':')[0]})")
    if spark.conf.get("spark.sql.catalog.spark_catalog", "") != SESSION_CATALOG[table_format]:
        pytest.skip(f"this test session hosts the other ACID format, not {table_format}")


def rows(spark: SparkSession, table: str) -> list[tuple]:
    return sorted(tuple(r) for r in spark.table(table).select("k", "v", "d").collect())


@pytest.mark.parametrize("table_format", ["iceberg", "delta"])
def test_append_overwrite_partitions_and_merge(spark: SparkSession, make_ctx, table_format: TableFormat) -> None:  # type: ignore[no-untyped-def]
    hosted(spark, table_format)
    table = f"unit_{table_format}.t"
    acid.write(
        spark,
        spark.createDataFrame([(1, "a", D1), (2, "b", D2)], SCHEMA),
        TargetConfig(table=table, mode="append", partition_by=["d"]),
        make_ctx(D1),
        table_format,
    )
    overwrite = TargetConfig(table=table, mode="overwrite_partitions", partition_by=["d"])
    acid.write(spark, spark.createDataFrame([(3, "c", D2)], SCHEMA), overwrite, make_ctx(D2), table_format)
    assert rows(spark, table) == [(1, "a", D1), (3, "c", D2)]
    merge = TargetConfig(table=table, mode="merge", merge_keys=["k"], partition_by=["d"])
    acid.write(spark, spark.createDataFrame([(3, "C", D2), (4, "d", D2)], SCHEMA), merge, make_ctx(D2), table_format)
    assert rows(spark, table) == [(1, "a", D1), (3, "C", D2), (4, "d", D2)]
    whole = TargetConfig(table=table, mode="overwrite", partition_by=["d"])
    acid.write(spark, spark.createDataFrame([(5, "e", D1)], SCHEMA), whole, make_ctx(D1), table_format)
    assert rows(spark, table) == [(5, "e", D1)]

    provider = spark.sql(f"DESCRIBE TABLE EXTENDED {table}").where("col_name = 'Provider'").first()
    assert provider is not None and provider["data_type"] == table_format
    if table_format == "iceberg":  # each write is one commit of the table format: four snapshots
        operations = [r["operation"] for r in spark.sql(f"SELECT operation FROM {table}.snapshots ORDER BY committed_at").collect()]
        assert operations == ["append", "overwrite", "overwrite", "overwrite"]


def test_a_session_hosts_one_acid_format(conf) -> None:  # type: ignore[no-untyped-def]
    from etl.errors import ConfigError
    from etl.session import session_settings

    with pytest.raises(ConfigError, match=r"^conf/env/test.yaml: one Spark application can host delta or iceberg tables, not both"):
        session_settings(conf.env("test"), "x", {"delta", "iceberg"})
