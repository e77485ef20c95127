"""Config values that reach SQL are validated identifiers, and text values are literals Spark reads back unchanged."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pyspark.sql import SparkSession

from etl import catalog
from etl.config.models import SourceConfig, TargetConfig


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"table": "warehouse.t; DROP TABLE warehouse.fact_sales"}, "is not a table name of the form database.table"),
        ({"table": "warehouse.`t`"}, "is not a table name of the form database.table"),
        ({"table": "w.t", "partition_by": ["d) LOCATION 's3://x'"]}, "is not a valid identifier"),
        ({"table": "w.t", "mode": "merge", "merge_keys": ["k = k OR 1=1"]}, "is not a valid identifier"),
    ],
)
def test_target_names_that_would_inject_sql_are_rejected(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        TargetConfig.model_validate({"mode": "append", **fields})


def test_source_columns_and_types_that_would_inject_sql_are_rejected() -> None:
    with pytest.raises(ValidationError, match="is not a valid identifier"):
        SourceConfig.model_validate({"format": "csv", "path": "x", "columns": {"a int, b": "string"}})
    with pytest.raises(ValidationError):
        SourceConfig.model_validate({"format": "csv", "path": "x", "columns": {"a": "int) USING csv --"}})


def test_quote_accepts_identifiers_only() -> None:
    assert catalog.quote("warehouse.fact_sales") == "`warehouse`.`fact_sales`"
    for bad in ("a`b", "a b", "a;b", "1a", ""):
        with pytest.raises(ValueError):
            catalog.quote(bad)


@pytest.mark.parametrize(
    "text",
    ["1992-01-01' OR '1'='1", "x'; DROP TABLE warehouse.fact_sales; --", "back\\slash\\' quote", "s3://b/p/x'y", "ünïcode \t tab"],
)
def test_literals_read_back_unchanged_by_spark(spark: SparkSession, text: str) -> None:
    # Spark's own parser is the independent judge: the literal must be exactly one string value, the text itself.
    [row] = spark.sql(f"SELECT {catalog.literal(text)} AS v").collect()
    assert row["v"] == text
