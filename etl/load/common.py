"""What every table format's writer shares: matching the table's schema and the overwrite mode."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import DataFrame, SparkSession

from etl import catalog
from etl.config.models import TargetConfig
from etl.errors import LoadError
from etl.schema import describe, nullable
from etl.zones import Zones

log = logging.getLogger(__name__)

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
    check_described(df, target)
    if catalog.table_exists(spark, target.table):
        return False
    catalog.create_table(spark, target.table, df.schema, target.partition_by, table_format, location, catalog.Comments.of(target))
    return True


def check_described(df: DataFrame, target: TargetConfig) -> None:
    """A target that describes its columns describes the data's: one it describes that the data lacks is an
    error (a typo, or a column the job no longer makes), one it does not describe a warning."""
    if not target.columns:
        return
    unknown = [column for column in target.columns if column not in df.columns]
    if unknown:
        raise LoadError(
            f"{target.table}: columns describes {', '.join(unknown)}, which the data does not have (its columns: {', '.join(df.columns)})"
        )
    undescribed = [column for column in df.columns if column not in target.columns]
    if undescribed:
        log.warning("%s: column(s) without a description in the job's columns: %s", target.table, ", ".join(undescribed))


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
