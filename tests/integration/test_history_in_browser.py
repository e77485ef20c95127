"""The run-history page as a person sees it: rendered from hand-made audit rows of two weeks of nights (a
backfill, a night without input and its rerun, a night that failed validation, a last night that failed)
with stand-in run reports beside it, opened in headless Chromium. No Spark: the page is a function of the
audit rows and of which reports exist (`etl report JOB --history` end to end: tests/integration/test_nightly_e2e.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest

from etl.quality.history import write_history
from etl.quality.report import LocalStore
from etl.state.audit import RunRecord
from etl.zones import Zones
from tests.integration.browser import By, chromium, webdriver  # skips this module without Chromium

pytestmark = pytest.mark.integration

pytest.importorskip("matplotlib", reason="matplotlib is not installed: pip install -e '.[report]'")

JOB = "sales_warehouse"
NO_INPUT = f"source orders: no input for 1 of the 1 day(s) of 1992-01-14: dt=1992-01-14 missing under file:///lake/raw/tpch/orders <{JOB}>"


def night(day: int, run: int = 1, **changes: object) -> RunRecord:
    """The run of night `day` of January 1992, started at 02:00 the next morning (a rerun: later that day);
    it took 60 + 7 * day seconds and loaded 5,000 + 100 * day rows, quarantining day / 10 % of 10,000 read."""
    started = datetime(1992, 1, day + 1, 2 if run == 1 else 9, tzinfo=UTC)
    record = RunRecord(
        JOB, f"{started:%Y%m%dT%H%M%SZ}-0000{day:02d}{run:02d}", "local", date(1992, 1, day), date(1992, 1, day), started,
        "succeeded", started + timedelta(seconds=60 + 7 * day), rows_read={"lineitem": 10000},
        rows_written={"fact_sales": 5000 + 100 * day}, rows_quarantined={"fact_sales": 10 * day}, validation="passed",
    )  # fmt: skip
    for name, value in changes.items():
        setattr(record, name, value)
    return record


FAILED = {"status": "failed", "rows_read": {}, "rows_written": {}, "rows_quarantined": {}, "validation": "skipped"}
NIGHTS = [
    night(2, window_start=date(1992, 1, 1)),  # the backfill of the first two nights
    *(night(day) for day in (3, 4)),
    night(5, **FAILED, error=NO_INPUT.replace("14", "05")),
    night(5, run=2),  # the rerun once the extract landed
    *(night(day) for day in (6, 7, 8)),
    night(9, status="failed", rows_written={}, validation="failed", error="fact_sales: 1 of 4 expectations failed"),
    *(night(day) for day in (10, 11, 12, 13)),
    night(14, **FAILED, error=NO_INPUT),
]
NEWEST_FIRST = sorted(NIGHTS, key=lambda run: run.started_at, reverse=True)  # as etl runs reads the audit table
# (run date, status) of each row, as the page must list them
SHOWN = [
    ("1992-01-14", "failed"), ("1992-01-13", "succeeded"), ("1992-01-12", "succeeded"), ("1992-01-11", "succeeded"),
    ("1992-01-10", "succeeded"), ("1992-01-09", "failed"), ("1992-01-08", "succeeded"), ("1992-01-07", "succeeded"),
    ("1992-01-06", "succeeded"), ("1992-01-05", "succeeded"), ("1992-01-05", "failed"), ("1992-01-04", "succeeded"),
    ("1992-01-03", "succeeded"), ("1992-01-01..1992-01-02", "succeeded"),
]  # fmt: skip
WITHOUT_REPORT = {"1992-01-14", "1992-01-05"}  # the runs that found no input wrote no report (the rerun of the 5th did)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page's URI, beside a stand-in report.html for each run that validated."""
    lake = tmp_path_factory.mktemp("history")
    for run in NIGHTS:
        if run.validation != "skipped":
            folder = lake / "dq" / JOB / f"run_date={run.run_date}" / run.run_id
            folder.mkdir(parents=True)
            (folder / "report.html").write_text(f"<!DOCTYPE html><title>report {run.run_id}</title>")
    uri = lake.as_uri()
    zones = Zones(uri, f"{uri}/raw", f"{uri}/curated", f"{uri}/quarantine", f"{uri}/dq", f"{uri}/checkpoints")
    return write_history(LocalStore(), zones, JOB, "local", NEWEST_FIRST)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium(1400, 1800) as driver:
        yield driver


