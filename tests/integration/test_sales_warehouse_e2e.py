"""End to end: the README's five-minute tour (`etl demo-data`, a backfill of the first quarter, the next
night's run and its rerun, `etl sql`, `etl runs`, `etl report`) and its other sales_warehouse commands
(DESCRIBE, `etl report`, `etl runs --format json`), run as written, as a user runs them.

Expected values are computed with DuckDB from the raw landing files, and the comments read from the job's
YAML, never with the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import yaml

from tests.integration.conftest import REPO, Lake, query
from tests.integration.expected import (
    WAREHOUSE_SQL,
    aggregate_rows,
    dimension_rows,
    expected_aggregates,
    expected_dimension,
    expected_facts,
)
from tests.readme import Ran, blocks_run_by
from tests.report_page import parse

pytestmark = pytest.mark.integration

# The tour: a backfill of the first quarter, then the next night, run twice.
FIRST, LAST, NIGHT = "1992-01-01", "1992-03-31", "1992-04-01"
JOB = yaml.safe_load((REPO / "conf" / "jobs" / "sales_warehouse.yaml").read_text())
AUDIT_SQL = (
    "SELECT job, env, status, window_start, run_date, rows_read['lineitem'] AS lineitem, rows_read['orders'] AS orders, "
    "rows_written['fact_sales'] AS facts, rows_malformed['lineitem'] AS malformed, accounting, validation, error "
    "FROM etl_audit.job_runs ORDER BY started_at"
)
FACTS_SQL = "SELECT * FROM warehouse.fact_sales ORDER BY order_key, line_number"
PARTITIONS_SQL = "SHOW PARTITIONS warehouse.fact_sales"
Counts = list[tuple[dict[str, int], dict[str, int]]]  # (rows read per source, rows written per target) of each run


@dataclass
class Tour(Lake):
    ran: list[Ran] = field(default_factory=list)  # every command of the README's blocks, in the order run

    def printed(self, *words: str) -> list[str]:
        """What the commands starting with these words printed on stdout, in the order they ran."""
        return [ran.stdout for ran in self.ran if ran.command.argv[: len(words)] == list(words)]


@pytest.fixture(scope="module")
def loaded(lake: Lake) -> Tour:
    # The tour lands the whole TPC-H range (1992-01-01 .. 1998-12-31); the backfill reads its quarter only.
    tour = Tour(lake.root)
    for block in blocks_run_by(__file__):
        tour.ran += tour.readme(block)
    tour.prefetch(*WAREHOUSE_SQL, AUDIT_SQL, FACTS_SQL, PARTITIONS_SQL)
    return tour


@pytest.fixture(scope="module")
def dimension(loaded: Lake) -> list[tuple]:
    return expected_dimension(loaded, FIRST, NIGHT)


@pytest.fixture(scope="module")
def aggregates(loaded: Lake) -> list[tuple]:
    return expected_aggregates(loaded, FIRST, NIGHT)


def count(sql: str) -> int:
    [(n,)] = query(f"SELECT count(*) FROM {sql}")
    return int(n)


@pytest.fixture(scope="module")
def counts(loaded: Lake, dimension: list[tuple], aggregates: list[tuple]) -> Counts:
    """(rows read per source, rows written per target) of the tour's runs, newest first: the rerun, the night's
    first run, the backfill. Read: the window's extracts, the static nation and region files, the dimension
    read back; written: the window's facts and aggregates, and the whole dimension (every run rewrites it)."""
    static = {table: count(loaded.static(table)) for table in ("nation", "region")}

    def window(first: str, last: str) -> tuple[dict[str, int], dict[str, int]]:
        read = {table: count(loaded.raw(table, first, last)) for table in ("orders", "lineitem", "customer")}
        # a day's aggregates take the customer valid on that day: later versions change none
        written = {"fact_sales": count(f"({expected_facts(loaded, first, last)})"),
                   "agg_sales_daily": sum(first <= row[0] <= last for row in aggregates)}  # fmt: skip
        return read | static, written

    def run(counts: tuple[dict[str, int], dict[str, int]], before: int, after: int) -> tuple[dict[str, int], dict[str, int]]:
        read, written = counts
        return read | {"dim_customer": before}, written | {"dim_customer": after}

    quarter, night = window(FIRST, LAST), window(NIGHT, NIGHT)
    versions, quarters_versions = len(dimension), len(expected_dimension(loaded, FIRST, LAST))
    # the rerun reads the dimension back with the night's versions in it (its first run wrote them)
    return [run(night, versions, versions), run(night, quarters_versions, versions), run(quarter, 0, quarters_versions)]


# --- the tables after the tour: the extracts through the night, each line once ------------------------


