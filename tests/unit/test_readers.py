"""Readers for json, parquet and table sources, with the run's days only."""

from __future__ import annotations

import gzip
import json
from datetime import date
from decimal import Decimal

import pytest
from pyspark.sql import Observation, SparkSession

from etl.config.models import SourceConfig
from etl.errors import SourceError
from etl.extract import read_source
from etl.extract.malformed import malformed_rows, observed, well_formed
from etl.zones import Zones, local_path

D1, D2, D3 = date(2023, 3, 1), date(2023, 3, 2), date(2023, 3, 3)


def test_json_reads_only_the_window_with_the_declared_schema(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    root = local_path(zones.raw)
    assert root is not None
    for day, rows in (
        (D1, [{"id": 1, "amount": "1.50"}]),
        (D2, [{"id": 2, "amount": "2.25"}, {"id": 3}]),
        (D3, [{"id": 4, "amount": "9"}]),
    ):
        folder = root / "unit_readers" / "events" / f"dt={day}"
        folder.mkdir(parents=True)
        (folder / "part.json").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    columns = {"id": "bigint", "amount": {"type": "decimal(10,2)", "nullable": True}}
    source = SourceConfig(format="json", path="unit_readers/events", date_partition="dt", columns=columns)
    frame = well_formed(read_source(spark, "events", source, make_ctx(D1, D2)))
    assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == [
        ("id", "bigint"),
        ("amount", "decimal(10,2)"),
        ("dt", "date"),
    ]
    assert sorted(tuple(r) for r in frame.collect()) == [(1, Decimal("1.50"), D1), (2, Decimal("2.25"), D2), (3, None, D2)]


def test_parquet_and_table_sources(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    spark.createDataFrame([(1, "x"), (2, "y")], "id bigint, name string").write.mode("overwrite").parquet(
        f"{zones.raw}/unit_readers/snapshot"
    )
    frame = read_source(spark, "snapshot", SourceConfig(format="parquet", path="unit_readers/snapshot"), make_ctx(D1))
    assert sorted(tuple(r) for r in frame.collect()) == [(1, "x"), (2, "y")]

    missing = SourceConfig(format="table", table="unit_readers.not_yet", optional=True, columns={"id": "bigint"})
    empty = read_source(spark, "previous", missing, make_ctx(D1))
    assert (empty.columns, empty.count()) == (["id"], 0)
    with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
        read_source(spark, "previous", SourceConfig(format="table", table="unit_readers.not_yet"), make_ctx(D1))


def json_day(zones: Zones, name: str, lines: list[str]) -> None:
    """One day (D1) of JSON lines under <raw>/unit_readers/<name>."""
    root = local_path(zones.raw)
    assert root is not None
    folder = root / "unit_readers" / name / f"dt={D1}"
    folder.mkdir(parents=True)
    (folder / "part.json").write_text("\n".join(lines) + "\n")


def csv_source(zones: Zones, name: str, text: str, columns: dict[str, str], malformed: str = "quarantine") -> SourceConfig:
    """One day (D1) of a CSV extract under <raw>/unit_readers/<name>, and its source config."""
    root = local_path(zones.raw)
    assert root is not None
    folder = root / "unit_readers" / name / f"dt={D1}"
    folder.mkdir(parents=True)
    (folder / "part.csv").write_text(text)
    return SourceConfig(
        format="csv", path=f"unit_readers/{name}", date_partition="dt", allow_empty=True, columns=columns, malformed=malformed
    )


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("wrong_type", "two,3.00", "id: 'two' is not a bigint"),
        ("unused_column_wrong_type", "2,abc", "amount: 'abc' is not a decimal(10,2)"),
        ("field_too_many", "2,3.00,x", "not the 2 fields of the header"),
        ("field_too_few", "2", "not the 2 fields of the header"),
    ],
)
def test_malformed_csv_line_fails_the_read_when_configured(  # type: ignore[no-untyped-def]
    spark: SparkSession, zones: Zones, make_ctx, name: str, line: str, reason: str
) -> None:
    """The lines that quarantine would take stop the run, even when the query uses only `id`."""
    from etl.errors import one_line

    source = csv_source(zones, f"fail_{name}", f"id,amount\n1,2.50\n{line}\n", {"id": "bigint", "amount": "decimal(10,2)"}, "fail")
    with pytest.raises(Exception) as error:
        read_source(spark, "bad", source, make_ctx(D1)).select("id").collect()
    file = f"{zones.raw}/unit_readers/fail_{name}/dt={D1}/part.csv"
    assert one_line(error.value) == f"source bad: malformed line in {file} ({reason}): {line}"


