"""Table and column comments from a target's description and columns, as DESCRIBE shows them: written when
a load creates the table, changed by a later load whose config says otherwise, kept by every load mode."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.config import ConfigDir
from etl.config.models import SourceConfig, TableFormat, TargetConfig
from etl.context import DateWindow, RunContext
from etl.errors import LoadError
from etl.extract.cloudfront import parse
from etl.load import write_table
from etl.quality.routing import MARKS
from etl.registry import job_class
from etl.schema import struct
from etl.spark_internals import session_catalog
from etl.transform.rules import DROPPED_BY, QUARANTINED_BY
from etl.zones import Zones
from tests.lanes import TABLE_FORMATS
from tests.unit.test_acid_tables import hosted

SCHEMA = "k bigint, v string, d date"
D1, D2 = date(2024, 1, 1), date(2024, 1, 2)
COLUMNS = {"k": "The key.", "v": "A value, in 'quotes' and \\ backslashes.", "d": "The day (partition)."}


def described(spark: SparkSession, table: str) -> tuple[list[tuple[str, str, str | None]], str | None]:
    """DESCRIBE's column rows (name, type, comment) up to its first blank or # row, and DESCRIBE TABLE EXTENDED's Comment."""
    columns = []
    for row in spark.sql(f"DESCRIBE {table}").collect():
        if not row["col_name"] or row["col_name"].startswith("#"):
            break
        columns.append((row["col_name"], row["data_type"], row["comment"]))
    comment = spark.sql(f"DESCRIBE TABLE EXTENDED {table}").where("col_name = 'Comment'").collect()
    return columns, (comment[0]["data_type"] if comment else None)


@pytest.mark.parametrize("table_format", TABLE_FORMATS)
def test_comments_are_written_at_creation_changed_by_a_later_load_and_kept_by_every_mode(
    spark: SparkSession, make_ctx, table_format: TableFormat, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    if table_format != "parquet":
        hosted(spark, table_format)
    table = f"unit_comments_{table_format}.t"
    first = TargetConfig(table=table, mode="overwrite_partitions", partition_by=["d"], description="Keys per day.", columns=COLUMNS)
    write_table(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), first, table_format, make_ctx(D1))
    assert described(spark, table) == (
        [("k", "bigint", "The key."), ("v", "string", "A value, in 'quotes' and \\ backslashes."), ("d", "date", "The day (partition).")],
        "Keys per day.",
    )

    # changed descriptions: the next load changes the comments; a partition column's stays as created on parquet
    changed = {"k": "The business key.", "v": "A value.", "d": "The day the row is about (partition)."}
    second = first.model_copy(update={"description": "Keys, one row per key and day.", "columns": changed})
    with caplog.at_level(logging.WARNING, logger="etl.catalog"):
        write_table(spark, spark.createDataFrame([(2, "b", D2)], SCHEMA), second, table_format, make_ctx(D2))
    day_comment = "The day (partition)." if table_format == "parquet" else "The day the row is about (partition)."
    after_change = (
        [("k", "bigint", "The business key."), ("v", "string", "A value."), ("d", "date", day_comment)],
        "Keys, one row per key and day.",
    )
    assert described(spark, table) == after_change
    expected_warnings = (
        [f"{table}: the comment of partition column(s) d stays as the table was created"] if table_format == "parquet" else []
    )
    assert [r.getMessage().split(" (Spark")[0] for r in caplog.records if r.name == "etl.catalog"] == expected_warnings

    # the other modes keep them, and change nothing when the config does not: no ALTER, no session-catalog call
    statements: list[str] = []
    run_sql = spark.sql
    monkeypatch.setattr(spark, "sql", lambda query, *args, **kwargs: statements.append(query) or run_sql(query, *args, **kwargs))
    monkeypatch.setattr(session_catalog, "set_column_comments", lambda *args: pytest.fail("comments changed again"))
    for mode, day in (("merge", D2), ("overwrite", D1)):
        again = second.model_copy(update={"mode": mode, "merge_keys": ["k"] if mode == "merge" else []})
        write_table(spark, spark.createDataFrame([(3, "c", day)], SCHEMA), again, table_format, make_ctx(day))
        assert described(spark, table) == after_change, mode
    assert [query for query in statements if query.startswith(("ALTER", "COMMENT"))] == []
    assert sorted(tuple(r) for r in spark.table(table).collect()) == [(3, "c", D1)]


def test_an_unpartitioned_table_keeps_its_comments_through_overwrites(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    table = "unit_comments_parquet.whole"
    target = TargetConfig(table=table, mode="overwrite", description="Whole.", columns={"k": "K.", "v": "V."})
    for day, value in ((D1, "a"), (D2, "b")):
        write_table(spark, spark.createDataFrame([(1, value)], "k bigint, v string"), target, "parquet", make_ctx(day))
    assert described(spark, table) == ([("k", "bigint", "K."), ("v", "string", "V.")], "Whole.")
    assert [tuple(r) for r in spark.table(table).collect()] == [(1, "b")]
    # a table comment only: the columns' stay
    only_table = target.model_copy(update={"description": "Whole, one row.", "columns": {}})
    write_table(spark, spark.createDataFrame([(1, "c")], "k bigint, v string"), only_table, "parquet", make_ctx(D2))
    assert described(spark, table) == ([("k", "bigint", "K."), ("v", "string", "V.")], "Whole, one row.")


def test_a_described_column_the_data_lacks_fails_before_anything_is_written(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_comments_parquet.typo", mode="overwrite", columns={"k": "K.", "value": "V."})
    with pytest.raises(LoadError) as raised:
        write_table(spark, spark.createDataFrame([(1, "a")], "k bigint, v string"), target, "parquet", make_ctx(D1))
    assert str(raised.value) == "unit_comments_parquet.typo: columns describes value, which the data does not have (its columns: k, v)"
    assert not spark.catalog.tableExists("unit_comments_parquet.typo")


def test_an_undescribed_column_is_a_warning(spark: SparkSession, make_ctx, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_comments_parquet.partly", mode="overwrite", columns={"k": "K."})
    with caplog.at_level(logging.WARNING, logger="etl.load.common"):
        write_table(spark, spark.createDataFrame([(1, "a")], "k bigint, v string"), target, "parquet", make_ctx(D1))
    assert [r.getMessage() for r in caplog.records if r.name == "etl.load.common"] == [
        "unit_comments_parquet.partly: column(s) without a description in the job's columns: v"
    ]
    assert described(spark, "unit_comments_parquet.partly") == ([("k", "bigint", "K."), ("v", "string", None)], None)


# --- the demo jobs describe every column of every table they load ---------------------------------------


def demo_outputs(spark: SparkSession, conf: ConfigDir) -> dict[str, dict[str, T.StructType]]:
    """Each demo job's targets' schemas as its run writes them (the routing marks left out): its Job run on
    empty inputs of its sources' schemas (no Spark job runs); a table source without declared columns reads
    the table another demo job loads (daily_kpis)."""
    env = conf.env("test")
    ctx = RunContext("demo", "test", DateWindow(D1, D1), "run", Zones.from_env(env))
    loaded: dict[str, T.StructType] = {}  # table -> schema
    outputs: dict[str, dict[str, T.StructType]] = {}
    for name in DEMO_JOBS:
        config = conf.job(name)
        job = job_class(config)(spark, config, env, conf)
        sources = {source_name: empty_source(spark, source, loaded) for source_name, source in config.sources.items()}
        made = job.transform(ctx, sources)
        made = {target: frame.drop(*ROUTING) for target, frame in made.items()}
        made.update(job.derive(ctx, made))
        outputs[name] = {target: frame.drop(*ROUTING).schema for target, frame in made.items()}
        loaded.update({config.targets[target].table: schema for target, schema in outputs[name].items()})
    return outputs


def empty_source(spark: SparkSession, source: SourceConfig, loaded: dict[str, T.StructType]) -> DataFrame:
    """No rows, with the columns the source's reader gives (its daily folder's key as a date)."""
    if source.format == "cloudfront":
        frame = parse(spark.createDataFrame([], "value string, dt string"))
    elif source.format == "table" and not source.columns:
        assert source.table is not None
        return spark.createDataFrame([], loaded[source.table])
    else:
        frame = spark.createDataFrame([], struct(source.types))
        if source.date_partition:
            frame = frame.withColumn(source.date_partition, F.lit(None).cast("string"))
    return frame.withColumn(source.date_partition, F.col(source.date_partition).cast("date")) if source.date_partition else frame


ROUTING = (*MARKS, DROPPED_BY, QUARANTINED_BY)  # the rows' routing, which the run takes off before the write
DEMO_JOBS = ("sales_warehouse", "clickstream_sessions", "iot_telemetry", "daily_kpis")


def test_demo_jobs_describe_every_column_of_every_table_they_load(spark: SparkSession, conf: ConfigDir) -> None:
    undescribed = {}
    for job, targets in demo_outputs(spark, conf).items():
        config = conf.job(job)
        assert set(targets) == set(config.targets), job
        for target, schema in targets.items():
            described = config.targets[target]
            if described.description is None or set(described.columns) != set(schema.names):
                undescribed[f"{job}.{target}"] = (described.description, sorted(set(schema.names) ^ set(described.columns)))
    assert undescribed == {}
