"""Readers: a source from config -> a DataFrame, with an explicit schema and the run's daily partitions only."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, DataFrameReader, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl import fs
from etl.config.models import SourceConfig
from etl.context import RunContext
from etl.errors import RAISED_IN_QUERY, SourceError
from etl.extract import cloudfront
from etl.extract.malformed import MALFORMED
from etl.extract.strict import REASON, typed
from etl.schema import struct
from etl.zones import join

# Line formats (csv, json) are read as text and split into fields as text; etl/extract/strict.py types
# each field exactly or makes the line malformed, with its raw text and a reason. Spark's own converters
# would silently change values (see there).
_LINE = "_etl_line"
_BROKEN = "_etl_broken"  # from_csv / from_json's corrupt-record column: the line did not split into the fields
_BAD_BYTES = "_etl_bad_bytes"  # the line's bytes in hex, where they are not valid in the encoding
_PERMISSIVE = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _BROKEN}
_BOM = "\ufeff"
_barriers = itertools.count()


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
    return parse_lines(text, name, source, [column for column in text.columns if column != "value"])


def parse_lines(text: DataFrame, name: str, source: SourceConfig, keys: list[str]) -> DataFrame:
    """A csv or json source's lines (`value`: a line's bytes as read, and the `keys` columns): each line split
    into the declared fields as text, then typed strictly; a header line of a CSV file is not a row."""
    line = _decoded(F.col("value"), source.encoding)
    invalid = _invalid_bytes(F.col("value"), line, source.encoding)
    line = F.when(invalid, F.decode(F.col("value").cast("binary"), source.encoding)).otherwise(line)  # U+FFFD where they were
    line = F.when(line.startswith(_BOM), line.substr(F.lit(2), F.length(line))).otherwise(line)
    lines = text.select(line.alias(_LINE), F.when(invalid, F.hex("value")).alias(_BAD_BYTES), *keys)
    strings = T.StructType([T.StructField(column, T.StringType()) for column in source.columns]).add(_BROKEN, "string")
    if source.format == "csv":
        options = {key: value for key, value in source.options.items() if key not in ("header", "enforceSchema")}
        lines = lines.where(~F.col(_LINE).isin(*_header_lines(source)))
        parsed = F.from_csv(_LINE, strings.simpleString(), {"escape": '"', **options, **_PERMISSIVE})
        broken = f"not the {len(source.columns)} fields of the header"
    else:
        lines = lines.where(F.trim(_LINE) != "")
        parsed = F.from_json(_LINE, strings, {**source.options, **_PERMISSIVE})
        broken = "not a JSON object of the declared columns"
    fields = lines.select(parsed.alias("fields"), _LINE, _BAD_BYTES, *keys).select("fields.*", _LINE, _BAD_BYTES, *keys)
    where = F.coalesce(*[F.when(F.col(column).contains("\ufffd"), F.lit(column)) for column in source.columns], F.lit("the line"))
    bad_bytes = F.concat(where, F.lit(f": bytes not valid in {source.encoding} (the line in hex: "), F.col(_BAD_BYTES), F.lit(")"))
    structure = F.when(F.col(_BAD_BYTES).isNotNull(), bad_bytes).when(F.col(_BROKEN).isNotNull(), F.lit(broken))
    if source.format == "csv":
        unterminated = "a quoted field does not end on this line (set multiline: true on the source for records over several lines)"
        structure = structure.when(_unterminated_quote(F.col(_LINE)), F.lit(unterminated))
    return _malformed_lines(name, source, typed(_unfused(fields), source.columns, [_LINE, *keys], prior=structure), keys)


def _csv_records(spark: SparkSession, name: str, source: SourceConfig, base: str, paths: list[str]) -> DataFrame:
    """multiline: Spark's CSV reader splits the records (a quoted field may hold line breaks), as text; Spark
    checks each file's header. A record whose fields do not parse keeps its fields joined as CSV again,
    quotes where needed (Spark keeps a record's raw text only when it does not split into the fields)."""
    strings = T.StructType([T.StructField(column, T.StringType()) for column in source.columns]).add(_BROKEN, "string")
    reader = _with_base(spark.read, source, base).schema(strings)
    options = {
        "header": "true",
        "enforceSchema": "false",
        "escape": '"',
        "multiLine": "true",
        "encoding": source.encoding,
        **source.options,
    }
    records = reader.options(**options, **_PERMISSIVE).csv(paths)
    keys = [column for column in records.columns if column not in strings.fieldNames()]
    rejoined = F.concat_ws(options.get("sep", options.get("delimiter", ",")), *[_quoted(F.col(column)) for column in source.columns])
    records = records.select(*source.columns, F.coalesce(_BROKEN, rejoined).alias(_LINE), _BROKEN, *keys)
    structure = F.when(F.col(_BROKEN).isNotNull(), F.lit(f"not the {len(source.columns)} fields of the header"))
    return _malformed_lines(name, source, typed(_unfused(records), source.columns, [_LINE, *keys], prior=structure), keys)


def _malformed_lines(name: str, source: SourceConfig, frame: DataFrame, keys: list[str]) -> DataFrame:
    """The typed columns, MALFORMED (the raw line of a malformed one) and REASON, and the partition column."""
    line = F.when(F.col(REASON).isNotNull(), F.col(_LINE))
    if source.format == "csv" and not source.multiline:
        line = F.when(_looks_like_a_header(source), F.raise_error(_header_error(name, source))).otherwise(line)
    return frame.select(*source.columns, line.cast("string").alias(MALFORMED), REASON, *keys)


def _decoded(value: Column, encoding: str) -> Column:
    """The text source hands over each line's bytes as they are; lines of a UTF-8 file need no decoding."""
    return value if encoding == "utf-8" else F.decode(value.cast("binary"), encoding)


def _invalid_bytes(value: Column, line: Column, encoding: str) -> Column:
    """Bytes the encoding does not define: they would read as U+FFFD (and Spark would load the value so)."""
    if encoding == "utf-8":
        return value.cast("binary") != F.encode(value, "UTF-8")  # exact: a U+FFFD in the file itself is valid
    if encoding == "windows-1252":  # five bytes are undefined in it
        return line.contains("\ufffd")
    return F.lit(False)  # ISO-8859-1 defines every byte


def _unterminated_quote(line: Column) -> Column:
    """An odd number of quote characters: with RFC 4180 escaping ("" inside quotes) a complete record has
    an even number; an odd one is the first line of a record that goes on after a line break, or broken."""
    return line.contains('"') & ((F.length(line) - F.length(F.translate(line, '"', ""))) % 2 == 1)


def _header_lines(source: SourceConfig) -> list[str]:
    """The header as an extract writes it: the declared names, plain or each quoted."""
    separator = source.options.get("sep", source.options.get("delimiter", ","))
    return [separator.join(source.columns), separator.join(f'"{column}"' for column in source.columns)]


def _looks_like_a_header(source: SourceConfig) -> Column:
    """A line that is not the declared header but names at least half of the declared columns: a header
    whose columns were renamed, added, dropped or moved. Judged on malformed lines only (a header never
    types as data) unless every column is text."""
    separator = source.options.get("sep", source.options.get("delimiter", ","))
    names = F.split(F.translate(F.col(_LINE), '"', ""), f"\\Q{separator}\\E")
    named = F.size(F.array_intersect(names, F.array(*[F.lit(column) for column in source.columns]))) * 2 >= len(source.columns)
    if all(column.type == "string" for column in source.columns.values()):
        return named
    return F.col(REASON).isNotNull() & named


def _header_error(name: str, source: SourceConfig) -> Column:
    return F.concat(
        F.lit(f"{RAISED_IN_QUERY}source {name}: the header of "),
        F.input_file_name(),
        F.lit(" does not match the declared columns: "),
        F.col(_LINE),
        F.lit(f" (declared: {_header_lines(source)[0]})"),
    )


def _quoted(field: Column) -> Column:
    """A field as RFC 4180 writes it: quoted, with quotes doubled, where it holds a quote, comma or line break."""
    needs_quotes = field.rlike('[",\r\n]')
    return F.when(needs_quotes, F.concat(F.lit('"'), F.regexp_replace(field, '"', '""'), F.lit('"'))).otherwise(
        F.coalesce(field, F.lit(""))
    )


def _unfused(frame: DataFrame) -> DataFrame:
    """The frame behind a metric nobody reads. The fields come out of one struct; without a barrier Spark
    inlines the struct into each column's checks and reads the struct once per use (measured at SF 1:
    lineitem's read 15 s -> 50 s); an observation is a plan node it does not inline through. Named (an
    Observation object cannot observe a stream), uniquely (a plan may not define a name twice)."""
    return frame.observe(f"_etl_fields_{next(_barriers)}", F.count(F.lit(1)).alias("rows"))


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
