"""Readers for json, parquet and table sources, with the run's days only."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from pyspark.sql import SparkSession

from etl.config.models import SourceConfig
from etl.extract import read_source
from etl.zones import Zones, local_path

D1, D2, D3 = date(2023, 3, 1), date(2023, 3, 2), date(2023, 3, 3)


def test_json_reads_only_the_window_with_the_declared_schema(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    root = local_path(zones.raw)
    assert root is not None
    for day, rows in (
        (D1, [{"id": 1, "amount": "1.50"}]),
        (D2, [{"id": 2, "amount": "2.25"}, {"id": 3}]),
        (D3, [{"id": 4, "amount": "9"}]),
    ):
        folder = root / "unit_readers" / "events" / f"dt={day}"
        folder.mkdir(parents=True)
        (folder / "part.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    source = SourceConfig(
        format="json", path="unit_readers/events", date_partition="dt", columns={"id": "bigint", "amount": "decimal(10,2)"}
    )
    frame = read_source(spark, "events", source, make_ctx(D1, D2))
    assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == [
        ("id", "bigint"),
        ("amount", "decimal(10,2)"),
        ("dt", "date"),
    ]
    assert sorted(tuple(r) for r in frame.collect()) == [(1, Decimal("1.50"), D1), (2, Decimal("2.25"), D2), (3, None, D2)]


def test_parquet_and_table_sources(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    spark.createDataFrame([(1, "x"), (2, "y")], "id bigint, name string").write.mode("overwrite").parquet(
        f"{zones.raw}/unit_readers/snapshot"
    )
    frame = read_source(spark, "snapshot", SourceConfig(format="parquet", path="unit_readers/snapshot"), make_ctx(D1))
    assert sorted(tuple(r) for r in frame.collect()) == [(1, "x"), (2, "y")]

    missing = SourceConfig(format="table", table="unit_readers.not_yet", optional=True, columns={"id": "bigint"})
    empty = read_source(spark, "previous", missing, make_ctx(D1))
    assert (empty.columns, empty.count()) == (["id"], 0)
    with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
        read_source(spark, "previous", SourceConfig(format="table", table="unit_readers.not_yet"), make_ctx(D1))


def csv_source(zones: Zones, name: str, text: str, columns: dict[str, str]) -> SourceConfig:
    """One day (D1) of a CSV extract under <raw>/unit_readers/<name>, and its source config."""
    root = local_path(zones.raw)
    assert root is not None
    folder = root / "unit_readers" / name / f"dt={D1}"
    folder.mkdir(parents=True)
    (folder / "part.csv").write_text(text)
    return SourceConfig(format="csv", path=f"unit_readers/{name}", date_partition="dt", allow_empty=True, columns=columns)


def test_malformed_csv_line_fails_the_read(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    source = csv_source(zones, "bad", "id,amount\n1,2.50\ntwo,3.00\n", {"id": "bigint", "amount": "decimal(10,2)"})
    with pytest.raises(Exception, match="Malformed records are detected in record parsing"):
        read_source(spark, "bad", source, make_ctx(D1)).collect()


def test_csv_header_must_match_the_declared_columns(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    from py4j.protocol import Py4JJavaError

    from etl.job import one_line

    # 'name' was left out of the config: read by position, amount would get the names
    source = csv_source(zones, "shifted", "id,name,amount\n1,a,2.50\n", {"id": "bigint", "amount": "string"})
    with pytest.raises(Py4JJavaError) as error:
        read_source(spark, "shifted", source, make_ctx(D1)).collect()
    assert one_line(error.value) == (
        "IllegalArgumentException: Number of column in CSV header is not equal to number of fields in the schema: "
        f"Header length: 3, schema size: 2 CSV file: {zones.raw}/unit_readers/shifted/dt={D1}/part.csv"
    )
