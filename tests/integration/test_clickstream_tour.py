"""The README's clickstream tour, run as written in a fresh lake: a week of CloudFront logs landed, six days
backfilled, the seventh night run (which completes the sixth's sessions that ran past midnight), the
sixth's funnel queried, the seventh's broken lines shown. What it printed is checked against the raw gzip
logs parsed in plain Python (tests/integration/clickstream_expected.py), never the code under test; the
tables' contents in depth are test_nightly_e2e's."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta

import pytest
import yaml

from tests.integration.clickstream_expected import Logs, broken_lines, funnel_rows, read_logs, reason_of, sessions
from tests.integration.conftest import REPO, Lake
from tests.readme import Ran, blocks_run_by

pytestmark = pytest.mark.integration

BACKFILL, NIGHT = ("2024-06-01", "2024-06-06"), "2024-06-07"
SIXTH = "2024-06-06"
JOB = yaml.safe_load((REPO / "conf" / "jobs" / "clickstream_sessions.yaml").read_text())
TIMEOUT = JOB["params"]["session_timeout_minutes"] * 60
AUDIT_SQL = (
    "SELECT window_start, run_date, status, rows_read, rows_malformed, rows_written, rows_quarantined, rows_dropped "
    "FROM etl_audit.job_runs ORDER BY started_at"
)


@pytest.fixture(scope="module")
def tour(lake: Lake) -> dict[str, Ran]:
    """What each command of the tour printed, by its subcommand."""
    [block] = blocks_run_by(__file__)
    done = lake.readme(block)
    lake.prefetch(AUDIT_SQL)
    return {ran.command.argv[1]: ran for ran in done}


@pytest.fixture(scope="module")
def logs(lake: Lake, tour: dict[str, Ran]) -> Logs:
    return read_logs(lake.root / "raw" / "clickstream", JOB["params"]["bot_user_agents"])


def test_the_sixth_funnel_counts_its_sessions_completed_by_the_seventh_night(tour: dict[str, Ran], logs: Logs) -> None:
    printed = list(csv.DictReader(io.StringIO(tour["sql"].stdout)))
    expected = [row for row in funnel_rows(sessions(logs.views, TIMEOUT)) if row["session_date"] == SIXTH]
    assert printed == expected and [row["step"] for row in printed] == ["visit", "product_view", "add_to_cart", "checkout", "purchase"]
    # what the backfill alone had: the sixth's visits cut at midnight, so some steps reached after it missing
    backfilled = sessions([view for view in logs.views if view.day <= SIXTH], TIMEOUT)
    assert printed != [row for row in funnel_rows(backfilled) if row["session_date"] == SIXTH]


def test_etl_quarantine_shows_the_seventh_days_broken_lines_as_the_files_hold_them(lake: Lake, tour: dict[str, Ran]) -> None:
    shown = [json.loads(line) for line in tour["quarantine"].stdout.splitlines()]
    broken = broken_lines(lake.root / "raw" / "clickstream", NIGHT)
    assert sorted((row["record"], row["source_file"]) for row in shown) == broken and len(broken) > 0
    assert all(row["reason"] == reason_of(row["record"]) for row in shown)
    assert {(row["table"], tuple(row["rules"])) for row in shown} == {
        ("quarantine.clickstream_sessions_access_logs", ("malformed_record",))
    }
    assert f"quarantine.clickstream_sessions_access_logs (sources.access_logs): {len(broken)} row(s) quarantined on {NIGHT}" in (
        tour["quarantine"].stderr
    )


def test_every_line_of_each_run_is_malformed_loaded_quarantined_or_dropped_by_a_rule(lake: Lake, tour: dict[str, Ran], logs: Logs) -> None:
    audit = [{key: value if key in ("window_start", "run_date", "status") else json.loads(value) for key, value in row.items()}
             for row in lake.sql(AUDIT_SQL)]  # fmt: skip
    expected = []
    for (first, last), earlier in ((BACKFILL, ()), ((NIGHT, NIGHT), ("2024-06-05", SIXTH))):
        days = [day for day in logs.lines if first <= day <= last]
        # a run rewrites the sessions and funnel of its days and of the day before (sessions past midnight)
        before = (date.fromisoformat(first) - timedelta(days=1)).isoformat()
        rewritten = [s for s in sessions([view for view in logs.views if view.day <= last], TIMEOUT) if before <= s.day <= last]
        expected.append(
            {"window_start": first, "run_date": last, "status": "succeeded",
             "rows_read": {"access_logs": sum(logs.lines[d] for d in days), "earlier_logs": sum(logs.lines[d] for d in earlier)},
             "rows_malformed": {"access_logs": sum(logs.malformed[d] for d in days)},
             "rows_written": {"fact_pageviews": sum(1 for view in logs.views if view.day in days), "sessions": len(rewritten),
                              "funnel_daily": 5 * len({s.day for s in rewritten})},
             "rows_quarantined": {"fact_pageviews": 0, "sessions": 0},
             "rows_dropped": {"fact_pageviews.bot_traffic": sum(logs.bots[d] for d in days),
                              "fact_pageviews.not_a_page_view": sum(logs.not_page_views[d] for d in days)}}
        )  # fmt: skip
    assert audit == expected
    for row in audit:  # read = malformed + loaded + quarantined + dropped by each rule
        assert row["rows_read"]["access_logs"] == (
            row["rows_malformed"]["access_logs"] + row["rows_written"]["fact_pageviews"] + row["rows_quarantined"]["fact_pageviews"]
            + sum(row["rows_dropped"].values())
        )  # fmt: skip
