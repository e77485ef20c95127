"""Sessions: a visitor's events, cut wherever the visitor was inactive for longer than a timeout.

Window functions only (one sort per visitor, no Python on the rows): the gap to the visitor's previous
event decides whether an event starts a session; a running maximum carries each session's start to its
later events. A session is named by its visitor and start, so every run that sees the same events
names it the same, whichever day's run computes it.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def sessionize(events: DataFrame, visitor: str, at: str, timeout_seconds: int, tie_break: str) -> DataFrame:
    """`events` with session_start (the time of the session's first event) and session_id
    (<visitor>-<start as yyyyMMdd'T'HHmmss>). A gap of exactly the timeout stays in the session;
    `tie_break` orders events of one visitor at the same time (a request id)."""
    by_visitor = Window.partitionBy(visitor).orderBy(at, tie_break)
    seconds = F.col(at).cast("long")
    gap = seconds - F.lag(seconds).over(by_visitor)
    starts = events.withColumn("_starts_session", gap.isNull() | (gap > timeout_seconds))
    so_far = by_visitor.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    with_start = starts.withColumn("session_start", F.max(F.when(F.col("_starts_session"), F.col(at))).over(so_far))
    session_id = F.concat(F.col(visitor), F.lit("-"), F.date_format("session_start", "yyyyMMdd'T'HHmmss"))
    return with_start.withColumn("session_id", session_id).drop("_starts_session")
