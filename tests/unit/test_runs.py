"""`etl runs`: the audit table as a person reads it (an aligned table) and as a tool does (JSON lines).
Expected strings written by hand from hand-made audit rows."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.cli import main
from etl.context import DateWindow, RunContext
from etl.runs import duration, read_runs, run_json, runs_table, totals
from etl.state import audit
from etl.state.audit import RunRecord
from etl.zones import Zones

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
MISSING = "source orders: no input for 1 of the 1 day(s) of 1992-01-03: dt=1992-01-03 missing under file:///lake/raw/tpch/orders"


def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, second, tzinfo=UTC)


FAILED = RunRecord(
    "sales_warehouse", "20260103T020000Z-cccccccc", "local", date(1992, 1, 3), date(1992, 1, 3), at(3, 2), "failed", at(3, 2, 0, 12),
    validation="skipped", error=MISSING,
)  # fmt: skip
BACKFILL = RunRecord(
    "clickstream_sessions", "20260102T020000Z-bbbbbbbb", "local", date(1992, 1, 2), date(1992, 1, 1), at(2, 2), "succeeded", at(2, 2, 1, 5),
    rows_read={"access_logs": 12718, "earlier_logs": 7000}, rows_malformed={"access_logs": 22},
    rows_written={"fact_pageviews": 356, "sessions": 120, "funnel_daily": 10},
    rows_dropped={"fact_pageviews.not_a_page_view": 12000, "fact_pageviews.bot_traffic": 340}, validation="passed",
)  # fmt: skip
LONG = RunRecord(
    "sales_warehouse", "20260101T020000Z-aaaaaaaa", "local", date(1992, 1, 1), date(1992, 1, 1), at(1, 2), "succeeded", at(1, 4, 3, 9),
    rows_read={"lineitem": 1234567, "orders": 300000, "dim_customer": 5000}, rows_malformed={"lineitem": 3, "orders": 0},
    rows_written={"fact_sales": 1234560},
    rows_quarantined={"fact_sales": 4}, validation="warned",
)  # fmt: skip


def test_the_runs_as_an_aligned_table_newest_first() -> None:
    assert runs_table([FAILED, BACKFILL, LONG]) == [
        "job                   run date                status     duration    rows read     loaded  quarantined  dropped  validation  error",
        "--------------------  ----------------------  ---------  ----------  ---------  ---------  -----------  -------  ----------  "
        + "-" * len(MISSING),
        "sales_warehouse       1992-01-03              failed     12s                 -          -            -        -  skipped     "
        + MISSING,
        "clickstream_sessions  1992-01-01..1992-01-02  succeeded  1m 05s         12,718        486           22   12,340  passed",
        "sales_warehouse       1992-01-01              succeeded  2h 03m 09s  1,534,567  1,234,560            7        0  warned",
    ]


def test_the_error_is_cut_to_fit_the_width() -> None:
    # the other columns take 125 characters (with the spaces between them): 25 are left for the error
    lines = runs_table([FAILED, BACKFILL, LONG], fit=150)
    assert lines[1].endswith("  " + "-" * 25)
    assert lines[2] == (
        "sales_warehouse       1992-01-03              failed     12s                 -          -            -        -  skipped     "
        "source orders: no input…"
    )
    assert all(len(line) <= 150 for line in lines)
    # however narrow the terminal, 20 characters of the error are shown
    assert runs_table([FAILED], fit=40)[2].endswith("  skipped     source orders: no i…")  # 19 + the ellipsis


def test_an_error_of_several_lines_is_one_line_in_the_table() -> None:
    [_, _, line] = runs_table([replace(FAILED, error="first\n  second\tthird")])
    assert line.endswith("  skipped     first second third")


def test_rows_read_are_the_runs_own_input() -> None:
    # the window's raw sources: not the context of earlier days (earlier_logs), not a table read back
    # (dim_customer); a job reading only tables: all of them
    kpis = replace(BACKFILL, rows_read={"fact_sales": 100, "sessions": 50}, rows_malformed={}, rows_dropped={})
    assert [totals(run) for run in (BACKFILL, LONG, kpis)] == [(12718, 486, 22, 12340), (1234567 + 300000, 1234560, 7, 0), (150, 486, 0, 0)]


def test_durations() -> None:
    def lasting(seconds: float) -> str:
        return duration(replace(FAILED, ended_at=datetime.fromtimestamp(FAILED.started_at.timestamp() + seconds, UTC)))

    assert [lasting(s) for s in (0, 0.4, 59.6, 65, 600, 3599, 3600, 7389)] == [
        "0s", "0s", "1m 00s", "1m 05s", "10m 00s", "59m 59s", "1h 00m 00s", "2h 03m 09s"
    ]  # fmt: skip
    assert duration(replace(FAILED, status="running", ended_at=None)) == "-"


def test_json_holds_the_whole_row() -> None:
    assert run_json(BACKFILL) == (
        '{"job": "clickstream_sessions", "run_id": "20260102T020000Z-bbbbbbbb", "env": "local", "run_date": "1992-01-02", '
        '"window_start": "1992-01-01", "started_at": "2026-01-02T02:00:00+00:00", "status": "succeeded", '
        '"ended_at": "2026-01-02T02:01:05+00:00", "rows_read": {"access_logs": 12718, "earlier_logs": 7000}, '
        '"rows_malformed": {"access_logs": 22}, '
        '"rows_written": {"fact_pageviews": 356, "sessions": 120, "funnel_daily": 10}, "rows_quarantined": {}, '
        '"rows_dropped": {"fact_pageviews.not_a_page_view": 12000, "fact_pageviews.bot_traffic": 340}, "accounting": null, '
        '"validation": "passed", "error": null}'
    )


# --- read through Spark, from the suite's audit table ------------------------------------------------------

# Started in 2099: newer than any run the other tests record in the shared audit table.
LATE = [
    replace(LONG, job="unit_runs", run_id="20990101T020000Z-00000001", started_at=datetime(2099, 1, 1, 2, tzinfo=UTC),
            ended_at=datetime(2099, 1, 1, 2, 0, 40, tzinfo=UTC)),
    replace(FAILED, job="unit_runs", run_id="20990102T020000Z-00000002", started_at=datetime(2099, 1, 2, 2, tzinfo=UTC),
            ended_at=datetime(2099, 1, 2, 2, 0, 3, tzinfo=UTC)),
    replace(BACKFILL, job="unit_runs_other", run_id="20990103T020000Z-00000003", started_at=datetime(2099, 1, 3, 2, tzinfo=UTC),
            ended_at=datetime(2099, 1, 3, 2, 1, 5, tzinfo=UTC)),
]  # fmt: skip


@pytest.fixture(scope="module")
def recorded(spark: SparkSession, zones: Zones) -> list[RunRecord]:
    for run in LATE:
        ctx = RunContext(run.job, run.env, DateWindow(run.window_start, run.run_date), run.run_id, zones)
        audit.write_run(spark, ctx, run)
    return LATE


def test_read_runs_gives_a_jobs_newest_runs_first(spark: SparkSession, recorded: list[RunRecord]) -> None:
    assert read_runs(spark, "unit_runs", 5) == [LATE[1], LATE[0]]
    assert read_runs(spark, "unit_runs", 1) == [LATE[1]]
    assert read_runs(spark, None, 2) == [LATE[2], LATE[1]]
    assert read_runs(spark, "no_such_job", 5) == []


def test_read_runs_without_an_audit_table_is_none(spark: SparkSession, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("etl.runs.AUDIT_TABLE", "etl_audit.no_such_table")
    assert read_runs(spark, None, 5) is None


def test_etl_runs_prints_the_table_and_json(  # type: ignore[no-untyped-def]
    spark, recorded: list[RunRecord], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ETL_LAKE_ROOT", str(tmp_path))  # the command's own log goes there
    monkeypatch.delenv("COLUMNS", raising=False)  # not a terminal: the error whole
    assert main(["--conf-dir", str(REPO_CONF), "runs", "--env", "test", "--last", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "job              run date                status     duration  rows read  loaded  quarantined  dropped  validation  error",
        "---------------  ----------------------  ---------  --------  ---------  ------  -----------  -------  ----------  "
        + "-" * len(MISSING),
        "unit_runs_other  1992-01-01..1992-01-02  succeeded  1m 05s       12,718     486           22   12,340  passed",
        "unit_runs        1992-01-03              failed     3s                -       -            -        -  skipped     " + MISSING,
    ]
    assert main(["--conf-dir", str(REPO_CONF), "runs", "--env", "test", "--last", "1", "--format", "json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {
        "job": "unit_runs_other", "run_id": "20990103T020000Z-00000003", "env": "local", "run_date": "1992-01-02",
        "window_start": "1992-01-01", "started_at": "2099-01-03T02:00:00+00:00", "status": "succeeded",
        "ended_at": "2099-01-03T02:01:05+00:00", "rows_read": {"access_logs": 12718, "earlier_logs": 7000},
        "rows_malformed": {"access_logs": 22},
        "rows_written": {"fact_pageviews": 356, "sessions": 120, "funnel_daily": 10}, "rows_quarantined": {},
        "rows_dropped": {"fact_pageviews.not_a_page_view": 12000, "fact_pageviews.bot_traffic": 340}, "accounting": None,
        "validation": "passed", "error": None,
    }  # fmt: skip


def last_line(capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """stdout, and the last line on stderr (Spark may warn before it that the caller's session is reused)."""
    out, err = capsys.readouterr()
    return out, err.splitlines()[-1]


def test_etl_runs_of_a_job_without_runs_says_so(  # type: ignore[no-untyped-def]
    spark, recorded: list[RunRecord], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ETL_LAKE_ROOT", str(tmp_path))
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    shutil.copy(conf / "jobs" / "sales_warehouse.yaml", conf / "jobs" / "never_ran.yaml")
    assert main(["--conf-dir", str(conf), "runs", "never_ran", "--env", "test"]) == 0
    assert last_line(capsys) == ("", "no runs of never_ran recorded yet in env test")


def test_etl_runs_of_an_unknown_job_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "runs", "sales_warehous", "--env", "test"]) == 1
    assert capsys.readouterr() == (
        "",
        "etl: error: conf/jobs/sales_warehous.yaml: not found (known: clickstream_sessions, daily_kpis, iot_telemetry, sales_warehouse)\n",
    )


def test_before_any_run_one_line_says_so(  # type: ignore[no-untyped-def]
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ETL_LAKE_ROOT", str(tmp_path))
    monkeypatch.setattr("etl.runs.AUDIT_TABLE", "etl_audit.no_such_table")
    assert main(["--conf-dir", str(REPO_CONF), "runs", "--env", "test"]) == 0
    assert last_line(capsys) == ("", "no runs recorded yet in env test")
    assert main(["--conf-dir", str(REPO_CONF), "report", "sales_warehouse", "--env", "test", "--history"]) == 1
    assert last_line(capsys) == ("", "etl: error: no runs of sales_warehouse recorded yet in env test: nothing to show")
    assert not (tmp_path / "dq").exists()


def test_report_needs_a_run_date_or_history(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "report", "sales_warehouse", "--env", "test"]) == 1
    assert capsys.readouterr().err == "etl: error: give --run-date D (the run's report), or --history (the job's run-history page)\n"
    assert main(["--conf-dir", str(REPO_CONF), "report", "sales_warehouse", "--history", "--run-date", "1992-01-01"]) == 1
    assert capsys.readouterr().err == "etl: error: --history shows every run date: give --history or --run-date, not both\n"
