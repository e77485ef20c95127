"""The demo's night end to end: `etl demo-data` for the TPC-H extracts and the CloudFront logs, the
`nightly` pipeline (sales_warehouse, clickstream_sessions, then daily_kpis, which needs both) as a backfill
of two days in one Spark application, then the third night, whose sales extract has not landed: the sales
load fails, the clickstream load still runs, the KPIs wait for another night. Then that night's
clickstream run again. Expected values: the raw gzip logs parsed in plain Python
(tests/integration/clickstream_expected.py) and the raw extracts read by DuckDB, never the code under test."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

import pytest
import yaml

from tests.integration.clickstream_expected import Logs, funnel_rows, read_logs, session_rows, sessions
from tests.integration.conftest import REPO, Lake, Result, query
from tests.integration.expected import (
    WAREHOUSE_SQL,
    aggregate_rows,
    dimension_rows,
    expected_aggregates,
    expected_dimension,
    expected_fact_keys,
    expected_facts,
    fact_keys,
)
from tests.readme import blocks_run_by
from tests.report_page import Page, parse

pytestmark = pytest.mark.integration

FIRST, MIDDLE, LAST = "1992-01-01", "1992-01-02", "1992-01-03"
JOB = yaml.safe_load((REPO / "conf" / "jobs" / "clickstream_sessions.yaml").read_text())
TIMEOUT = JOB["params"]["session_timeout_minutes"] * 60
TABLES = {
    "analytics.fact_pageviews": "SELECT event_date, event_time, visitor_id, request_id, page, query, step, revenue, session_id, is_bot "
    "FROM analytics.fact_pageviews ORDER BY request_id",
    "analytics.sessions": "SELECT * FROM analytics.sessions ORDER BY session_id",
    "analytics.funnel_daily": "SELECT * FROM analytics.funnel_daily ORDER BY session_date, step_number",
}
KPIS_SQL = "SELECT * FROM analytics.daily_kpis ORDER BY kpi_date"
RUNS_SQL = "SELECT job, window_start, run_date, status, error FROM etl_audit.job_runs ORDER BY started_at"
AUDIT_SQL = (
    "SELECT run_date, window_start, status, rows_read['access_logs'] AS lines, rows_malformed['access_logs'] AS malformed, "
    "rows_dropped['fact_pageviews.not_a_page_view'] AS not_pages, rows_dropped['fact_pageviews.bot_traffic'] AS bots, "
    "rows_written['fact_pageviews'] AS pageviews, map_keys(rows_malformed) AS malformed_sources "
    "FROM etl_audit.job_runs WHERE job = 'clickstream_sessions' ORDER BY started_at"
)


@dataclass
class Nights(Lake):
    last_night: Result | None = None  # the third night's `etl pipeline run`, which fails
    held: list[str] | None = None  # what `etl quarantine` prints for the third night's clickstream run
    runs: str = ""  # what `etl runs` prints after the third night
    history: str = ""  # the URI `etl report sales_warehouse --history` prints


def plan_of(pipeline: str) -> list[str]:
    """What `etl pipeline show` prints of a pipeline, from its YAML and its jobs' (the files list the jobs
    in an order their dependencies allow): each job, what it waits for, reads (a source's table, else its
    raw folder; once each) and writes."""
    config = yaml.safe_load((REPO / "conf" / "pipelines" / f"{pipeline}.yaml").read_text())
    lines = [f"{pipeline}: {config['description']}"]
    for number, (job, settings) in enumerate(config["jobs"].items(), start=1):
        after = f" (after {', '.join(settings['depends_on'])})" if settings.get("depends_on") else ""
        job_config = yaml.safe_load((REPO / "conf" / "jobs" / f"{job}.yaml").read_text())
        reads = dict.fromkeys(source.get("table") or f"raw/{source['path']}" for source in job_config["sources"].values())
        writes = [target["table"] for target in job_config["targets"].values()]
        lines += [f"{number}. {job}{after}", f"     reads   {', '.join(reads)}", f"     writes  {', '.join(writes)}"]
    return lines


@pytest.fixture(scope="module")
def lake(lake: Lake) -> Nights:
    nights = Nights(lake.root)
    # README's block (the env is `local`, the default): the plan, the demo's extracts, two nights, a failing third
    [block] = blocks_run_by(__file__)
    shown, *_, third = nights.readme(block)
    assert shown.stdout.splitlines() == plan_of("nightly")
    nights.last_night = Result(third.code, third.stdout, third.stderr)
    quarantine = ("quarantine", "clickstream_sessions", "--env", "local", "--run-date", LAST, "--limit", "0")
    nights.held = nights.etl_ok(*quarantine).stdout.splitlines()
    nights.environ["COLUMNS"] = "400"  # the width etl runs fits its lines to (the error is cut beyond it)
    nights.runs = nights.etl_ok("runs", "--env", "local").stdout
    del nights.environ["COLUMNS"]
    nights.history = nights.etl_ok("report", "sales_warehouse", "--env", "local", "--history").stdout.strip()
    nights.prefetch(*TABLES.values(), AUDIT_SQL, KPIS_SQL, RUNS_SQL, *WAREHOUSE_SQL)
    return nights


@pytest.fixture(scope="module")
def logs(lake: Lake) -> Logs:
    return read_logs(lake.root / "raw" / "clickstream", JOB["params"]["bot_user_agents"])


def test_the_demo_lands_cloudfront_logs_with_every_kind_of_line(lake: Lake, logs: Logs) -> None:
    files = sorted((lake.root / "raw" / "clickstream").glob("dt=*/*.gz"))
    assert {file.parent.name for file in files} == {f"dt={day}" for day in (FIRST, MIDDLE, LAST)}
    assert all(file.name.startswith("E2DEMOSHOP7K3Q.") for file in files)  # <distribution>.YYYY-MM-DD-HH.<id>.gz
    for day in (FIRST, MIDDLE, LAST):
        assert logs.malformed[day] > 0 and logs.not_page_views[day] > 0 and logs.bots[day] > 0
    steps = {view.step for view in logs.views}
    assert steps == {None, "product_view", "add_to_cart", "checkout", "purchase"}


def test_fact_pageviews_are_the_human_page_views_of_the_logs(lake: Lake, logs: Logs) -> None:
    found = sessions(logs.views, TIMEOUT)
    session_of = {view.request_id: s.session_id for s in found for view in s.views}
    expected = sorted(
        [view.day, view.at.isoformat(), view.visitor, view.request_id, view.page, view.query or "", view.step or "",
         "" if view.revenue is None else str(view.revenue), session_of[view.request_id], "false"]
        for view in logs.views
    )  # fmt: skip
    rows = [list(row.values()) for row in lake.sql(TABLES["analytics.fact_pageviews"])]
    assert sorted(rows) == expected and len(expected) > 1000


def test_sessions_cut_after_the_timeout_and_kept_whole_across_midnight(lake: Lake, logs: Logs) -> None:
    found = sessions(logs.views, TIMEOUT)
    assert lake.sql(TABLES["analytics.sessions"]) == session_rows(found)
    # visits that began before midnight and went on after it: one session each, on the day it began
    crossing = [s for s in found if s.views[0].at.date() != s.views[-1].at.date()]
    assert {s.day for s in crossing} == {FIRST, MIDDLE}  # in the backfill's window, and fixed up by the last night's run
    pageviews = lake.sql(TABLES["analytics.fact_pageviews"])
    for s in crossing:
        assert {row["session_id"] for row in pageviews if row["request_id"] in {v.request_id for v in s.views}} == {s.session_id}


def test_funnel_daily_counts_the_sessions_and_visitors_reaching_each_step(lake: Lake, logs: Logs) -> None:
    expected = funnel_rows(sessions(logs.views, TIMEOUT))
    assert lake.sql(TABLES["analytics.funnel_daily"]) == expected
    assert [row["step"] for row in expected[:5]] == ["visit", "product_view", "add_to_cart", "checkout", "purchase"]
    assert all(int(row["sessions"]) > 0 for row in expected)


def test_every_line_is_loaded_quarantined_or_dropped_by_a_named_rule(lake: Nights, logs: Logs) -> None:
    audit = lake.sql(AUDIT_SQL)
    backfill_days, last_day = (FIRST, MIDDLE), (LAST,)
    expected = []
    for run_date, window_start, days in ((MIDDLE, FIRST, backfill_days), (LAST, LAST, last_day)):

        def total(counter, days=days) -> str:  # type: ignore[no-untyped-def]
            return str(sum(counter[day] for day in days))

        pageviews = str(sum(1 for view in logs.views if view.day in days))
        expected.append(
            {"run_date": run_date, "window_start": window_start, "status": "succeeded", "lines": total(logs.lines),
             "malformed": total(logs.malformed), "not_pages": total(logs.not_page_views), "bots": total(logs.bots),
             "pageviews": pageviews, "malformed_sources": '["access_logs"]'}
        )  # fmt: skip
    assert audit == expected
    # the malformed lines, raw, in the source's quarantine table: those of the last day once (not again as
    # the context of a later run)
    assert lake.held is not None and len(lake.held) == logs.malformed[LAST]


def report_page(lake: Lake, run_date: str) -> Page:
    """The validation report of the first clickstream run of that date (the pipeline's), as the run wrote it."""
    day = lake.root / "dq" / "clickstream_sessions" / f"run_date={run_date}"
    first = sorted(folder for folder in day.iterdir() if folder.is_dir())[0]
    return parse((first / "report.html").read_text())


def test_the_report_shows_every_lines_fate_as_the_logs_give_it(lake: Nights, logs: Logs) -> None:
    for run_date, days, earlier in ((MIDDLE, (FIRST, MIDDLE), ()), (LAST, (LAST,), (FIRST, MIDDLE))):
        page = report_page(lake, run_date)

        def total(counter: Counter[str], days: tuple[str, ...] = days) -> int:
            return sum(counter[day] for day in days)

        lines, malformed, pageviews = total(logs.lines), total(logs.malformed), sum(1 for view in logs.views if view.day in days)
        # earlier_logs: the days before the window, read whole for the sessions crossing midnight; their
        # malformed lines were counted by their own day's run
        assert page.sources == [["access_logs", f"{lines:,}", f"{malformed:,}"], ["earlier_logs", f"{total(logs.lines, earlier):,}", "—"]]
        counts = [
            ("read from access_logs", lines),
            ("malformed", malformed),
            ("loaded", pageviews),
            ("quarantined", 0),
            ("by rule total_not_an_amount", 0),  # the transform's rule: every purchase's total is an amount in the demo
            ("dropped by rule bot_traffic", total(logs.bots)),
            ("dropped by rule not_a_page_view", total(logs.not_page_views)),
        ]
        assert [(what, count) for what, count, _ in page.accounting["fact_pageviews"]] == [(what, f"{n:,}") for what, n in counts]
        assert page.equations["fact_pageviews"] == (
            f"fact_pageviews: {lines} read from access_logs = {malformed} malformed + {pageviews} loaded + 0 quarantined + "
            f"{total(logs.bots) + total(logs.not_page_views)} dropped (bot_traffic {total(logs.bots)}, "
            f"not_a_page_view {total(logs.not_page_views)})"
        )
    # the backfill's sessions and funnel rows: every session of its two days, five steps a day
    page = report_page(lake, MIDDLE)
    found = sessions([view for view in logs.views if view.day <= MIDDLE], TIMEOUT)
    assert page.accounting["sessions"] == [
        ("loaded", f"{len(found):,}", "100%"),
        ("quarantined", "0", "0%"),
        ("by rule total_not_an_amount", "0", "0%"),
        ("by rule revenue_out_of_range", "0", "0%"),
    ]
    assert page.accounting["funnel_daily"] == [("loaded", "10", "100%"), ("quarantined", "0", "0%")]


def test_a_failed_job_skips_the_jobs_that_need_it_and_the_others_still_run(lake: Nights) -> None:
    assert lake.last_night is not None and lake.last_night.code == 1
    missing = f"source orders: no input for 1 of the 1 day(s) of {LAST}: dt={LAST} missing under file://{lake.root}/raw/tpch/orders"
    assert lake.last_night.last_error_line == (
        f"etl: error: nightly {LAST}: 1 of 3 job(s) succeeded; sales_warehouse failed: {missing}; "
        "daily_kpis skipped (after sales_warehouse)"
    )
    assert "\n\tat " not in lake.last_night.stderr
    # one audit row per job run, in the pipeline's order; none for the skipped job
    runs = [(r["job"], r["window_start"], r["run_date"], r["status"], r["error"]) for r in lake.sql(RUNS_SQL)]
    assert runs == [
        ("sales_warehouse", FIRST, MIDDLE, "succeeded", ""),
        ("clickstream_sessions", FIRST, MIDDLE, "succeeded", ""),
        ("daily_kpis", FIRST, MIDDLE, "succeeded", ""),
        ("sales_warehouse", LAST, LAST, "failed", missing),
        ("clickstream_sessions", LAST, LAST, "succeeded", ""),
    ]
    # the warehouse holds the two nights that loaded, exactly: the failed one changed nothing
    assert fact_keys(lake) == expected_fact_keys(lake, FIRST, MIDDLE)
    assert dimension_rows(lake) == expected_dimension(lake, FIRST, MIDDLE)
    assert aggregate_rows(lake) == expected_aggregates(lake, FIRST, MIDDLE)


def test_daily_kpis_are_the_days_sales_and_sessions_as_the_night_saw_them(lake: Nights, logs: Logs) -> None:
    sales = query(f"""
        SELECT order_date, count(DISTINCT order_key), count(*), sum(net_revenue)
        FROM ({expected_facts(lake, FIRST, MIDDLE)}) GROUP BY order_date""")
    by_day = {str(day): (orders, lines, revenue) for day, orders, lines, revenue in sales}
    # the sessions of the logs the second night had: the third day's came after it
    seen = sessions([view for view in logs.views if view.day <= MIDDLE], TIMEOUT)
    expected = []
    for day in (FIRST, MIDDLE):
        orders, lines, revenue = by_day[day]
        of_day = [s for s in seen if s.day == day]
        purchases = sum(1 for s in of_day if s.reached("purchase"))
        rate = (Decimal(purchases) / len(of_day)).quantize(Decimal("0.0001"), "ROUND_HALF_UP")
        expected.append([day, orders, lines, revenue, len(of_day), len({s.visitor for s in of_day}), purchases, rate])
    rows = [
        [r["kpi_date"], int(r["orders"]), int(r["order_lines"]), Decimal(r["net_revenue"]), int(r["sessions"]), int(r["visitors"]),
         int(r["purchases"]), Decimal(r["conversion_rate"])]
        for r in lake.sql(KPIS_SQL)
    ]  # fmt: skip
    assert rows == expected
    assert all(row[1] > 0 and row[4] > 0 and row[6] > 0 for row in rows)


def test_rerunning_the_night_changes_no_table(lake: Lake) -> None:
    before = {table: lake.sql(query) for table, query in TABLES.items()}
    storage_before = {table: lake.storage(table) for table in TABLES}
    lake.etl_ok("run", "clickstream_sessions", "--env", "local", "--run-date", LAST)
    lake.prefetch(*TABLES.values())
    assert {table: lake.sql(query) for table, query in TABLES.items()} == before
    assert {table: lake.storage(table) for table in TABLES} == storage_before


# --- what a person sees of the nights: etl runs and the history page ------------------------------------

DURATION = re.compile(r"\d+s|\d+m \d\ds")


def table(text: str) -> list[dict[str, str]]:
    """An aligned table's rows as dicts, its columns where the rule line's dashes are."""
    header, rule, *lines = text.splitlines()
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", rule)]
    spans[-1] = (spans[-1][0], None)  # type: ignore[assignment]  # the last column runs to the line's end

    def cells(line: str) -> list[str]:
        return [line[start:end].strip() for start, end in spans]

    return [dict(zip(cells(header), cells(line), strict=True)) for line in lines]


def sales_counts(lake: Lake, first: str, last: str) -> tuple[int, int]:
    """(rows read, rows loaded) of a sales_warehouse run of the window, from the raw extracts: every line of
    its daily extracts, the static nation and region files (the dimension read back was empty); the facts,
    the dimension's versions and the aggregates."""
    [(read,)] = query(
        f"SELECT (SELECT count(*) FROM {lake.raw('orders', first, last)}) + (SELECT count(*) FROM {lake.raw('lineitem', first, last)})"
        f" + (SELECT count(*) FROM {lake.raw('customer', first, last)}) + (SELECT count(*) FROM {lake.static('nation')})"
        f" + (SELECT count(*) FROM {lake.static('region')})"
    )
    [(facts,)] = query(f"SELECT count(*) FROM ({expected_facts(lake, first, last)})")
    return read, facts + len(expected_dimension(lake, first, last)) + len(expected_aggregates(lake, first, last))


def test_etl_runs_shows_each_jobs_nights_newest_first(lake: Nights, logs: Logs) -> None:
    rows = table(lake.runs)
    backfill = f"{FIRST}..{MIDDLE}"
    assert [(row["job"], row["run date"], row["status"]) for row in rows] == [
        ("clickstream_sessions", LAST, "succeeded"),
        ("sales_warehouse", LAST, "failed"),
        ("daily_kpis", backfill, "succeeded"),
        ("clickstream_sessions", backfill, "succeeded"),
        ("sales_warehouse", backfill, "succeeded"),
    ]
    assert all(DURATION.fullmatch(row["duration"]) for row in rows)
    missing = f"source orders: no input for 1 of the 1 day(s) of {LAST}: dt={LAST} missing under file://{lake.root}/raw/tpch/orders"
    assert {k: rows[1][k] for k in ("rows read", "loaded", "quarantined", "dropped", "validation", "error")} == {
        "rows read": "-", "loaded": "-", "quarantined": "-", "dropped": "-", "validation": "skipped", "error": missing
    }  # fmt: skip
    read, loaded = sales_counts(lake, FIRST, MIDDLE)
    assert {k: rows[4][k] for k in ("rows read", "loaded", "quarantined", "dropped", "error")} == {
        "rows read": f"{read:,}", "loaded": f"{loaded:,}", "quarantined": "0", "dropped": "0", "error": ""
    }  # fmt: skip
    for row, days in ((rows[0], (LAST,)), (rows[3], (FIRST, MIDDLE))):
        lines, malformed = sum(logs.lines[day] for day in days), sum(logs.malformed[day] for day in days)
        dropped = sum(logs.not_page_views[day] + logs.bots[day] for day in days)
        assert (row["rows read"], row["quarantined"], row["dropped"]) == (f"{lines:,}", f"{malformed:,}", f"{dropped:,}")


def test_the_history_page_lists_the_nights_of_sales_warehouse_with_their_reports(lake: Nights) -> None:
    dq = lake.root / "dq" / "sales_warehouse"
    assert lake.history == f"file://{dq}/history.html"
    page = (dq / "history.html").read_text()
    rows = re.findall(r'<tr class="run [^"]*" data-run-id="([^"]+)" data-status="([^"]+)">(.*?)</tr>', page)
    cells = [(status, dict(re.findall(r'<td class="([a-z-]+)">(.*?)</td>', row))) for _, status, row in rows]
    [run] = [folder.name for folder in (dq / f"run_date={MIDDLE}").iterdir()]  # the backfill's, the one run with a report
    _, loaded = sales_counts(lake, FIRST, MIDDLE)
    assert [(status, c["run-date"], c["loaded"], c["quarantine-rate"], c["report"]) for status, c in cells] == [
        ("failed", LAST, "—", "—", '<span class="na">none</span>'),
        ("succeeded", f"{FIRST}..{MIDDLE}", f"{loaded:,}", "0%", f'<a href="run_date={MIDDLE}/{run}/report.html">report</a>'),
    ]
    assert (dq / f"run_date={MIDDLE}" / run / "report.html").is_file()
    assert [rows[1][0]] == [run]
    assert re.findall(r'<figure class="chart" id="chart-([a-z-]+)">\n<svg', page) == ["duration", "rows-loaded", "quarantine-rate"]
