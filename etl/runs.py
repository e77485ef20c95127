"""`etl runs`: the recent runs of the audit table (etl_audit.job_runs) for a person, as an aligned table,
or for a tool, one JSON object per run with the full per-source and per-target counts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl import catalog
from etl.state.audit import AUDIT_TABLE, RunRecord
from etl.text_table import aligned

HEADER = ["job", "run date", "status", "duration", "rows read", "loaded", "quarantined", "dropped", "validation", "error"]
NUMBERS = [4, 5, 6, 7]  # the columns right-aligned
UNKNOWN = "-"


def read_runs(spark: SparkSession, job: str | None, last: int) -> list[RunRecord] | None:
    """The `last` runs (of one job, or of all), newest first; None when no run was ever recorded (no audit table)."""
    if not catalog.table_exists(spark, AUDIT_TABLE):
        return None
    frame = spark.table(AUDIT_TABLE)
    if job is not None:
        frame = frame.where(F.col("job") == job)
    rows = frame.orderBy(F.col("started_at").desc(), F.col("run_id").desc()).limit(last).collect()
    return [_record(row.asDict()) for row in rows]


def _record(row: dict[str, Any]) -> RunRecord:
    """PySpark gives timestamps as naive local times: made UTC, as the run wrote them."""
    for name in ("started_at", "ended_at"):
        if row[name] is not None:
            row[name] = row[name].astimezone(UTC)
    for name in ("rows_read", "rows_malformed", "rows_written", "rows_quarantined", "rows_dropped"):
        row[name] = dict(row[name] or {})
    return RunRecord(**row)


# --- for a person ---------------------------------------------------------------------------------------


def runs_table(runs: Sequence[RunRecord], fit: int | None = None) -> list[str]:
    """The runs as given (newest first), one line each; the error cut to fit `fit` characters a line."""
    rows = [
        [
            run.job,
            run_dates(run),
            run.status,
            duration(run),
            *counts(run),
            run.validation,
            " ".join((run.error or "").split()),
        ]
        for run in runs
    ]
    return aligned(HEADER, rows, right=NUMBERS, fit=fit)


def run_dates(run: RunRecord) -> str:
    """The run date, or the window first..last of a backfill."""
    return str(run.run_date) if run.window_start in (None, run.run_date) else f"{run.window_start}..{run.run_date}"


def duration(run: RunRecord) -> str:
    """45s, 1m 05s, 2h 03m 09s; `-` for a run that has not ended."""
    if run.ended_at is None:
        return UNKNOWN
    seconds = round((run.ended_at - run.started_at).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m {seconds:02d}s"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def totals(run: RunRecord) -> tuple[int, int, int, int] | None:
    """(read, loaded, quarantined, dropped) summed over sources / targets / rules, quarantined counting the
    malformed lines too; None when the run counted nothing (it failed before reading).

    Read counts the run's own input: the sources whose malformed lines it counts (raw files of its window).
    A source read as the context of earlier days, or a table read back, would count the same rows night
    after night; they are in the JSON. A job that reads only tables: every source."""
    if not run.rows_read:
        return None
    own = run.rows_malformed.keys() or run.rows_read.keys()
    read = sum(run.rows_read.get(name, 0) for name in own)
    quarantined = sum(run.rows_malformed.values()) + sum(run.rows_quarantined.values())
    return read, sum(run.rows_written.values()), quarantined, sum(run.rows_dropped.values())


def counts(run: RunRecord) -> list[str]:
    found = totals(run)
    return [UNKNOWN] * 4 if found is None else [f"{count:,}" for count in found]


# --- for a tool -----------------------------------------------------------------------------------------


def run_json(run: RunRecord) -> str:
    """One line of JSON: every field of the audit row (the maps whole), dates and times in ISO 8601."""
    return json.dumps(asdict(run), default=_iso)


def _iso(value: Any) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
