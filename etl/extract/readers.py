"""Readers: a source from config -> a DataFrame, with an explicit schema and the run's daily partitions only."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl import fs
from etl.config.models import SourceConfig
from etl.context import RunContext
from etl.errors import SourceError
from etl.extract.malformed import MALFORMED
from etl.schema import struct

# The header must name the declared columns in order (a CSV schema is positional: without this check a
# column missing from the config would silently shift every column after it), so schema drift is an error.
_CSV_DEFAULTS = {"header": "true", "enforceSchema": "false", "escape": '"', "dateFormat": "yyyy-MM-dd"}
_JSON_DEFAULTS = {"dateFormat": "yyyy-MM-dd"}
# A line that does not parse is never nulled: either its raw text goes to quarantine, or the run stops.
_MALFORMED_MODES = {
    "quarantine": {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": MALFORMED},
    "fail": {"mode": "FAILFAST"},
}


def read_source(spark: SparkSession, name: str, source: SourceConfig, ctx: RunContext) -> DataFrame:
    if source.format == "table":
        if source.optional and not spark.catalog.tableExists(str(source.table)):
            return spark.createDataFrame([], struct(source.columns))
        return spark.table(str(source.table))
    base = ctx.zones.uri(source.zone, str(source.path))
    paths = _partition_paths(spark, name, source, ctx, base) if source.date_partition else [base]
    reader = spark.read.format(source.format)
    if source.format == "csv":
        reader = reader.options(**_CSV_DEFAULTS)
    elif source.format == "json":
        reader = reader.options(**_JSON_DEFAULTS)
    if source.format in ("csv", "json"):
        reader = reader.options(**_MALFORMED_MODES[source.malformed])
    if source.columns:
        schema = struct(source.columns)
        if source.format in ("csv", "json") and source.malformed == "quarantine":
            schema = schema.add(MALFORMED, "string")
        reader = reader.schema(schema)
    if source.date_partition:
        reader = reader.option("basePath", base)
    frame = reader.options(**source.options).load(paths)
    if source.format == "json" and source.schema_drift == "fail":
        _require_declared_fields(spark, name, source, paths)
    if source.date_partition:
        frame = frame.withColumn(source.date_partition, F.col(source.date_partition).cast("date"))
        if not source.allow_empty:
            _require_rows_every_day(frame, name, source.date_partition, ctx)
    return frame


def _partition_paths(spark: SparkSession, name: str, source: SourceConfig, ctx: RunContext, base: str) -> list[str]:
    """The folders <base>/<key>=YYYY-MM-DD of the run's window; a clear error if any is missing."""
    key = source.date_partition
    present = set(fs.list_folders(spark, base))
    wanted = [f"{key}={day.isoformat()}" for day in ctx.window.days()]
    missing = [folder for folder in wanted if folder not in present]
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
