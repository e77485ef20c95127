"""The nightly load fed the defects real extracts have: every line is loaded exactly, quarantined with its
raw text and the reason, or the run fails in one line and changes nothing.

The defects are written into a few days of demo data by the test; what each must become is computed here
from the raw lines (and with DuckDB from a pristine copy of the extracts), never by the reader.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import Lake, Result, query
from tests.integration.expected import FACT_KEYS_SQL, expected_fact_keys, fact_keys

pytestmark = pytest.mark.integration

FIRST, BAD_DAY, LAST = "1992-01-01", "1992-01-02", "1992-01-04"
AUDIT_SQL = (
    "SELECT run_date, status, rows_read['lineitem'] AS lineitem_read, rows_malformed['lineitem'] AS lineitem_malformed, "
    "rows_read['customer'] AS customer_read, rows_malformed['customer'] AS customer_malformed, accounting, error "
    "FROM etl_audit.job_runs ORDER BY started_at"
)
PRICE, SHIPDATE, COMMENT = 5, 10, 15  # l_extendedprice, l_shipdate, l_comment: positions in a lineitem line
REQUIRED = "a required column; declare it nullable if it may be empty"
QUARANTINE_SQL = " UNION ALL ".join(
    f"SELECT '{source}' AS source, record, reason, rules[0] AS rule, source_file, run_date FROM quarantine.sales_warehouse_{source}"
    for source in ("lineitem", "customer")
)


@dataclass
class Defects:
    lake: Lake
    pristine: Lake  # the extracts as landed, for DuckDB
    lines: list[tuple[str, str]]  # (raw line, reason) of every lineitem line that must be quarantined
    customer_line: tuple[str, str]  # (the line as decoded, reason)
    dropped_keys: set[tuple[int, int]]  # (order key, line number) of the lineitem records that must not load
    backfill: Result
    facts: list[tuple]  # fact_sales after the backfill


def _file(lake: Lake, table: str, day: str) -> Path:
    [file] = (lake.root / "raw" / "tpch" / table / f"dt={day}").glob("*.csv")
    return file


def _rewrite(file: Path, data: bytes) -> None:
    """Change an extract as its producer would: the checksum file Spark's landing left beside it goes too."""
    file.write_bytes(data)
    file.with_name(f".{file.name}.crc").unlink(missing_ok=True)


def _lines(file: Path) -> list[str]:
    return file.read_bytes().decode().split("\n")


@pytest.fixture(scope="module")
def defects(lake: Lake) -> Defects:
    lake.etl_ok("demo-data", "--env", "local", "--scale", "0.01", "--from", FIRST, "--to", LAST)
    pristine = Lake(lake.root.parent / "pristine")
    shutil.copytree(lake.root / "raw", pristine.root / "raw")

    lineitem = _file(lake, "lineitem", BAD_DAY)
    header, *rows = [line for line in _lines(lineitem) if line]
    changed = {  # line index -> (new field value at a position, the reason it must carry)
        0: (PRICE, '"1051,15"', "l_extendedprice: '1051,15' is not a decimal(15,2)"),
        1: (PRICE, "1051.155", "l_extendedprice: '1051.155' is not a decimal(15,2)"),
        2: (PRICE, "", f"l_extendedprice: empty ({REQUIRED})"),
        3: (SHIPDATE, "1992-02-30", "l_shipdate: '1992-02-30' is not a date (yyyy-MM-dd)"),
    }
    quarantined, dropped, out = [], set(), [header]
    for index, row in enumerate(rows):
        fields = row.split(",", COMMENT)  # the comment, last, may hold commas
        key = (int(fields[0]), int(fields[3]))
        if index in changed:
            position, value, reason = changed[index]
            fields[position] = value
            row = ",".join(fields)
            quarantined.append((row, reason))
            dropped.add(key)
        elif index == 4:  # a valid RFC 4180 record whose quoted comment holds a comma and a line break
            first, second = ",".join([*fields[:COMMENT], '"a comment, with a comma and']), 'a line break"'
            quarantined += [
                (first, "a quoted field does not end on this line (set multiline: true on the source for records over several lines)"),
                (second, "not the 16 fields of the header"),
            ]
            dropped.add(key)
            out += [first, second]
            continue
        out.append(row)
    _rewrite(lineitem, ("\n".join(out) + "\n").encode())

    customer = _file(lake, "customer", BAD_DAY)
    some_customer = _lines(_file(lake, "customer", FIRST))[1].split(",")
    some_customer[1] = "Caf\udce9"  # a latin-1 é in a UTF-8 file: the byte 0xE9 alone
    raw = ",".join(some_customer).encode("utf-8", "surrogateescape")
    _rewrite(customer, customer.read_bytes() + raw + b"\n")
    customer_line = (
        ",".join(some_customer).replace("\udce9", "\ufffd"),
        f"c_name: bytes not valid in utf-8 (the line in hex: {raw.hex().upper()})",
    )

    backfill = lake.etl("backfill", "sales_warehouse", "--env", "local", "--from", FIRST, "--to", LAST)
    if backfill.code == 0:
        lake.prefetch(FACT_KEYS_SQL, AUDIT_SQL, QUARANTINE_SQL)
    return Defects(lake, pristine, sorted(quarantined), customer_line, dropped, backfill, fact_keys(lake) if backfill.code == 0 else [])


def _quarantined(lake: Lake, source: str, day: str) -> list[tuple[str, str]]:
    """(record, reason) of a source's quarantined lines filed under a day, sorted."""
    return sorted((r["record"], r["reason"]) for r in lake.sql(QUARANTINE_SQL) if (r["source"], r["run_date"]) == (source, day))


