"""Readers: a source from config -> a DataFrame, with an explicit schema and the run's daily partitions only."""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, DataFrameReader, SparkSession
from pyspark.sql import functions as F

from etl.config.models import SourceConfig
from etl.context import RunContext
from etl.errors import RAISED_IN_QUERY, SourceError
from etl.extract import cloudfront, lines
from etl.extract.malformed import MALFORMED
from etl.extract.strict import REASON
from etl.schema import struct
from etl.spark_internals import fs
from etl.zones import join


def read_source(spark: SparkSession, name: str, source: SourceConfig, ctx: RunContext, files: list[str] | None = None) -> DataFrame:
    """The source's rows of the run's days; `files`: exactly these files (an incremental source's new ones)."""
    if source.format == "table":
        if source.optional and not spark.catalog.tableExists(str(source.table)):
            return spark.createDataFrame([], struct(source.types))
        return spark.table(str(source.table))
    base = ctx.zones.uri(source.zone, str(source.path))
    paths = files if files is not None else source_folders(spark, name, source, ctx)
    if not paths:  # the days before the window may be missing; an incremental source may have no new file
        frame = _empty(spark, source)
    elif source.format == "cloudfront":
        frame = cloudfront.parse(_with_base(spark.read, source, base).text(paths))
    elif source.format == "csv" and source.multiline:
        frame = _csv_records(spark, name, source, base, paths)
    elif source.format in ("csv", "json"):
        frame = _lines(spark, name, source, base, paths)
    else:
        frame = _with_base(spark.read.format(source.format), source, base).options(**source.options).load(paths)
    if source.date_partition and source.date_partition not in frame.columns:
        frame = _empty(spark, source)  # the day folders hold no data file, only markers such as _SUCCESS: no rows
    if source.malformed == "fail" and MALFORMED in frame.columns:
        frame = _fail_on_malformed(frame, name)
    if source.format == "json" and source.schema_drift == "fail" and paths:
        _require_declared_fields(spark, name, source, paths)
    if source.date_partition:
        frame = frame.withColumn(source.date_partition, F.col(source.date_partition).cast("date"))
        if not source.allow_empty and not source.days_before and files is None:
            _require_rows_every_day(frame, name, source.date_partition, ctx)
    return frame


def source_folders(spark: SparkSession, name: str, source: SourceConfig, ctx: RunContext) -> list[str]:
    """The folders a file source reads: its path, or the daily folders of the run's days."""
    base = ctx.zones.uri(source.zone, str(source.path))
    return _partition_paths(spark, name, source, ctx, base) if source.date_partition else [base]


def _with_base(reader: DataFrameReader, source: SourceConfig, base: str) -> DataFrameReader:
    return reader.option("basePath", base) if source.date_partition else reader


def _lines(spark: SparkSession, name: str, source: SourceConfig, base: str, paths: list[str]) -> DataFrame:
    text = _with_base(spark.read, source, base).text(paths)
    return lines.parse_lines(text, name, source, [column for column in text.columns if column != "value"])


def _csv_records(spark: SparkSession, name: str, source: SourceConfig, base: str, paths: list[str]) -> DataFrame:
    return lines.parse_records(_with_base(spark.read, source, base), name, source, paths)


def _empty(spark: SparkSession, source: SourceConfig) -> DataFrame:
    """What the reader gives for no files: its columns, no rows (the partition column is added by the caller)."""
    key = [F.lit(None).cast("string").alias(source.date_partition)] if source.date_partition else []
    if source.format == "cloudfront":
        return cloudfront.parse(spark.createDataFrame([], "value string").select("value", *key))
    schema = struct(source.types)
    if source.format in ("csv", "json"):
        schema = schema.add(MALFORMED, "string").add(REASON, "string")
    return spark.createDataFrame([], schema).select("*", *key)


def _fail_on_malformed(frame: DataFrame, name: str) -> DataFrame:
    """malformed: fail: the first line that does not parse stops the query, judged on every column as
    quarantine judges it (not only on those the query uses)."""
    reason = [F.lit(" ("), F.col(REASON), F.lit(")")] if REASON in frame.columns else []
    message = F.concat(
        F.lit(f"{RAISED_IN_QUERY}source {name}: malformed line in "), F.input_file_name(), *reason, F.lit(": "), F.col(MALFORMED)
    )
    checked = frame.where(F.when(F.col(MALFORMED).isNull(), F.lit(True)).otherwise(F.raise_error(message).isNull()))
    return checked.drop(MALFORMED, REASON)


def _days(source: SourceConfig, ctx: RunContext) -> list[date]:
    if source.days_before:
        return [ctx.window.first - timedelta(days=n) for n in range(source.days_before, 0, -1)]
    return list(ctx.window.days())


def _partition_paths(spark: SparkSession, name: str, source: SourceConfig, ctx: RunContext, base: str) -> list[str]:
    """The folders <base>/<key>=YYYY-MM-DD of the run's window (a clear error if any is missing), or those
    of the days before it that have landed."""
    key = source.date_partition
    # one glob, the names back in one JVM call: a backfill's window is thousands of daily folders
    present = {uri.rsplit("/", 1)[-1] for uri in fs.glob(spark, join(fs.glob_escaped(base), f"{fs.glob_escaped(str(key))}=*"))}
    wanted = [f"{key}={day.isoformat()}" for day in _days(source, ctx)]
    missing = [folder for folder in wanted if folder not in present]
    if source.days_before:
        return [f"{base}/{folder}" for folder in wanted if folder in present]
    if missing:
        shown = _first_few(missing)
        raise SourceError(
            f"source {name}: no input for {len(missing)} of the {len(wanted)} day(s) of {ctx.window}: {shown} missing under {base}"
        )
    return [f"{base}/{folder}" for folder in wanted]


def _require_declared_fields(spark: SparkSession, name: str, source: SourceConfig, paths: list[str]) -> None:
    """JSON has no header: one pass over the records' keys finds fields the config does not declare (which
    the reader would silently skip) and declared columns no record has (which would silently read as null)."""
    keys = spark.read.text(paths).select(F.explode(F.json_object_keys("value")).alias("key")).distinct()
    found = {row.key for row in keys.collect()}
    new = sorted(found - set(source.columns))
    missing = [column for column in source.columns if column not in found]
    if found and (new or missing):
        problems = ([f"new field(s) {', '.join(new)}"] if new else []) + ([f"no record has {', '.join(missing)}"] if missing else [])
        raise SourceError(
            f"source {name}: schema drift: {' and '.join(problems)} (declared columns: {', '.join(source.columns)}); "
            "declare the fields under `columns`, or set `schema_drift: ignore` on the source"
        )


def _require_rows_every_day(frame: DataFrame, name: str, key: str, ctx: RunContext) -> None:
    """One pass over the partition column only (taken from the folder names, no column parsing)."""
    days_with_rows = {row[0] for row in frame.select(key).distinct().collect()}
    empty = [day.isoformat() for day in ctx.window.days() if day not in days_with_rows]
    if empty:
        shown = _first_few(empty)
        raise SourceError(f"source {name}: the input for {shown} holds no rows (set allow_empty: true on the source if that is expected)")


def _first_few(items: list[str], few: int = 5) -> str:
    """'a, b, c, d, e and 3 more': enough to act on, short enough for one line."""
    return ", ".join(items[:few]) + (f" and {len(items) - few} more" if len(items) > few else "")
