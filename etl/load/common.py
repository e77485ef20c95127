"""What every table format's writer shares: matching the table's schema and the overwrite mode."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import DataFrame, SparkSession

from etl import catalog
from etl.config.models import TargetConfig
from etl.errors import LoadError
from etl.schema import describe, nullable
from etl.zones import Zones

_OVERWRITE_MODE = "spark.sql.sources.partitionOverwriteMode"

# A staged write's routing (etl/quality/routing.py): its first folder level, etl_rows=loaded or
# etl_rows=quarantined, and for a quarantined row the names of the rules it failed.
ROUTE = "etl_rows"
LOADED, QUARANTINED = "loaded", "quarantined"
FAILED_RULES = "_etl_failed_rules"


@contextmanager
def partition_overwrite_mode(spark: SparkSession, mode: str) -> Iterator[None]:
    """insertInto ignores the write option, so the session setting is switched for the one write."""
    before = str(spark.conf.get(_OVERWRITE_MODE, "static"))
    spark.conf.set(_OVERWRITE_MODE, mode)
    try:
        yield
    finally:
        spark.conf.set(_OVERWRITE_MODE, before)


def ensure_table(spark: SparkSession, df: DataFrame, target: TargetConfig, zones: Zones, table_format: str, location: str) -> bool:
    """Create the target's database and table if missing; True when the table was created now (so it is empty)."""
    database = target.table.split(".")[0]
    catalog.ensure_database(spark, zones, database)
    missing = [column for column in [*target.partition_by, *target.merge_keys] if column not in df.columns]
    if missing:
        raise LoadError(f"{target.table}: the data has no column(s) {', '.join(missing)} named in partition_by/merge_keys")
    if catalog.table_exists(spark, target.table):
        return False
    catalog.create_table(spark, target.table, df.schema, target.partition_by, table_format, location)
    return True


def conform(spark: SparkSession, df: DataFrame, table: str) -> DataFrame:
    """The data's columns in the table's order; a clear error when names or types differ (no silent casts)."""
    expected = spark.table(table).schema
    actual = df.schema
    # Nullability inside a type aside: a table's arrays, maps and structs admit nulls, and Spark decides
    # whether a computed array can hold one (4.0 says no more often than 3.5); the write admits either.
    expected_types = {f.name: nullable(f.dataType) for f in expected.fields}
    actual_types = {f.name: nullable(f.dataType) for f in actual.fields}
    if expected_types != actual_types:
        raise LoadError(
            f"{table}: the data's columns do not match the table: table has ({describe(expected)}), data has ({describe(actual)})"
        )
    return df.select(*expected.names)