def test_fact_sales_equals_the_raw_lines_with_exact_net_revenue(loaded: Lake) -> None:
    expected = query(f"SELECT * FROM ({expected_facts(loaded, FIRST, NIGHT)}) ORDER BY order_key, line_number")
    rows = loaded.sql(FACTS_SQL)
    assert len(rows) == len(expected) > 2000
    columns = ["order_key", "line_number", "customer_key", "part_key", "supplier_key", "order_date", "ship_date",
               "quantity", "extended_price", "discount", "tax", "net_revenue"]  # fmt: skip
    for row, want in zip(rows, expected, strict=True):
        got = tuple(
            Decimal(row[c]) if isinstance(w, Decimal) else type(w)(row[c]) if isinstance(w, int) else row[c]
            for c, w in zip(columns, want, strict=True)
        )
        assert got == tuple(w if isinstance(w, Decimal | int) else str(w) for w in want)
    # the days of the backfill and the night, and only those, are partitions
    days = query(f"SELECT DISTINCT o_orderdate FROM {loaded.raw('orders', FIRST, NIGHT)} ORDER BY 1")
    assert [p["partition"] for p in loaded.sql(PARTITIONS_SQL)] == [f"order_date={d}" for (d,) in days]
    assert str(days[-1][0]) == NIGHT


def test_dim_customer_is_the_scd2_history_of_the_extracts(loaded: Lake, dimension: list[tuple]) -> None:
    assert dimension_rows(loaded) == dimension
    current = [row for row in dimension if row[-1] == "true"]
    assert len(current) == 1500  # every TPC-H SF 0.01 customer has exactly one current version
    assert len(dimension) > 1500  # and the demo's changes made history


def test_agg_sales_daily_uses_the_customer_as_of_the_order_date(loaded: Lake, aggregates: list[tuple]) -> None:
    # DuckDB's ASOF join picks the latest extract row on or before the order date: a different algorithm
    # from the job's SCD2 range join.
    assert aggregate_rows(loaded) == aggregates


def test_audit_rows_of_the_backfill_the_night_and_its_rerun(loaded: Lake, counts: Counts) -> None:
    def expected(first: str, last: str, read: dict[str, int]) -> dict[str, str]:
        lines = read["lineitem"]
        return {"job": "sales_warehouse", "env": "local", "status": "succeeded", "window_start": first, "run_date": last,
                "lineitem": str(lines), "orders": str(read["orders"]), "facts": str(lines), "malformed": "0", "validation": "passed",
                "error": "", "accounting": f"fact_sales: {lines} read from lineitem = 0 malformed + {lines} loaded + 0 quarantined + 0 dropped"}  # fmt: skip

    [(rerun, _), (night, _), (backfill, _)] = counts
    # the rerun read and loaded what the first run did (and the tables hold each line once: the tests above)
    assert loaded.sql(AUDIT_SQL) == [expected(FIRST, LAST, backfill), expected(NIGHT, NIGHT, night), expected(NIGHT, NIGHT, rerun)]
    # a rerun changes no table: test_defective_extracts.py (a backfill's last day), test_nightly_e2e.py (a night)
    # a day whose extract has not landed: tests/integration/test_nightly_e2e.py (the pipeline's third night)


# --- what the README's commands print -----------------------------------------------------------------


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_the_tours_queries_print_the_nights_aggregates_and_the_customers_histories_as_csv(
    loaded: Tour, aggregates: list[tuple], dimension: list[tuple]
) -> None:
    [tours, _] = loaded.printed("etl", "sql")
    night, histories = tours.split("\n\n")  # one command, two queries: their results apart by an empty line
    header, *rows = csv_rows(night)
    assert header == ["order_date", "nation", "market_segment", "orders", "lines", "net_revenue"]
    expected = sorted((row for row in aggregates if row[0] == NIGHT), key=lambda row: row[-1], reverse=True)
    assert [(d, n, s, int(o), int(li), Decimal(r)) for d, n, s, o, li, r in rows] == expected and len(expected) > 1
    assert len({row[-1] for row in expected}) == len(expected)  # no ties: the order is the README's alone

    changed = {key for key, versions in Counter(row[0] for row in dimension).items() if versions > 1}
    header, *rows = csv_rows(histories)
    assert header == ["customer_key", "market_segment", "valid_from", "valid_to", "is_current"]
    assert rows == sorted(([k, s, f, t, c] for k, _, _, _, s, _, f, t, c in dimension if k in changed), key=lambda r: (int(r[0]), r[2]))
    assert len(changed) > 10


def aligned_rows(text: str) -> list[dict[str, str]]:
    """An aligned table's rows as dicts, its columns where the rule line's dashes are."""
    header, rule, *lines = text.splitlines()
    spans: list[tuple[int, int | None]] = [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]
    spans[-1] = (spans[-1][0], None)  # the last column runs to the line's end

    def cells(line: str) -> list[str]:
        return [line[start:end].strip() for start, end in spans]

    return [dict(zip(cells(header), cells(line), strict=True)) for line in lines]


