"""File bookmarks: a source declared `incremental` reads only the files no other run date has taken.

Like AWS Glue job bookmarks, kept with the audit log: etl_audit.bookmarks holds, for each job and run
date, the files (URI, size, modification time) its last successful run read from each incremental
source. A run for day D reads the source's files minus those other run dates took, and records what it
read when it succeeds. So an hourly or nightly run picks up exactly the files that arrived since the
runs before it; a failed run records nothing, so its rerun picks up the same files again; a rerun of a
day that succeeded takes its files again (with any that arrived since and no other day took), and
replaces that day's record. A file rewritten in place (a new size or time) counts as new.

The table is partitioned by job and run date: a run writes (or replaces) its own partition only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl import catalog
from etl.config.models import TargetConfig
from etl.context import RunContext
from etl.load import parquet
from etl.spark_internals import fs

BOOKMARKS_TABLE = "etl_audit.bookmarks"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCHEMA = T.StructType(
    [
        T.StructField("source", T.StringType()),
        T.StructField("file", T.StringType()),
        T.StructField("size", T.LongType()),
        T.StructField("modified", T.TimestampType()),
        T.StructField("run_id", T.StringType()),
        T.StructField("job", T.StringType()),
        T.StructField("run_date", T.DateType()),
    ]
)

TARGET = TargetConfig(
    table=BOOKMARKS_TABLE,
    mode="overwrite_partitions",
    partition_by=["job", "run_date"],
    description="File bookmarks: the files each job's last successful run for a date read from each incremental source.",
    columns={
        "source": "The incremental source's name in the job's config.",
        "file": "The file's URI.",
        "size": "The file's size when it was read, in bytes.",
        "modified": "The file's modification time when it was read (UTC).",
        "run_id": "The run that read it.",
        "job": "The job's name (partition).",
        "run_date": "The run date of the run that read it (partition); a rerun of that date replaces it.",
    },
)


@dataclass(frozen=True)
class FileMark:
    uri: str
    size: int
    modified_ms: int


def new_files(spark: SparkSession, ctx: RunContext, source: str, uris: list[str]) -> list[FileMark]:
    """The files under the given folders that no run of the job for another date has taken from `source`."""
    found = [FileMark(uri, size, modified) for folder in uris for uri, size, modified in fs.file_statuses(spark, folder)]
    if not found or not catalog.table_exists(spark, BOOKMARKS_TABLE):
        return sorted(found, key=lambda mark: mark.uri)
    # compared in Spark, so that the driver holds the files found, never the job's whole history
    listed = spark.createDataFrame([(m.uri, m.size, m.modified_ms) for m in found], "file string, size long, modified_ms long")
    taken = (
        spark.table(BOOKMARKS_TABLE)
        .where((F.col("job") == F.lit(ctx.job)) & (F.col("run_date") != F.lit(ctx.run_date)) & (F.col("source") == F.lit(source)))
        .select("file", "size", (F.unix_micros("modified") / 1000).cast("long").alias("modified_ms"))
    )
    new = listed.join(taken, ["file", "size", "modified_ms"], "left_anti").collect()
    return sorted((FileMark(row.file, row.size, row.modified_ms) for row in new), key=lambda mark: mark.uri)


def record(spark: SparkSession, ctx: RunContext, taken: Mapping[str, list[FileMark]]) -> None:
    """Replace the run date's bookmarks with the files this run read, per incremental source."""
    rows = [
        (source, mark.uri, mark.size, EPOCH + timedelta(milliseconds=mark.modified_ms), ctx.run_id, ctx.job, ctx.run_date)
        for source, marks in taken.items()
        for mark in marks
    ]
    frame = spark.createDataFrame(rows, SCHEMA)
    for folder in parquet.write(spark, frame, TARGET, ctx, replacing=[(ctx.job, ctx.run_date.isoformat())]):
        fs.delete(spark, folder)
