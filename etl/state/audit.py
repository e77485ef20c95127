"""The run log: one row per run in etl_audit.job_runs, written on success and on failure."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl import catalog
from etl.config.models import TargetConfig
from etl.context import RunContext
from etl.errors import one_line
from etl.load import parquet
from etl.spark_internals import fs
from etl.zones import join

log = logging.getLogger(__name__)

AUDIT_TABLE = "etl_audit.job_runs"

_COUNTS = T.MapType(T.StringType(), T.LongType())
AUDIT_SCHEMA = T.StructType(
    [
        T.StructField("job", T.StringType()),
        T.StructField("run_id", T.StringType()),
        T.StructField("env", T.StringType()),
        T.StructField("run_date", T.DateType()),
        T.StructField("window_start", T.DateType()),
        T.StructField("status", T.StringType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("ended_at", T.TimestampType()),
        T.StructField("rows_read", _COUNTS),
        T.StructField("rows_malformed", _COUNTS),
        T.StructField("rows_written", _COUNTS),
        T.StructField("rows_quarantined", _COUNTS),
        T.StructField("rows_dropped", _COUNTS),
        T.StructField("accounting", T.StringType()),
        T.StructField("validation", T.StringType()),
        T.StructField("error", T.StringType()),
    ]
)


AUDIT_TARGET = TargetConfig(
    table=AUDIT_TABLE,
    mode="append",
    description="The run log: one row per run of a job (batch run, backfill, or a stream's run), written when it ends, succeeded or failed.",
    columns={
        "job": "The job's name (conf/jobs/<job>.yaml).",
        "run_id": "The run's id: its UTC start time and 8 random hex digits, e.g. 20260101T020000Z-1a2b3c4d.",
        "env": "The env the run ran in (conf/env/<env>.yaml).",
        "run_date": "The last day of the run's window: the date it was run for (--run-date).",
        "window_start": "The first day of the run's window; equal to run_date unless a backfill ran several days at once.",
        "status": "succeeded or failed.",
        "started_at": "When the run started (UTC).",
        "ended_at": "When the run ended, succeeded or failed (UTC).",
        "rows_read": "Per source: the lines or rows read, malformed ones included.",
        "rows_malformed": "Per source: the lines that did not parse, kept as raw text in quarantine.<job>_<source>.",
        "rows_written": "Per target: the rows loaded into its table.",
        "rows_quarantined": "Per target: the rows that failed a rule of severity quarantine, kept in quarantine.<table>.",
        "rows_dropped": "Per <target>.<rule>: the rows a named business rule dropped (not loaded, not quarantined).",
        "accounting": "Per target with rows_from: read = malformed + loaded + quarantined + dropped, or why the counts did not add up.",
        "validation": "The expectation suites' verdict: passed, warned, failed, or skipped (no suite).",
        "error": "Why the run failed, in one line; null when it succeeded.",
    },
)


@dataclass
class RunRecord:
    job: str
    run_id: str
    env: str
    run_date: date
    window_start: date
    started_at: datetime
    status: str = "running"
    ended_at: datetime | None = None
    rows_read: dict[str, int] = field(default_factory=dict)  # per source, every line read (malformed ones too)
    rows_malformed: dict[str, int] = field(default_factory=dict)  # per source: lines quarantined as raw text
    rows_written: dict[str, int] = field(default_factory=dict)  # per target loaded
    rows_quarantined: dict[str, int] = field(default_factory=dict)  # per target: rows failing a quarantine rule
    rows_dropped: dict[str, int] = field(default_factory=dict)  # per <target>.<business rule>
    accounting: str | None = None  # the row-accounting equation per target with rows_from, or why it failed
    validation: str = "skipped"
    error: str | None = None

    @classmethod
    def start(cls, ctx: RunContext, started_at: datetime) -> RunRecord:
        return cls(ctx.job, ctx.run_id, ctx.env, ctx.run_date, ctx.window.first, started_at)


def write_run(spark: SparkSession, ctx: RunContext, record: RunRecord) -> None:
    """Append the run's row (parquet, whatever the env's table format).

    Once the table exists, the row is one file moved into the table's folder: a reader sees it whole or
    not at all, runs of other jobs appending at the same moment each add their own (each writes in a
    folder of its own first; Spark's writes into one folder at once would clash), and the cost stays the
    same however long the log grows."""
    row = asdict(record)
    frame = spark.createDataFrame([tuple(row[name] for name in AUDIT_SCHEMA.names)], AUDIT_SCHEMA)
    if not catalog.table_exists(spark, AUDIT_TABLE):
        for folder in parquet.write(spark, frame, AUDIT_TARGET, ctx):
            fs.delete(spark, folder)
        return
    location = catalog.current_location(spark, AUDIT_TABLE)
    incoming = join(location, f"_incoming-{ctx.run_id}")  # a leading _: no reader looks inside
    frame.coalesce(1).write.parquet(incoming)
    [written] = [join(incoming, name) for name in fs.list_files(spark, incoming) if name.endswith(".parquet")]
    fs.rename(spark, written, join(location, f"part-{ctx.run_id}.parquet"))
    fs.delete(spark, incoming)
    catalog.forget_metadata(spark, AUDIT_TABLE)
    try:  # after the row: a run's audit row must not wait on, or fail for, the table's comments
        catalog.comment_table(spark, AUDIT_TABLE, "parquet", catalog.Comments.of(AUDIT_TARGET))
    except Exception as error:
        log.warning("%s: its comments were not updated: %s", AUDIT_TABLE, one_line(error))
