"""clickstream_sessions end to end: `etl demo-data clickstream`, a backfill of two days, the third day as
a nightly run, then that night again. Expected values: the raw gzip logs parsed in plain Python
(tests/integration/clickstream_expected.py), never the code under test."""

from __future__ import annotations

import pytest
import yaml

from tests.integration.clickstream_expected import Logs, funnel_rows, read_logs, session_rows, sessions
from tests.integration.conftest import REPO, Lake

pytestmark = pytest.mark.integration

FIRST, MIDDLE, LAST = "2024-06-01", "2024-06-02", "2024-06-03"
JOB = yaml.safe_load((REPO / "conf" / "jobs" / "clickstream_sessions.yaml").read_text())
TIMEOUT = JOB["params"]["session_timeout_minutes"] * 60
TABLES = {
    "analytics.fact_pageviews": "SELECT event_date, event_time, visitor_id, request_id, page, query, step, revenue, session_id, is_bot "
    "FROM analytics.fact_pageviews ORDER BY request_id",
    "analytics.sessions": "SELECT * FROM analytics.sessions ORDER BY session_id",
    "analytics.funnel_daily": "SELECT * FROM analytics.funnel_daily ORDER BY session_date, step_number",
}
AUDIT_SQL = (
    "SELECT run_date, window_start, status, rows_read['access_logs'] AS lines, rows_malformed['access_logs'] AS malformed, "
    "rows_dropped['fact_pageviews.not_a_page_view'] AS not_pages, rows_dropped['fact_pageviews.bot_traffic'] AS bots, "
    "rows_written['fact_pageviews'] AS pageviews, map_keys(rows_malformed) AS malformed_sources "
    "FROM etl_audit.job_runs ORDER BY started_at"
)


@pytest.fixture(scope="module")
def lake(lake: Lake) -> Lake:
    lake.etl_ok("demo-data", "clickstream", "--env", "local", "--from", FIRST, "--to", LAST)
    lake.etl_ok("backfill", "clickstream_sessions", "--env", "local", "--from", FIRST, "--to", MIDDLE)
    lake.etl_ok("run", "clickstream_sessions", "--env", "local", "--run-date", LAST)
    lake.prefetch(*TABLES.values(), AUDIT_SQL)
    return lake


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


def test_every_line_is_loaded_quarantined_or_dropped_by_a_named_rule(lake: Lake, logs: Logs) -> None:
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
    held = lake.etl_ok("quarantine", "clickstream_sessions", "--env", "local", "--run-date", LAST, "--limit", "0").stdout.splitlines()
    assert len(held) == logs.malformed[LAST]


def test_rerunning_the_night_changes_no_table(lake: Lake) -> None:
    before = {table: lake.sql(query) for table, query in TABLES.items()}
    storage_before = {table: lake.storage(table) for table in TABLES}
    lake.etl_ok("run", "clickstream_sessions", "--env", "local", "--run-date", LAST)
    lake.prefetch(*TABLES.values())
    assert {table: lake.sql(query) for table, query in TABLES.items()} == before
    assert {table: lake.storage(table) for table in TABLES} == storage_before
