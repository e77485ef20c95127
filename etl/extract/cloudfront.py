"""CloudFront standard (access) logs: the W3C tab-separated format, one gzip file per delivery.

Each file starts with `#Version: 1.0` and `#Fields: date time x-edge-location ...` (the 33 documented
fields, in order), then one request per line: fields separated by tabs, `-` for an empty value, date
and time in UTC in two fields, and the referrer, user agent and cookie URL-encoded. Gzip is unpacked by
Spark's text reader (by the .gz name).

The reader gives the fields as typed columns (names below, `-` as null, the header values decoded) plus
`request_time`, the UTC timestamp of `date` and `time`. A line that is not a request of this format
(another number of fields, a date, time or number that does not parse, a broken %-escape, or a
`#Fields` line naming other fields, as when CloudFront adds one) keeps its raw text in the
malformed-record column and why in the reason column (the first field that fails, and how), like a CSV
line that does not parse: quarantined, or the run stops, as the source's `malformed` says.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.extract.malformed import MALFORMED
from etl.extract.strict import REASON

# field -> (column, type); "url" marks the fields CloudFront URL-encodes and the reader decodes.
COLUMNS: dict[str, tuple[str, str]] = {
    "date": ("date", "date"),
    "time": ("time", "string"),
    "x-edge-location": ("edge_location", "string"),
    "sc-bytes": ("response_bytes", "bigint"),
    "c-ip": ("client_ip", "string"),
    "cs-method": ("method", "string"),
    "cs(Host)": ("distribution_host", "string"),
    "cs-uri-stem": ("uri_stem", "url"),
    "sc-status": ("status", "int"),
    "cs(Referer)": ("referrer", "url"),
    "cs(User-Agent)": ("user_agent", "url"),
    "cs-uri-query": ("uri_query", "string"),  # kept encoded: decoding would blur its & and = separators
    "cs(Cookie)": ("cookie", "url"),
    "x-edge-result-type": ("edge_result_type", "string"),
    "x-edge-request-id": ("request_id", "string"),
    "x-host-header": ("host_header", "string"),
    "cs-protocol": ("protocol", "string"),
    "cs-bytes": ("request_bytes", "bigint"),
    "time-taken": ("time_taken", "double"),
    "x-forwarded-for": ("forwarded_for", "string"),
    "ssl-protocol": ("ssl_protocol", "string"),
    "ssl-cipher": ("ssl_cipher", "string"),
    "x-edge-response-result-type": ("edge_response_result_type", "string"),
    "cs-protocol-version": ("protocol_version", "string"),
    "fle-status": ("fle_status", "string"),
    "fle-encrypted-fields": ("fle_encrypted_fields", "string"),
    "c-port": ("client_port", "int"),
    "time-to-first-byte": ("time_to_first_byte", "double"),
    "x-edge-detailed-result-type": ("edge_detailed_result_type", "string"),
    "sc-content-type": ("content_type", "string"),
    "sc-content-len": ("content_length", "bigint"),
    "sc-range-start": ("range_start", "bigint"),
    "sc-range-end": ("range_end", "bigint"),
}
FIELDS = list(COLUMNS)
FIELDS_LINE = "#Fields: " + " ".join(FIELDS)

_PATTERNS = {
    "date": r"^\d{4}-\d{2}-\d{2}$",
    "bigint": r"^-?\d{1,18}$",
    "int": r"^-?\d{1,9}$",
    "double": r"^-?\d+(\.\d+)?$",
    "url": r"^([^%]|%[0-9A-Fa-f]{2})*$",  # url_decode fails on a broken escape: such a line is malformed
}
_DESCRIBED = {
    "date": "a date (yyyy-MM-dd)",
    "bigint": "a whole number",
    "int": "a whole number",
    "double": "a number",
    "url": "URL-encoded (a % not followed by two hex digits)",
}


def parse(lines: DataFrame) -> DataFrame:
    """`lines` (a text DataFrame: `value`, plus any partition columns) -> one typed row per request line.

    The two comment lines of each file go; every other line is a row, with MALFORMED set to its text
    when it is not a request of the format.
    """
    extra = [c for c in lines.columns if c != "value"]
    comments = F.col("value").startswith("#Version:") | (F.col("value") == FIELDS_LINE)
    # In steps, each a column the next refers to by name: Spark then evaluates the split, each field and
    # the verdict once per line, instead of inlining them into every column that uses them.
    fields = F.split(F.col("value"), "\t", -1)
    split = lines.where(~comments).select(
        "value",
        *extra,
        F.size(fields).alias("_count"),
        # get(): null past the end of a short line, also where Spark runs in ANSI mode (Spark 4)
        *(F.get(fields, i).alias(f"_f{i}") for i in range(len(FIELDS))),
    )
    raw = {field: F.when(F.col(f"_f{i}") != "-", F.col(f"_f{i}")) for i, field in enumerate(FIELDS)}
    # (whether it holds, why the line is malformed when it does not), in the order a reader would look
    checks = [
        (~F.col("value").startswith("#Fields:"), F.lit("a #Fields line naming other fields than the 33 of CloudFront's format")),
        (F.col("_count") == len(FIELDS), F.concat(F.col("_count").cast("string"), F.lit(f" tab-separated fields, not {len(FIELDS)}"))),
        (raw["date"].isNotNull(), F.lit("date: empty")),
        (raw["time"].isNotNull(), F.lit("time: empty")),
    ] + [
        (
            raw[field].isNull() | raw[field].rlike(_PATTERNS[kind]),
            F.concat(F.lit(f"{field}: '"), raw[field], F.lit(f"' is not {_DESCRIBED[kind]}")),
        )
        for field, (_, kind) in COLUMNS.items()
        if kind in _PATTERNS
    ]
    # CloudFront's date and time are UTC: the offset is spelled out, whatever the session's time zone. An
    # impossible time (25:61, 31 February) is null here, with ANSI SQL on (Spark 4's default) or off.
    request_time = F.try_to_timestamp(F.concat(raw["date"], F.lit("T"), raw["time"], F.lit("Z")), F.lit("yyyy-MM-dd'T'HH:mm:ssX"))
    judged = split.select("*", reduce(lambda a, b: a & b, [holds for holds, _ in checks]).alias("_ok"))
    judged = judged.select("*", F.when(F.col("_ok"), request_time).alias("request_time"))
    well_formed = F.col("_ok") & F.col("request_time").isNotNull()
    impossible = F.concat(F.lit("date and time: '"), raw["date"], F.lit(" "), raw["time"], F.lit("' is no moment of the calendar"))
    # the reason, with its strings, only for the lines that are malformed (as etl/extract/strict.py does)
    reason = F.when(~well_formed, F.coalesce(*[F.when(~holds, why) for holds, why in checks], impossible))
    return judged.select(
        F.when(well_formed, F.col("request_time")).alias("request_time"),
        *(F.when(well_formed, _typed(raw[field], kind)).alias(column) for field, (column, kind) in COLUMNS.items()),
        F.when(~well_formed, F.col("value")).alias(MALFORMED),
        reason.alias(REASON),
        *extra,
    )


def _typed(value: Column, kind: str) -> Column:
    if kind == "url":
        # URLDecoder reads + as a space; CloudFront leaves a literal + as it is (`Googlebot/2.1; +http://...`)
        return F.url_decode(F.regexp_replace(value, r"\+", "%2B"))
    if kind == "date":
        return F.to_date(value, "yyyy-MM-dd")
    return value.cast(kind)
