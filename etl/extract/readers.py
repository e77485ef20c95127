"""Readers: a source from config -> a DataFrame, with an explicit schema and the run's daily partitions only."""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl import fs
from etl.config.models import SourceConfig
from etl.context import RunContext
from etl.errors import SourceError
from etl.extract import cloudfront
from etl.extract.malformed import MALFORMED, fully_parsed
from etl.schema import struct
from etl.zones import join

# The header must name the declared columns in order (a CSV schema is positional: without this check a
# column missing from the config would silently shift every column after it), so schema drift is an error.
_CSV_DEFAULTS = {"header": "true", "enforceSchema": "false", "escape": '"', "dateFormat": "yyyy-MM-dd"}
_JSON_DEFAULTS = {"dateFormat": "yyyy-MM-dd"}
# A line that does not parse is never nulled: its raw text goes to quarantine, or the run stops on it. Not
# FAILFAST for `fail`: Spark would then parse only the columns a query uses and not count a line's fields.
_PERMISSIVE = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": MALFORMED}


def read_source(spark: SparkSession, name: str, source: SourceConfig, ctx: RunContext, files: list[str] | None = None) -> DataFrame:
    """The source's rows of the run's days; `files`: exactly these files (an incremental source's new ones)."""
    if source.format == "table":
        if source.optional and not spark.catalog.tableExists(str(source.table)):
            return spark.createDataFrame([], struct(source.columns))
        return spark.table(str(source.table))
    base = ctx.zones.uri(source.zone, str(source.path))
    paths = files if files is not None else source_folders(spark, name, source, ctx)
    if not paths:  # the days before the window may be missing; an incremental source may have no new file
        frame = _empty(spark, source)
    elif source.format == "cloudfront":
        frame = cloudfront.parse(spark.read.option("basePath", base).text(paths))
    else:
        frame = _file_reader(spark, source, base).load(paths)
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


def _file_reader(spark: SparkSession, source: SourceConfig, base: str):  # type: ignore[no-untyped-def]
    reader = spark.read.format(source.format)
    if source.format == "csv":
        reader = reader.options(**_CSV_DEFAULTS)
    elif source.format == "json":
        reader = reader.options(**_JSON_DEFAULTS)
    if source.format in ("csv", "json"):
        reader = reader.options(**_PERMISSIVE)
    if source.columns:
        reader = reader.schema(_schema(source))
    if source.date_partition:
        reader = reader.option("basePath", base)
    return reader.options(**source.options)


def _schema(source: SourceConfig) -> T.StructType:
    schema = struct(source.columns)
    if source.format in ("csv", "json"):
        schema = schema.add(MALFORMED, "string")
    return schema


def _empty(spark: SparkSession, source: SourceConfig) -> DataFrame:
    """What the reader gives for no files: its columns, no rows (the partition column is added by the caller)."""
    key = [F.lit(None).cast("string").alias(source.date_partition)] if source.date_partition else []
    if source.format == "cloudfront":
        return cloudfront.parse(spark.createDataFrame([], "value string").select("value", *key))
    return spark.createDataFrame([], _schema(source)).select("*", *key)


def _fail_on_malformed(frame: DataFrame, name: str) -> DataFrame:
    """malformed: fail: the first line that does not parse stops the query, judged on every column as
    quarantine judges it (not only on those the query uses)."""
    message = F.concat(F.lit(f"source {name}: malformed line in "), F.input_file_name(), F.lit(": "), F.col(MALFORMED))
    checked = fully_parsed(frame).where(F.when(F.col(MALFORMED).isNull(), F.lit(True)).otherwise(F.raise_error(message).isNull()))
    return checked.drop(MALFORMED)


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
