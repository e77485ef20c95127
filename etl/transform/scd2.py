"""Slowly changing dimension, type 2, as a pure function of all known versions."""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

OPEN_END = date(9999, 12, 31)


def scd2_history(versions: DataFrame, keys: list[str], tracked: list[str], valid_from: str = "valid_from") -> DataFrame:
    """Full-image versions (one row per key and valid_from) -> SCD2 rows.

    A version equal to the one before it (in every tracked column) is no change and is dropped;
    valid_to is the next version's valid_from (exclusive), or 9999-12-31 for the current version.
    Rebuilding from all versions makes the result independent of the order the days were loaded in.
    """
    by_key = Window.partitionBy(*keys).orderBy(valid_from)
    attributes = F.struct(*tracked)
    changes = versions.withColumn("_previous", F.lag(attributes).over(by_key)).where(
        F.col("_previous").isNull() | ~F.col("_previous").eqNullSafe(attributes)
    )
    return (
        changes.drop("_previous")
        .withColumn("valid_to", F.lead(valid_from, 1, OPEN_END).over(by_key))
        .withColumn("is_current", F.col("valid_to") == F.lit(OPEN_END))
    )


def outside(window_first: date, window_last: date, column: str = "valid_from") -> Column:
    """Rows whose version starts outside the window: the ones a rerun of the window keeps."""
    return ~F.col(column).between(F.lit(window_first), F.lit(window_last))
