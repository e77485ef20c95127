"""Quarantine tables: the rows a run did not load, each with the rules it failed.

    quarantine.<table>          rows of a target that failed a rule of severity quarantine
    quarantine.<job>_<source>   lines of a CSV, JSON or CloudFront log source that did not parse, as raw text

Every quarantine table has the same columns, whatever the rows' own schema (so a malformed line and a
row of a drifted schema fit alike): record (the row as JSON with nulls kept, or the raw line), rules
(the names of the rules it failed), reason (for raw lines: which column, and why), source_file (for raw
lines), run_id, and run_date, the partition.
run_date is the run date of the daily run that reads the row: a malformed line's daily folder, a target
row's date partition when it falls in the run's days, else the run's date. A run replaces the partitions
of all its days, so a rerun of a day (or of a backfill) leaves what one clean run would, and the day-by-day
rerun of a backfill's last day keeps the rows of the backfill's other days.
"""

from __future__ import annotations

import re
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl import catalog
from etl.catalog import QUARANTINE_DATABASE
from etl.config.models import LINE_FORMATS, JobConfig, TargetConfig
from etl.context import DateWindow, RunContext
from etl.load import parquet

SCHEMA = T.StructType(
    [
        T.StructField("record", T.StringType()),
        T.StructField("rules", T.ArrayType(T.StringType())),
        T.StructField("reason", T.StringType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("run_id", T.StringType()),
        T.StructField("run_date", T.DateType()),
    ]
)


COLUMNS = {
    "record": "The row as JSON (nulls kept), or the raw line as read when it did not parse.",
    "rules": "The names of the rules the row failed; malformed_record for a line that did not parse.",
    "reason": "For a line that did not parse: which column, and why; else null.",
    "source_file": "For a line that did not parse: the file it was read from; else null.",
    "run_id": "The run that quarantined it.",
    "run_date": "The day the row belongs to (partition): its own daily folder or date, else the run's date.",
}


def target_description(target_table: str) -> str:
    return f"Rows of {target_table} that failed a rule of severity quarantine and were not loaded, with the rules they failed."


def source_description(job: str, source: str) -> str:
    return f"Lines of the source {source} of job {job} that did not parse (malformed), as raw text, with the column and why."


def target_table(target: TargetConfig) -> str:
    return f"{QUARANTINE_DATABASE}.{target.table.split('.')[1]}"


def source_table(job: str, source: str) -> str:
    return f"{QUARANTINE_DATABASE}.{re.sub(r'[^A-Za-z0-9_]', '_', job)}_{source}"


def tables_of(config: JobConfig) -> dict[str, str]:
    """Every quarantine table the job's runs may write, by what feeds it: targets.<name> or sources.<name>."""
    tables = {
        f"sources.{name}": source_table(config.name, name)
        for name, s in config.sources.items()
        if (s.format in LINE_FORMATS or s.stream) and not s.days_before  # a source of the days before only rereads lines
    }
    tables.update({f"targets.{name}": target_table(target) for name, target in config.targets.items() if target.suite})
    return tables


def write(spark: SparkSession, ctx: RunContext, table: str, rows: DataFrame, count: int, description: str) -> list[str]:
    """Replace the partitions of the run's days with rows (record, rules, reason, source_file, and `day`:
    the row's own day, or null for the run's date), `count` of them; returns the folders to delete once
    the run has loaded. Nothing to write and no table yet: nothing is created."""
    if count == 0:
        if not catalog.table_exists(spark, table):
            return []
        # Empty partitions, without evaluating `rows`: for malformed lines that would parse the source again.
        rows = spark.createDataFrame([], SCHEMA).select("record", "rules", "reason", "source_file", F.lit(None).cast("date").alias("day"))
    _add_reason_column(spark, table)
    target = TargetConfig(table=table, mode="overwrite_partitions", partition_by=["run_date"], description=description, columns=COLUMNS)
    days = [(day.isoformat(),) for day in ctx.window.days()]
    return parquet.write(spark, _table_rows(ctx, rows), target, ctx, replacing=days)


def day_within(frame: DataFrame, columns: list[str], window: DateWindow) -> Column:
    """A target row's own day: its first date partition column where that falls in the run's days, else null."""
    dates = [column for column in columns if isinstance(frame.schema[column].dataType, T.DateType)]
    if not dates:
        return F.lit(None).cast("date")
    day = F.col(dates[0])
    return F.when(day.between(F.lit(window.first), F.lit(window.last)), day)


def merge(spark: SparkSession, ctx: RunContext, table: str, rows: DataFrame, description: str) -> list[str]:
    """Add a stream's malformed records (record, rules, reason, source_file) to the run date's partition, merged
    on (source_file, record): a micro-batch replayed after a crash writes its records over themselves."""
    _add_reason_column(spark, table)
    target = TargetConfig(
        table=table,
        mode="merge",
        merge_keys=["source_file", "record"],
        partition_by=["run_date"],
        description=description,
        columns=COLUMNS,
    )
    return parquet.write(spark, _table_rows(ctx, rows), target, ctx)


def _table_rows(ctx: RunContext, rows: DataFrame) -> DataFrame:
    day = F.col("day") if "day" in rows.columns else F.lit(None).cast("date")
    return rows.select(
        "record",
        F.col("rules").cast(SCHEMA["rules"].dataType).alias("rules"),  # the table's array may hold nulls; the data's never does
        "reason",
        "source_file",
        F.lit(ctx.run_id).alias("run_id"),
        F.coalesce(day, F.lit(ctx.run_date).cast("date")).alias("run_date"),
    )


def _add_reason_column(spark: SparkSession, table: str) -> None:
    """Quarantine tables written before reasons were kept get the column (null in their old rows)."""
    if catalog.table_exists(spark, table) and "reason" not in spark.table(table).columns:
        spark.sql(f"ALTER TABLE {table} ADD COLUMNS (reason STRING)")


def read(spark: SparkSession, table: str, run_date: date) -> DataFrame:
    return spark.table(table).where(F.col("run_date") == F.lit(run_date)).select("record", "rules", "reason", "source_file", "run_id")
