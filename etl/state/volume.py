"""The volume check: an input far smaller or larger than usual stops the run before it writes.

A nightly extract that arrives with a tenth of its rows (a partial export) or ten times as many (a
duplicated one) is valid row by row, so no expectation catches it. The check compares the rows per
day the run read from a source with the median of the job's previous successful runs in the audit log.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl import catalog
from etl.config.models import VolumeCheck
from etl.state.audit import AUDIT_TABLE


def judge(source: str, rows: int, days: int, earlier: Sequence[float], check: VolumeCheck) -> str | None:
    """The one-line problem, or None when the volume is usual (or there is too little history to tell)."""
    if len(earlier) < check.min_runs:
        return None
    usual = statistics.median(earlier)
    rate = rows / days
    low, high = check.min_ratio * usual, check.max_ratio * usual
    if low <= rate <= high:
        return None
    side = "below" if rate < low else "above"
    return (
        f"source {source}: {rate:g} rows per day, {side} the usual range {low:g}..{high:g} "
        f"({check.min_ratio:g}x..{check.max_ratio:g}x the median {usual:g} of the last {len(earlier)} successful runs); "
        "if this volume is right, rerun with the bounds of the source's `volume` changed"
    )


def earlier_rates(spark: SparkSession, job: str, source: str, history: int) -> list[float]:
    """Rows per day read from the source by the job's latest successful runs (newest first)."""
    if not catalog.table_exists(spark, AUDIT_TABLE):
        return []
    days = F.datediff("run_date", "window_start") + 1
    rows = (
        spark.table(AUDIT_TABLE)
        .where((F.col("job") == F.lit(job)) & (F.col("status") == "succeeded") & F.col("rows_read").getItem(source).isNotNull())
        .orderBy(F.col("started_at").desc())
        .limit(history)
        .select((F.col("rows_read").getItem(source) / days).alias("rate"))
        .collect()
    )
    return [float(row.rate) for row in rows]