def test_the_page_loads_without_console_errors(page: str, browser: webdriver.Chrome, tmp_path: Path) -> None:
    browser.get(page)
    assert browser.title == f"Run history: {JOB} (local)"
    assert browser.find_element(By.ID, "summary").text == (
        "The last 14 runs, run dates 1992-01-02 to 1992-01-14: 3 failed, 11 succeeded. Newest: failed (1992-01-14)."
    )
    assert [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"] == []
    screenshot = tmp_path / "history.png"  # pytest's tmp dir, never the repository
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_charts_are_drawn_with_their_axes_labelled(page: str, browser: webdriver.Chrome) -> None:
    browser.get(page)
    charts = browser.find_elements(By.CSS_SELECTOR, "figure.chart")
    assert [chart.get_attribute("id") for chart in charts] == ["chart-duration", "chart-rows-loaded", "chart-quarantine-rate"]
    for chart, unit in zip(charts, ["minutes", "rows", "% of rows read"], strict=True):  # the longest night took 158 s: over 2 minutes
        svg = chart.find_element(By.TAG_NAME, "svg")
        assert svg.is_displayed() and svg.size["width"] > 300 and svg.size["height"] > 100
        texts = [text.get_attribute("textContent").strip() for text in svg.find_elements(By.TAG_NAME, "text")]
        assert {"run date", unit} <= set(texts)
        # 13 run dates, 12 days apart: a tick every second day
        assert [text for text in texts if text.startswith("1992-")] == [f"1992-01-{day:02d}" for day in range(2, 15, 2)]
        rendered = [text for text in svg.find_elements(By.TAG_NAME, "text") if text.get_attribute("textContent").strip() == "run date"]
        assert rendered[0].size["width"] > 0  # drawn, not just present
    # a point per run: every run has a duration; the two that found no input counted nothing
    points = [len(browser.find_elements(By.CSS_SELECTOR, f"g#points-{key} use")) for key in ("duration", "rows-loaded", "quarantine-rate")]
    assert points == [14, 12, 12]


def test_the_runs_are_listed_newest_first_with_links_to_their_reports(page: str, browser: webdriver.Chrome) -> None:
    browser.get(page)
    rows = browser.find_elements(By.CSS_SELECTOR, "table#runs tbody tr")
    assert [
        (row.find_element(By.CSS_SELECTOR, "td.run-date").text, row.find_element(By.CSS_SELECTOR, "td.status").text) for row in rows
    ] == SHOWN
    assert [row.get_attribute("data-run-id") for row in rows] == [run.run_id for run in NEWEST_FIRST]
    assert rows[0].find_element(By.CSS_SELECTOR, "td.error").text == NO_INPUT  # whole, escaped: <sales_warehouse> shows as text
    assert [row.find_element(By.CSS_SELECTOR, "td.loaded").text for row in rows[:6]] == ["—", "6,300", "6,200", "6,100", "6,000", "0"]
    assert [row.find_element(By.CSS_SELECTOR, "td.duration").text for row in rows[:2]] == ["2m 38s", "2m 31s"]
    assert rows[1].find_element(By.CSS_SELECTOR, "td.quarantine-rate").text == "1.3%"  # 130 of 10,000
    targets = {}
    for row, (run_date, _) in zip(rows, SHOWN, strict=True):
        links = row.find_elements(By.CSS_SELECTOR, "td.report a")
        if run_date in WITHOUT_REPORT and row.get_attribute("data-status") == "failed":
            assert links == []
            continue
        [link] = links
        href = link.get_attribute("href")  # resolved against the page's URI
        assert Path(urlparse(href).path).is_file()
        targets[row.get_attribute("data-run-id")] = href
    assert len(targets) == 12
    browser.get(targets[NEWEST_FIRST[1].run_id])
    assert browser.title == f"report {NEWEST_FIRST[1].run_id}"