def test_etl_runs_lists_the_runs_newest_first_with_the_rows_read_and_loaded(loaded: Tour, counts: Counts) -> None:
    [in_the_tour] = loaded.printed("etl", "runs", "--env", "local")
    rows = aligned_rows(in_the_tour)
    # rows read: the run's own input, the dimension read back left out; loaded: over all targets
    own = [(sum(n for source, n in read.items() if source != "dim_customer"), sum(written.values())) for read, written in counts]
    assert [(r["job"], r["run date"], r["status"], r["rows read"], r["loaded"], r["quarantined"], r["dropped"], r["validation"], r["error"])
            for r in rows] == [
        ("sales_warehouse", run_date, "succeeded", f"{read:,}", f"{written:,}", "0", "0", "passed", "")
        for run_date, (read, written) in zip([NIGHT, NIGHT, f"{FIRST}..{LAST}"], own, strict=True)
    ]  # fmt: skip
    assert all(re.fullmatch(r"\d+s|\d+m \d\ds", row["duration"]) for row in rows)


def runs_json(loaded: Tour) -> list[dict[str, Any]]:
    [printed] = loaded.printed("etl", "runs", "sales_warehouse", "--env", "local", "--format", "json")
    return [json.loads(line) for line in printed.splitlines()]


def test_etl_runs_json_has_every_count_per_source_and_target(loaded: Tour, counts: Counts) -> None:
    runs = runs_json(loaded)
    assert [(run["job"], run["window_start"], run["run_date"], run["status"]) for run in runs] == [
        ("sales_warehouse", NIGHT, NIGHT, "succeeded"), ("sales_warehouse", NIGHT, NIGHT, "succeeded"),
        ("sales_warehouse", FIRST, LAST, "succeeded"),
    ]  # fmt: skip
    # every count of every run, as DuckDB counts them (the rerun's differ in the dimension read back, if the night changed it)
    assert [(run["rows_read"], run["rows_written"]) for run in runs] == counts
    csv_sources = {"orders": 0, "lineitem": 0, "customer": 0, "nation": 0, "region": 0}
    assert all(
        (run["rows_malformed"], run["rows_quarantined"], run["rows_dropped"]) == (csv_sources, {"fact_sales": 0}, {}) for run in runs
    ), runs
    assert runs[0]["started_at"] > runs[1]["started_at"] > runs[2]["started_at"]


def test_the_history_page_lists_the_runs_with_their_reports(loaded: Tour, counts: Counts) -> None:
    dq = loaded.root / "dq" / "sales_warehouse"
    [printed] = loaded.printed("etl", "report", "sales_warehouse", "--env", "local", "--history")
    assert printed == f"file://{dq}/history.html\n"
    page = (dq / "history.html").read_text()
    rows = re.findall(r'<tr class="run [^"]*" data-run-id="([^"]+)" data-status="([^"]+)">(.*?)</tr>', page)
    ids = [run["run_id"] for run in runs_json(loaded)]
    reports = [f"run_date={NIGHT}/{ids[0]}", f"run_date={NIGHT}/{ids[1]}", f"run_date={LAST}/{ids[2]}"]
    cells = [(run, status, dict(re.findall(r'<td class="([a-z-]+)">(.*?)</td>', row))) for run, status, row in rows]
    assert [(run, status, c["run-date"], c["loaded"], c["quarantine-rate"], c["report"]) for run, status, c in cells] == [
        (run, "succeeded", dates, f"{sum(written.values()):,}", "0%", f'<a href="{report}/report.html">report</a>')
        for run, dates, (_, written), report in zip(ids, [NIGHT, NIGHT, f"{FIRST}..{LAST}"], counts, reports, strict=True)
    ]
    assert all((dq / report / "report.html").is_file() for report in reports)


def test_etl_report_prints_the_newest_report_of_the_night(loaded: Tour) -> None:
    rerun = runs_json(loaded)[0]["run_id"]
    night = loaded.root / "dq" / "sales_warehouse" / f"run_date={NIGHT}"
    assert sorted(folder.name for folder in night.iterdir())[-1] == rerun  # run ids sort by start time
    printed = loaded.printed("etl", "report", "sales_warehouse", "--env", "local", "--run-date", NIGHT)
    assert printed == [f"file://{night}/{rerun}/report.html\n"] * 2  # in the tour, and in "The validation report"
    page = parse((night / rerun / "report.html").read_text())
    assert {key: page.summary[key] for key in ("job", "run-id", "run-date", "window", "status")} == {
        "job": "sales_warehouse", "run-id": rerun, "run-date": NIGHT, "window": NIGHT, "status": "passed"
    }  # fmt: skip


def test_describe_shows_the_comments_of_the_jobs_yaml(loaded: Tour) -> None:
    [_, describes] = loaded.printed("etl", "sql", "--env", "local")
    described, extended = describes.split("\n\n")
    target = JOB["targets"]["fact_sales"]
    header, *rows = csv_rows(described)
    assert header == ["col_name", "data_type", "comment"]
    columns = rows[: rows.index(["# Partition Information", "", ""])]
    assert {name: comment for name, _, comment in columns} == target["columns"]
    assert [name for name, _, _ in columns] == [name for name in target["columns"] if name != "order_date"] + ["order_date"]
    assert ["Comment", target["description"], ""] in csv_rows(extended)
