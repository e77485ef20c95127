"""Load modes against real Hive-registered Parquet tables in the test session's Derby metastore."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl import catalog
from etl.config.models import TargetConfig
from etl.errors import LoadError
from etl.load import parquet
from etl.zones import local_path

SCHEMA = "k bigint, v string, d date"
D1, D2, D3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


def rows(spark: SparkSession, table: str) -> list[tuple]:
    return sorted(tuple(r) for r in spark.table(table).select("k", "v", "d").collect())


def test_append_then_overwrite_partitions_replaces_only_present_partitions(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.by_day", mode="append", partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(1, "a", D1), (2, "b", D2)], SCHEMA), target, make_ctx(D1))
    parquet.write(spark, spark.createDataFrame([(3, "c", D2)], SCHEMA), target, make_ctx(D2))
    assert rows(spark, "unit_load.by_day") == [(1, "a", D1), (2, "b", D2), (3, "c", D2)]

    overwrite = TargetConfig(table="unit_load.by_day", mode="overwrite_partitions", partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(4, "d", D2), (5, "e", D3)], SCHEMA), overwrite, make_ctx(D2))
    assert rows(spark, "unit_load.by_day") == [(1, "a", D1), (4, "d", D2), (5, "e", D3)]
    partitions = sorted(r[0] for r in spark.sql("SHOW PARTITIONS unit_load.by_day").collect())
    assert partitions == ["d=2024-01-01", "d=2024-01-02", "d=2024-01-03"]


def test_database_and_table_live_in_the_curated_zone(spark: SparkSession, make_ctx, zones) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_where.t", mode="append", partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), target, make_ctx(D1))
    database = spark.sql("DESCRIBE DATABASE unit_where").where("info_name = 'Location'").first()
    assert database is not None and catalog.same_spelling(database["info_value"]) == f"{zones.curated}/unit_where.db"
    assert catalog.current_location(spark, "unit_where.t") == f"{zones.curated}/unit_where.db/t"
    folder = local_path(zones.curated)
    assert folder is not None and (folder / "unit_where.db" / "t" / "d=2024-01-01").is_dir()


def test_overwrite_unpartitioned_swaps_folder_and_returns_old_one(spark: SparkSession, make_ctx, zones) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.whole", mode="overwrite")
    first = parquet.write(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), target, make_ctx(D1))
    assert first == []  # the table was created at this run's folder
    before = catalog.current_location(spark, "unit_load.whole")
    # reading the table while overwriting it is fine: the new data goes to a new folder
    grown = spark.table("unit_load.whole").select("k", "v", "d").union(spark.createDataFrame([(2, "b", D2)], SCHEMA))
    superseded = parquet.write(spark, grown, target, make_ctx(D2))
    assert superseded == [before]
    assert rows(spark, "unit_load.whole") == [(1, "a", D1), (2, "b", D2)]
    after = catalog.current_location(spark, "unit_load.whole")
    assert after != before and after.startswith(f"{zones.curated}/unit_load.db/whole/run-")


def test_merge_upserts_on_keys_within_touched_partitions(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.merged", mode="merge", merge_keys=["k"], partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(1, "a", D1), (2, "b", D2), (3, "c", D2)], SCHEMA), target, make_ctx(D1))
    parquet.write(spark, spark.createDataFrame([(2, "B", D2), (4, "d", D2)], SCHEMA), target, make_ctx(D2))
    assert rows(spark, "unit_load.merged") == [(1, "a", D1), (2, "B", D2), (3, "c", D2), (4, "d", D2)]


def test_merge_unpartitioned(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.merged_flat", mode="merge", merge_keys=["k", "d"])
    parquet.write(spark, spark.createDataFrame([(1, "a", D1), (1, "a", D2)], SCHEMA), target, make_ctx(D1))
    superseded = parquet.write(spark, spark.createDataFrame([(1, "z", D2), (9, "n", D3)], SCHEMA), target, make_ctx(D2))
    assert rows(spark, "unit_load.merged_flat") == [(1, "a", D1), (1, "z", D2), (9, "n", D3)]
    assert len(superseded) == 1


def test_schema_mismatch_is_a_clear_error(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.strict", mode="append")
    parquet.write(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), target, make_ctx(D1))
    with pytest.raises(LoadError) as error:
        parquet.write(spark, spark.createDataFrame([(1, 2, D1)], "k bigint, v int, d date"), target, make_ctx(D1))
    assert str(error.value) == (
        "unit_load.strict: the data's columns do not match the table: table has (k bigint, v string, d date), data has (k bigint, v int, d date)"
    )


def test_partition_column_missing_from_data(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.nopart", mode="overwrite_partitions", partition_by=["day"])
    with pytest.raises(LoadError, match=r"^unit_load.nopart: the data has no column\(s\) day named in partition_by/merge_keys$"):
        parquet.write(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), target, make_ctx(D1))


def test_files_per_partition_is_one(spark: SparkSession, make_ctx, zones) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.files", mode="overwrite_partitions", partition_by=["d"])
    data = spark.createDataFrame([(k, "x", D1 if k % 2 else D2) for k in range(40)], SCHEMA).repartition(4)
    parquet.write(spark, data, target, make_ctx(D1))
    root = local_path(zones.curated)
    assert root is not None
    for day in ("d=2024-01-01", "d=2024-01-02"):
        files = [p for p in Path(root / "unit_load.db" / "files" / day).iterdir() if p.suffix == ".parquet"]
        assert len(files) == 1