BAD_CSV = (
    "id,amount,note\n"
    "1,2.50,fine\n"
    "two,3.00,wrong type in id\n"
    "3\n"  # too few fields
    "4,1.00,x,surplus\n"  # too many
    "5,abc,wrong type in amount\n"
    '6,7.00,"quoted, with comma"\n'
)


def test_malformed_csv_lines_are_split_off_with_their_raw_text(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    source = csv_source(zones, "mixed", BAD_CSV, {"id": "bigint", "amount": "decimal(10,2)", "note": "string"})
    observation = Observation("unit_readers_mixed")
    frame = observed(read_source(spark, "mixed", source, make_ctx(D1)), observation)
    # The query uses only `id`: a line whose other fields do not parse is malformed all the same.
    assert sorted(r.id for r in well_formed(frame).select("id").collect()) == [1, 6]
    assert observation.get == {"rows": 6, "malformed": 4}
    bad = sorted((r.record, r.rules, r.reason, r.source_file.rsplit("/", 2)[-2:]) for r in malformed_rows(frame).collect())
    file = [f"dt={D1}", "part.csv"]
    assert bad == [
        ("3", ["malformed_record"], "not the 3 fields of the header", file),
        ("4,1.00,x,surplus", ["malformed_record"], "not the 3 fields of the header", file),
        ("5,abc,wrong type in amount", ["malformed_record"], "amount: 'abc' is not a decimal(10,2)", file),
        ("two,3.00,wrong type in id", ["malformed_record"], "id: 'two' is not a bigint", file),
    ]


def test_broken_json_records_and_wrong_types_are_malformed(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    lines = ['{"id": 1, "name": "a"}', '{"id": "one", "name": "b"}', '{"id": 3, "name": ', '{"id": 4}', '{"id": 5.0, "name": "e"}', "[6]"]
    json_day(zones, "broken_json", lines)
    columns = {"id": "bigint", "name": {"type": "string", "nullable": True}}
    source = SourceConfig(format="json", path="unit_readers/broken_json", date_partition="dt", columns=columns)
    frame = observed(read_source(spark, "broken_json", source, make_ctx(D1)), Observation("unit_readers_broken_json"))
    assert sorted(tuple(r) for r in well_formed(frame).select("id", "name").collect()) == [(1, "a"), (4, None)]
    assert sorted((r.record, r.reason) for r in malformed_rows(frame).collect()) == [
        ("[6]", "not a JSON object of the declared columns"),
        ('{"id": "one", "name": "b"}', "id: 'one' is not a bigint"),
        ('{"id": 3, "name": ', "not a JSON object of the declared columns"),
        ('{"id": 5.0, "name": "e"}', "id: '5.0' is not a bigint"),
    ]


@pytest.mark.parametrize(
    ("name", "text", "columns"),
    [
        # 'name' was left out of the config: read by position, amount would get the names
        ("shifted", "id,name,amount\n1,a,2.50\n", {"id": "bigint", "amount": "string"}),
        # the producer added a currency column
        ("widened", "id,amount,currency\n1,2.50,EUR\n", {"id": "bigint", "amount": "decimal(10,2)"}),
    ],
)
def test_a_csv_header_that_does_not_match_the_declared_columns_is_an_error(  # type: ignore[no-untyped-def]
    spark: SparkSession, zones: Zones, make_ctx, name: str, text: str, columns: dict[str, str]
) -> None:
    from etl.errors import one_line

    source = csv_source(zones, name, text, columns)
    with pytest.raises(Exception) as error:  # Spark 3.5: Py4JJavaError; 4.0: SparkRuntimeException
        read_source(spark, name, source, make_ctx(D1)).collect()
    header, declared = text.splitlines()[0], ",".join(columns)
    assert one_line(error.value) == (
        f"source {name}: the header of {zones.raw}/unit_readers/{name}/dt={D1}/part.csv does not match the declared columns: "
        f"{header} (declared: {declared})"
    )


def test_json_schema_drift_is_an_error_unless_ignored(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    # The producer renamed amount to total_amount and added a currency.
    records = [{"id": 1, "total_amount": "2.50", "currency": "EUR"}, {"id": 2, "total_amount": "1.00"}]
    json_day(zones, "drifted", [json.dumps(record) for record in records])
    source = SourceConfig(
        format="json", path="unit_readers/drifted", date_partition="dt", columns={"id": "bigint", "amount": "decimal(10,2)"}
    )
    with pytest.raises(SourceError) as error:
        read_source(spark, "payments", source, make_ctx(D1))
    assert str(error.value) == (
        "source payments: schema drift: new field(s) currency, total_amount and no record has amount (declared columns: id, amount); "
        "declare the fields under `columns`, or set `schema_drift: ignore` on the source"
    )
    nullable = {"id": "bigint", "amount": {"type": "decimal(10,2)", "nullable": True}}
    ignoring = SourceConfig(**{**source.model_dump(exclude_unset=True), "columns": nullable, "schema_drift": "ignore"})
    frame = well_formed(read_source(spark, "payments", ignoring, make_ctx(D1)))
    assert sorted(tuple(r) for r in frame.select("id", "amount").collect()) == [(1, None), (2, None)]


def test_days_before_reads_the_landed_days_before_the_window_only(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    root = local_path(zones.raw)
    assert root is not None
    for day, value in ((D1, 1), (D2, 2), (D3, 3)):  # D1 .. D3 landed; the day before D1 never was
        folder = root / "unit_readers" / "context" / f"dt={day}"
        folder.mkdir(parents=True)
        (folder / "part.json").write_text(json.dumps({"id": value}) + "\n")
    source = SourceConfig(format="json", path="unit_readers/context", date_partition="dt", days_before=2, columns={"id": "bigint"})
    frame = well_formed(read_source(spark, "context", source, make_ctx(D3)))
    assert sorted(tuple(r) for r in frame.collect()) == [(1, D1), (2, D2)]
    first = well_formed(read_source(spark, "context", source, make_ctx(D1)))  # nothing before D1: empty, same columns
    assert (first.columns, first.count()) == (["id", "dt"], 0)


def test_a_cloudfront_source_reads_gzip_logs_and_fails_on_a_broken_line_when_configured(  # type: ignore[no-untyped-def]
    spark: SparkSession, zones: Zones, make_ctx
) -> None:
    from tests.unit.test_clickstream import HEADER, SLACKBOT

    root = local_path(zones.raw)
    assert root is not None
    folder = root / "unit_readers" / "logs" / f"dt={D1}"
    folder.mkdir(parents=True)
    (folder / "E123.2023-03-01-00.abc.gz").write_bytes(gzip.compress("\n".join([*HEADER, SLACKBOT, "broken"]).encode() + b"\n"))
    source = SourceConfig(format="cloudfront", path="unit_readers/logs", date_partition="dt")
    frame = read_source(spark, "logs", source, make_ctx(D1))
    assert [(r.client_ip, r.dt) for r in well_formed(frame).collect()] == [("3.92.144.159", D1)]
    assert [(r.record, r.source_file.endswith(".gz")) for r in malformed_rows(frame).collect()] == [("broken", True)]
    failing = source.model_copy(update={"malformed": "fail"})
    with pytest.raises(
        Exception, match=r"source logs: malformed line in file:.*E123\.2023-03-01-00\.abc\.gz \(1 tab-separated fields, not 33\): broken"
    ):
        read_source(spark, "logs", failing, make_ctx(D1)).collect()


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"format": "cloudfront", "path": "x", "columns": {"a": "int"}}, "format 'cloudfront' has its own columns"),
        ({"format": "csv", "path": "x", "columns": {"a": "int"}, "days_before": 1}, "'days_before' needs 'date_partition'"),
        ({"format": "csv", "path": "x", "columns": {"a": "int"}, "stream": True}, "'stream' is for format json"),
        (
            {"format": "json", "path": "x", "columns": {"a": "int"}, "files_per_batch": 2},
            "'kinesis' and 'files_per_batch' are for stream sources",
        ),
        ({"format": "parquet", "path": "x", "malformed": "fail"}, "'malformed' is for formats csv, json and cloudfront"),
    ],
)
def test_source_settings_that_do_not_go_together_are_config_errors(settings: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        SourceConfig(**settings)


# --- the defects real extracts have (issue 15): each line's outcome written by hand from its text ---------

LINEITEM = {"id": "bigint", "price": "decimal(15,2)", "shipped": "date", "comment": "string"}


def raw_day(zones: Zones, name: str, data: bytes, file: str = "part.csv") -> None:
    root = local_path(zones.raw)
    assert root is not None
    folder = root / "unit_readers" / name / f"dt={D1}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / file).write_bytes(data)


def outcome(spark: SparkSession, frame) -> tuple[list[tuple], list[tuple]]:  # type: ignore[no-untyped-def]
    """(the rows that load, the malformed lines with their reasons), each sorted."""
    loaded = sorted(tuple(r) for r in well_formed(frame).drop("dt").collect())
    malformed = sorted((r.record, r.reason) for r in malformed_rows(frame).collect())
    return loaded, malformed


def test_values_spark_would_change_are_malformed_with_the_column_and_why(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    lines = [
        "id,price,shipped,comment",
        "1,1051.15,1992-02-29,fine",
        '2,"1051,15",1992-03-01,decimal comma',
        "3,1051.155,1992-03-01,three decimals",
        "4,,1992-03-01,no price",
        "5,7.00,1992-02-30,no such day",
        '6,8.00,1992-03-01,"a comment, quoted"',
        "7,9.00,1992-03-01,",
    ]
    raw_day(zones, "defects", ("\n".join(lines) + "\n").encode())
    source = SourceConfig(format="csv", path="unit_readers/defects", date_partition="dt", columns=LINEITEM)
    frame = observed(read_source(spark, "lineitem", source, make_ctx(D1)), Observation("unit_readers_defects"))
    assert outcome(spark, frame) == (
        [(1, Decimal("1051.15"), date(1992, 2, 29), "fine"), (6, Decimal("8.00"), date(1992, 3, 1), "a comment, quoted")],
        [
            (lines[2], "price: '1051,15' is not a decimal(15,2)"),
            (lines[3], "price: '1051.155' is not a decimal(15,2)"),
            (lines[4], "price: empty (a required column; declare it nullable if it may be empty)"),
            (lines[5], "shipped: '1992-02-30' is not a date (yyyy-MM-dd)"),
            (lines[7], "comment: empty (a required column; declare it nullable if it may be empty)"),
        ],
    )


def test_bytes_that_are_not_utf8_are_malformed_unless_the_encoding_is_declared(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    data = b"id,name\n1,Caf\xe9\n2,Caf\xc3\xa9\n"  # line 1 in latin-1, line 2 in UTF-8
    raw_day(zones, "latin1_in_utf8", data)
    columns = {"id": "bigint", "name": "string"}
    utf8 = SourceConfig(format="csv", path="unit_readers/latin1_in_utf8", date_partition="dt", columns=columns)
    assert outcome(spark, read_source(spark, "customer", utf8, make_ctx(D1))) == (
        [(2, "Café")],
        [("1,Caf\ufffd", "name: bytes not valid in utf-8 (the line in hex: 312C436166E9)")],
    )
    raw_day(zones, "latin1", b"id,name\n1,Caf\xe9\n")
    latin1 = SourceConfig(format="csv", path="unit_readers/latin1", date_partition="dt", columns=columns, encoding="iso-8859-1")
    assert outcome(spark, read_source(spark, "customer", latin1, make_ctx(D1))) == ([(1, "Café")], [])


def test_a_record_over_two_lines_is_read_whole_when_declared_multiline(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    first, second = '2,5.00,1992-03-01,"a comment, with a comma and', 'a line break"'
    text = f"id,price,shipped,comment\n1,4.00,1992-03-01,one line\n{first}\n{second}\n3,6.00,1992-03-01,last\n"
    raw_day(zones, "multiline", text.encode())
    lines = SourceConfig(format="csv", path="unit_readers/multiline", date_partition="dt", columns=LINEITEM)
    observation = Observation("unit_readers_multiline_lines")
    frame = observed(read_source(spark, "lineitem", lines, make_ctx(D1)), observation)
    unterminated = "a quoted field does not end on this line (set multiline: true on the source for records over several lines)"
    assert outcome(spark, frame) == (
        [(1, Decimal("4.00"), date(1992, 3, 1), "one line"), (3, Decimal("6.00"), date(1992, 3, 1), "last")],
        [(first, unterminated), (second, "not the 4 fields of the header")],  # both halves, each a line read: 4 = 2 + 2
    )
    assert observation.get == {"rows": 4, "malformed": 2}
    records = lines.model_copy(update={"multiline": True})
    observation = Observation("unit_readers_multiline_records")
    frame = observed(read_source(spark, "lineitem", records, make_ctx(D1)), observation)
    assert outcome(spark, frame) == (
        [
            (1, Decimal("4.00"), date(1992, 3, 1), "one line"),
            (2, Decimal("5.00"), date(1992, 3, 1), "a comment, with a comma and\na line break"),
            (3, Decimal("6.00"), date(1992, 3, 1), "last"),
        ],
        [],
    )
    assert observation.get == {"rows": 3, "malformed": 0}


def test_a_bad_value_in_a_multiline_record_is_malformed_with_its_fields_joined_again(  # type: ignore[no-untyped-def]
    spark: SparkSession, zones: Zones, make_ctx
) -> None:
    text = 'id,price,shipped,comment\n1,"1,5",1992-03-01,"two\nlines"\n'
    raw_day(zones, "multiline_bad", text.encode())
    source = SourceConfig(format="csv", path="unit_readers/multiline_bad", date_partition="dt", columns=LINEITEM, multiline=True)
    assert outcome(spark, read_source(spark, "lineitem", source, make_ctx(D1))) == (
        [],
        [('1,"1,5",1992-03-01,"two\nlines"', "price: '1,5' is not a decimal(15,2)")],
    )


def test_bom_crlf_gzip_and_a_header_repeated_mid_file(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    columns = {"id": "bigint", "name": "string"}
    raw_day(zones, "shapes", "\ufeffid,name\r\n1,a\r\n".encode(), "bom-crlf.csv")
    raw_day(zones, "shapes", gzip.compress(b"id,name\n2,b\nid,name\n3,c\n"), "concatenated.csv.gz")
    raw_day(zones, "shapes", b"", "empty.csv")
    source = SourceConfig(format="csv", path="unit_readers/shapes", date_partition="dt", columns=columns)
    observation = Observation("unit_readers_shapes")
    frame = observed(read_source(spark, "shapes", source, make_ctx(D1)), observation)
    assert outcome(spark, frame) == ([(1, "a"), (2, "b"), (3, "c")], [])
    assert observation.get == {"rows": 3, "malformed": 0}  # a header is not a row, wherever it is


def test_a_day_folder_with_only_a_success_marker_reads_as_an_empty_day(spark: SparkSession, zones: Zones, make_ctx) -> None:  # type: ignore[no-untyped-def]
    raw_day(zones, "marker_only", b"", "_SUCCESS")
    source = SourceConfig(format="csv", path="unit_readers/marker_only", date_partition="dt", columns={"id": "bigint"})
    with pytest.raises(SourceError) as error:
        read_source(spark, "orders", source, make_ctx(D1))
    assert str(error.value) == f"source orders: the input for {D1} holds no rows (set allow_empty: true on the source if that is expected)"
    allowed = source.model_copy(update={"allow_empty": True})
    frame = read_source(spark, "orders", allowed, make_ctx(D1))
    assert (well_formed(frame).columns, frame.count()) == (["id", "dt"], 0)