INFO = re.compile(r"^\d\d:\d\d:\d\d INFO etl(\.\w+)*: ")


def _beyond_progress(stderr: str) -> list[str]:
    """The whole stderr but for the command's own INFO lines and Spark's progress bar (redrawn with \\r):
    what is left is every warning and error a person reads."""
    parts = [part for line in stderr.split("\n") for part in line.split("\r")]
    return [part for part in parts if part.strip() and not part.startswith("[Stage") and not INFO.match(part)]


def test_every_defective_line_is_quarantined_with_its_raw_text_and_reason(defects: Defects) -> None:
    assert defects.backfill.code == 0, defects.backfill.stderr[-3000:]
    assert _beyond_progress(defects.backfill.stderr) == []
    said = [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in defects.backfill.stderr.splitlines() if "malformed line(s)" in line]
    see = "(`etl quarantine sales_warehouse --run-date DAY`)"
    assert said == [
        f"INFO etl.run.load: source lineitem: {len(defects.lines)} malformed line(s) quarantined in quarantine.sales_warehouse_lineitem {see}",
        f"INFO etl.run.load: source customer: 1 malformed line(s) quarantined in quarantine.sales_warehouse_customer {see}",
    ]
    assert _quarantined(defects.lake, "lineitem", BAD_DAY) == defects.lines
    assert _quarantined(defects.lake, "customer", BAD_DAY) == [defects.customer_line]
    rows = defects.lake.sql(QUARANTINE_SQL)
    assert len(rows) == len(defects.lines) + 1  # filed under their own day, and nowhere else
    assert {(r["rule"], r["source_file"].rsplit("/", 2)[-2]) for r in rows} == {("malformed_record", f"dt={BAD_DAY}")}


def test_the_facts_are_the_other_lines_exactly_and_the_counts_add_up(defects: Defects) -> None:
    expected = [row for row in expected_fact_keys(defects.pristine, FIRST, LAST) if (row[0], row[1]) not in defects.dropped_keys]
    assert len(expected) > 100
    assert fact_keys(defects.lake) == expected
    pristine_lines = query(f"SELECT count(*) FROM {defects.pristine.raw('lineitem', FIRST, LAST)}")[0][0]
    pristine_customers = query(f"SELECT count(*) FROM {defects.pristine.raw('customer', FIRST, LAST)}")[0][0]
    [audit] = defects.lake.sql(AUDIT_SQL)
    read = pristine_lines + 1  # the record over two lines is two lines read
    malformed = len(defects.lines)
    assert audit == {
        "run_date": LAST,
        "status": "succeeded",
        "lineitem_read": str(read),
        "lineitem_malformed": str(malformed),
        "customer_read": str(pristine_customers + 1),
        "customer_malformed": "1",
        "accounting": f"fact_sales: {read} read from lineitem = {malformed} malformed + {read - malformed} loaded + 0 quarantined + 0 dropped",
        "error": "",
    }


@pytest.fixture
def restored(defects: Defects) -> Iterator[Defects]:
    """The extracts as the defects fixture left them, after the test."""
    saved = defects.lake.root.parent / "saved-raw"
    shutil.copytree(defects.lake.root / "raw", saved)
    yield defects
    shutil.rmtree(defects.lake.root / "raw")
    saved.rename(defects.lake.root / "raw")


def test_a_renamed_header_column_fails_the_run_in_one_line_and_changes_nothing(restored: Defects) -> None:
    lake = restored.lake
    orders = _file(lake, "orders", "1992-01-03")
    header, rest = orders.read_text().split("\n", 1)
    renamed = header.replace("o_totalprice", "o_total_price")
    _rewrite(orders, f"{renamed}\n{rest}".encode())
    result = lake.etl("run", "sales_warehouse", "--env", "local", "--run-date", "1992-01-03")
    declared = "o_orderkey,o_custkey,o_orderstatus,o_totalprice,o_orderdate,o_orderpriority,o_clerk,o_shippriority,o_comment"
    assert result.code == 1
    assert _beyond_progress(result.stderr) == [  # the whole stderr: one line
        f"etl: error: source orders: the header of file://{orders} does not match the declared columns: {renamed} (declared: {declared})"
    ]
    assert fact_keys(lake) == restored.facts


def test_a_rerun_of_the_backfills_last_day_keeps_the_quarantined_lines_of_its_other_days(restored: Defects) -> None:
    """The rerun finds that day's folders holding only _SUCCESS markers: an empty day, not an error."""
    lake = restored.lake
    for table in ("orders", "lineitem", "customer"):
        folder = lake.root / "raw" / "tpch" / table / f"dt={LAST}"
        shutil.rmtree(folder)
        folder.mkdir()
        (folder / "_SUCCESS").touch()
    result = lake.etl("run", "sales_warehouse", "--env", "local", "--run-date", LAST)
    assert (result.code, _beyond_progress(result.stderr)) == (0, []), result.stderr[-3000:]
    lake.prefetch(AUDIT_SQL, QUARANTINE_SQL)
    audit = lake.sql(AUDIT_SQL)[-1]
    assert (audit["run_date"], audit["status"], audit["lineitem_read"], audit["customer_read"]) == (LAST, "succeeded", "0", "0")
    assert _quarantined(lake, "lineitem", BAD_DAY) == restored.lines
    assert _quarantined(lake, "customer", BAD_DAY) == [restored.customer_line]
    assert len(lake.sql(QUARANTINE_SQL)) == len(restored.lines) + 1
