"""CSV and JSON lines as text, split into the declared fields as text and typed exactly: each row holds the
typed columns, MALFORMED (a malformed line's raw text) and REASON (which column, and why).

Line by line (the default): Spark's text source hands over each line's bytes, so the raw line is kept
for every malformed one, bytes not valid in the encoding are found exactly, a CSV header line is found
wherever it is, and a quote left open at the end of a line is caught. `multiline` CSV: Spark's CSV reader
splits the records. etl/extract/strict.py types the fields.
"""

from __future__ import annotations

import functools
import itertools
import operator

from pyspark.sql import Column, DataFrame, DataFrameReader
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.config.models import SourceConfig
from etl.errors import RAISED_IN_QUERY
from etl.extract.malformed import MALFORMED
from etl.extract.strict import REASON, typed
from etl.spark_internals import utf8_invalid, utf8_repaired

_LINE = "_etl_line"
_BROKEN = "_etl_broken"  # from_csv / from_json's corrupt-record column: the line did not split into the fields
_BAD_BYTES = "_etl_bad_bytes"  # the line's bytes in hex, where they are not valid in the encoding
_PERMISSIVE = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": _BROKEN}
_BOM = "\ufeff"
_barriers = itertools.count()


def parse_lines(text: DataFrame, name: str, source: SourceConfig, keys: list[str]) -> DataFrame:
    """A csv or json source's lines (`value`: a line's bytes as read, and the `keys` columns): each line split
    into the declared fields as text, then typed strictly; a header line of a CSV file is not a row."""
    line = _decoded(F.col("value"), source.encoding)
    line = F.when(line.startswith(_BOM), line.substr(F.lit(2), F.length(line))).otherwise(line)
    lines = text.select(line.alias(_LINE), *keys)
    strings = _as_text(source)
    if source.format == "csv":
        options = {key: value for key, value in source.options.items() if key not in ("header", "enforceSchema")}
        lines = lines.where(~F.col(_LINE).isin(*_header_lines(source)))
        parsed = F.from_csv(_LINE, strings.simpleString(), {"escape": '"', **options, **_PERMISSIVE})
        broken = f"not the {len(source.columns)} fields of the header"
    else:
        lines = lines.where(F.trim(_LINE) != "")
        parsed = F.from_json(_LINE, strings, {**source.options, **_PERMISSIVE})
        broken = "not a JSON object of the declared columns"
    fields = _unfused(lines.select(parsed.alias("fields"), _LINE, *keys).select("fields.*", _LINE, *keys))
    invalid = _invalid_bytes(source)
    fields = fields.withColumn(_BAD_BYTES, F.when(invalid, F.hex(_LINE))).withColumn(
        _LINE,
        F.when(invalid, _repaired(F.col(_LINE), source.encoding)).otherwise(F.col(_LINE)),  # U+FFFD where they were
    )
    where = F.coalesce(*[F.when(F.col(column).contains("\ufffd"), F.lit(column)) for column in source.columns], F.lit("the line"))
    bad_bytes = F.concat(where, F.lit(f": bytes not valid in {source.encoding} (the line in hex: "), F.col(_BAD_BYTES), F.lit(")"))
    structure = F.when(F.col(_BAD_BYTES).isNotNull(), bad_bytes).when(F.col(_BROKEN).isNotNull(), F.lit(broken))
    if source.format == "csv":
        unterminated = "a quoted field does not end on this line (set multiline: true on the source for records over several lines)"
        structure = structure.when(_unterminated_quote(F.col(_LINE)), F.lit(unterminated))
    return _malformed_lines(name, source, typed(fields, source.columns, [_LINE, *keys], prior=structure), keys)


def parse_records(reader: DataFrameReader, name: str, source: SourceConfig, paths: list[str]) -> DataFrame:
    """multiline: Spark's CSV reader splits the records (a quoted field may hold line breaks), as text; Spark
    checks each file's header. A record whose fields do not parse keeps its fields joined as CSV again,
    quotes where needed (Spark keeps a record's raw text only when it does not split into the fields)."""
    strings = _as_text(source)
    reader = reader.schema(strings)
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
    rejoined = F.concat_ws(_separator(source), *[_quoted(F.col(column)) for column in source.columns])
    records = records.select(*source.columns, F.coalesce(_BROKEN, rejoined).alias(_LINE), _BROKEN, *keys)
    structure = F.when(F.col(_BROKEN).isNotNull(), F.lit(f"not the {len(source.columns)} fields of the header"))
    return _malformed_lines(name, source, typed(_unfused(records), source.columns, [_LINE, *keys], prior=structure), keys)


def _malformed_lines(name: str, source: SourceConfig, frame: DataFrame, keys: list[str]) -> DataFrame:
    """The typed columns, MALFORMED (the raw line of a malformed one) and REASON, and the partition column."""
    line = F.when(F.col(REASON).isNotNull(), F.col(_LINE))
    if source.format == "csv" and not source.multiline:
        line = F.when(_looks_like_a_header(source), F.raise_error(_header_error(name, source))).otherwise(line)
    return frame.select(*source.columns, line.cast("string").alias(MALFORMED), REASON, *keys)


def _as_text(source: SourceConfig) -> T.StructType:
    """Every declared column as text, and the corrupt-record column."""
    return T.StructType([T.StructField(column, T.StringType()) for column in source.columns]).add(_BROKEN, "string")


def _separator(source: SourceConfig) -> str:
    return source.options.get("sep", source.options.get("delimiter", ","))


def _decoded(value: Column, encoding: str) -> Column:
    """The text source hands over each line's bytes as they are; lines of a UTF-8 file need no decoding."""
    return value if encoding == "utf-8" else F.decode(value.cast("binary"), encoding)


def _repaired(line: Column, encoding: str) -> Column:
    return utf8_repaired(line) if encoding == "utf-8" else F.decode(line.cast("binary"), encoding)


def _invalid_bytes(source: SourceConfig) -> Column:
    """Bytes the encoding does not define: decoding made them U+FFFD, and Spark would load the value so.
    Only text fields are looked at (a U+FFFD in a typed field does not type anyway) and, where one holds a
    U+FFFD, the line's bytes: for UTF-8 they are invalid where re-encoding the decoded line changes them
    (exact: a U+FFFD written in the file is valid). ISO-8859-1 defines every byte."""
    if source.encoding == "iso-8859-1":
        return F.lit(False)
    texts = [F.col(name).contains("\ufffd") for name, column in source.columns.items() if column.type == "string"]
    replaced = functools.reduce(operator.or_, texts) if texts else F.lit(False)
    if source.encoding == "utf-8":
        return replaced & utf8_invalid(F.col(_LINE))
    return replaced


def _unterminated_quote(line: Column) -> Column:
    """An odd number of quote characters: with RFC 4180 escaping ("" inside quotes) a complete record has
    an even number; an odd one is the first line of a record that goes on after a line break, or broken."""
    return line.contains('"') & ((F.length(line) - F.length(F.translate(line, '"', ""))) % 2 == 1)


def _header_lines(source: SourceConfig) -> list[str]:
    """The header as an extract writes it: the declared names, plain or each quoted."""
    separator = _separator(source)
    return [separator.join(source.columns), separator.join(f'"{column}"' for column in source.columns)]


def _looks_like_a_header(source: SourceConfig) -> Column:
    """A line that is not the declared header but names at least half of the declared columns: a header
    whose columns were renamed, added, dropped or moved. Judged on malformed lines only (a header never
    types as data) unless every column is text."""
    names = F.split(F.translate(F.col(_LINE), '"', ""), f"\\Q{_separator(source)}\\E")
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
