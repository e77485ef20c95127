"""The validation report as a person sees it: `etl report` prints its URI, headless Chromium opens it.

One run of two days of demo data, with a copy of conf/ whose fact_sales suite also expects quantity <= 10
(severity warn, so the run goes on and loads): the page shows the project's own expectations met on
correct data and that one failed, first, with the unexpected count DuckDB finds in the raw CSVs, and
what became of each target's rows, counted by DuckDB too. At 1024 pixels wide the page, and one rendered
from the same results with long values put in, fit the window: no scrolling sideways. One Spark run,
not a clean one and an injected one: each costs about a minute here, and what a second would add (the
newest of several runs is picked, the `passed` status) is covered in tests/unit/test_report.py.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from etl.accounting import RunRows
from etl.quality.report import RunInfo, render_report
from tests.integration.browser import By, WebElement, chromium, webdriver  # skips this module without Chromium
from tests.integration.conftest import REPO, Lake, query
from tests.integration.expected import expected_aggregates, expected_dimension

pytestmark = pytest.mark.integration


FIRST, LAST = "1992-01-01", "1992-01-02"
SUITES = ["fact_sales", "dim_customer", "agg_sales_daily"]  # conf/jobs/sales_warehouse.yaml's targets, each with its suite
WIDTH = 1024  # pixels: a laptop's narrow window
INJECTED = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "quantity", "max_value": 10}, "severity": "warn"}


@pytest.fixture(scope="module")
def report(lake: Lake, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URI `etl report` prints after a run with the injected expectation. A backfill of both days, run
    date 1992-01-02: `etl run` of that day alone would find no customers (the first day's extract holds
    them all), and agg_sales_daily's not-null nation would fail."""
    conf = tmp_path_factory.mktemp("injected") / "conf"
    shutil.copytree(REPO / "conf", conf)
    suite = yaml.safe_load((conf / "expectations" / "fact_sales.yaml").read_text())
    suite["expectations"].append(INJECTED)
    (conf / "expectations" / "fact_sales.yaml").write_text(yaml.safe_dump(suite))
    lake.etl_ok("demo-data", "--env", "local", "--scale", "0.01", "--from", FIRST, "--to", LAST)
    lake.etl_ok("--conf-dir", str(conf), "backfill", "sales_warehouse", "--env", "local", "--from", FIRST, "--to", LAST)
    return lake.etl_ok("report", "sales_warehouse", "--env", "local", "--run-date", LAST).stdout.strip()


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with chromium(WIDTH, 768) as driver:
        yield driver


def row_of(row: WebElement) -> dict[str, Any]:
    """An expectation row as the page shows it (rendered text of each cell)."""
    cells = {
        name: row.find_element(By.CSS_SELECTOR, f"td.{name}").text for name in ("outcome", "severity", "element-count", "unexpected-count")
    }
    return {"type": row.get_attribute("data-expectation"), "kwargs": json.loads(row.get_attribute("data-kwargs") or "{}"), **cells}


def expectation_rows(browser: webdriver.Chrome, target: str) -> list[dict[str, Any]]:
    return [row_of(row) for row in browser.find_elements(By.CSS_SELECTOR, f"section[data-target='{target}'] tr.expectation")]


def matching(rows: list[dict[str, Any]], expectation: dict[str, Any]) -> dict[str, Any]:
    """The one row of a suite's expectation: same type and arguments (Great Expectations stores 1 as 1.0; 1 == 1.0)."""
    [row] = [row for row in rows if row["type"] == expectation["type"] and row["kwargs"] == expectation["kwargs"]]
    return row


def lines_of_the_window(lake: Lake) -> tuple[int, int]:
    """(lines, lines with quantity > 10) of the window, with DuckDB from the raw lineitem CSVs."""
    [(lines, over_ten)] = query(f"SELECT count(*), count(*) FILTER (WHERE l_quantity > 10) FROM {lake.raw('lineitem', FIRST, LAST)}")
    return lines, over_ten


def suite_of(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((REPO / "conf" / "expectations" / f"{name}.yaml").read_text())["expectations"]


def test_report_prints_the_uri_of_the_runs_page_next_to_its_json(lake: Lake, report: str) -> None:
    day = lake.root / "dq" / "sales_warehouse" / f"run_date={LAST}"
    [run] = [folder.name for folder in day.iterdir()]
    assert report == f"file://{day}/{run}/report.html"
    assert sorted(path.name for path in (day / run).iterdir() if not path.name.startswith(".")) == [
        "agg_sales_daily.json",
        "dim_customer.json",
        "fact_sales.json",
        "report.html",
        "row-accounting.json",
    ]


def test_a_day_without_runs_is_a_one_line_error(lake: Lake, report: str) -> None:
    missing = lake.etl("report", "sales_warehouse", "--env", "local", "--run-date", FIRST)
    assert (missing.code, missing.stdout) == (1, "")
    assert (
        missing.stderr.strip()
        == f"etl: error: no validation report for sales_warehouse on {FIRST} under file://{lake.root}/dq/sales_warehouse/run_date={FIRST}"
    )


def test_the_page_shows_the_run_and_its_suites(report: str, browser: webdriver.Chrome) -> None:
    browser.get(report)
    assert browser.title == f"Validation report: sales_warehouse, run date {LAST} (warned)"
    run_id = Path(urlparse(report).path).parent.name
    summary = {key: browser.find_element(By.ID, key).text for key in ("job", "run-id", "run-date", "window", "env", "status")}
    # the window is known only to the run itself: the job wrote this page, etl report did not render it afterwards
    assert summary == {
        "job": "sales_warehouse",
        "run-id": run_id,
        "run-date": LAST,
        "window": f"{FIRST}..{LAST}",
        "env": "local",
        "status": "WARNED",
    }  # the status as shown: CSS puts it in capitals
    assert [element.text for element in browser.find_elements(By.CSS_SELECTOR, "section.target code.suite")] == SUITES
    statuses = [section.get_attribute("data-status") for section in browser.find_elements(By.CSS_SELECTOR, "section.target")]
    assert statuses == ["warned", "passed", "passed"]


def test_each_expectation_of_the_suites_is_met_on_correct_data(lake: Lake, report: str, browser: webdriver.Chrome) -> None:
    browser.get(report)
    lines, _ = lines_of_the_window(lake)
    rows = expectation_rows(browser, "fact_sales")
    expected = suite_of("fact_sales")
    assert len(rows) == len(expected) + 1  # and the injected one
    for expectation in expected:
        row = matching(rows, expectation)
        assert (row["outcome"], row["unexpected-count"], row["severity"], row["element-count"]) == (
            "passed",
            "0",
            expectation["severity"],
            f"{lines:,}",
        )
    for suite in SUITES[1:]:
        shown = expectation_rows(browser, suite)
        assert len(shown) == len(suite_of(suite))
        assert {row["outcome"] for row in shown} == {"passed"}
        assert [matching(shown, expectation)["severity"] for expectation in suite_of(suite)] == [e["severity"] for e in suite_of(suite)]


def test_the_failed_expectation_shows_its_unexpected_count(lake: Lake, report: str, browser: webdriver.Chrome) -> None:
    browser.get(report)
    lines, over_ten = lines_of_the_window(lake)
    assert 0 < over_ten < lines
    row = matching(expectation_rows(browser, "fact_sales"), INJECTED)
    assert (row["outcome"], row["severity"], row["unexpected-count"], row["element-count"]) == (
        "failed",
        "warn",
        f"{over_ten:,}",
        f"{lines:,}",
    )
    # first in its table, in plain words, the others (met) after it
    [failed, *met] = browser.find_elements(By.CSS_SELECTOR, "section[data-target='fact_sales'] tr.expectation")
    assert failed.is_displayed()
    assert (failed.get_attribute("data-expectation"), failed.get_attribute("class")) == (
        INJECTED["type"],
        "expectation failed severity-warn",
    )
    assert failed.find_element(By.CSS_SELECTOR, "td.words").text == "values of quantity at most 10"
    assert {row.get_attribute("class") for row in met} == {"expectation passed severity-error", "expectation passed severity-warn"}
    assert len(failed.find_elements(By.CSS_SELECTOR, "td.unexpected-values code.unexpected-value")) == min(5, over_ten)  # a sample


def accounting_of(browser: webdriver.Chrome, target: str) -> list[tuple[str, str]]:
    rows = browser.find_elements(By.CSS_SELECTOR, f"section[data-target='{target}'] table.accounting tbody tr")
    return [(row.find_element(By.CSS_SELECTOR, "td.what").text, row.find_element(By.CSS_SELECTOR, "td.count").text) for row in rows]


def test_the_page_shows_what_became_of_each_targets_rows(lake: Lake, report: str, browser: webdriver.Chrome) -> None:
    browser.get(report)
    lines, _ = lines_of_the_window(lake)
    [(orders,)] = query(f"SELECT count(*) FROM {lake.raw('orders', FIRST, LAST)}")
    [(customers,)] = query(f"SELECT count(*) FROM {lake.raw('customer', FIRST, LAST)}")
    sources = {
        row.find_element(By.CSS_SELECTOR, "td.source").text: row.find_elements(By.CSS_SELECTOR, "td.count")[0].text
        for row in browser.find_elements(By.CSS_SELECTOR, "table#sources tbody tr")
    }
    # the first run: the dimension it reads back is still empty
    assert sources == {"orders": f"{orders:,}", "lineitem": f"{lines:,}", "customer": f"{customers:,}", "nation": "25", "region": "5",
                       "dim_customer": "0"}  # fmt: skip
    # every line read is loaded: the demo's extracts are clean, and the transform's quarantine rule holds back none
    assert accounting_of(browser, "fact_sales") == [
        ("read from lineitem", f"{lines:,}"),
        ("malformed", "0"),
        ("loaded", f"{lines:,}"),
        ("quarantined", "0"),
        ("by rule net_revenue_out_of_range", "0"),
    ]
    equation = browser.find_element(By.CSS_SELECTOR, "section[data-target='fact_sales'] p.equation").text
    assert equation == f"fact_sales: {lines} read from lineitem = 0 malformed + {lines} loaded + 0 quarantined + 0 dropped"
    # targets without rows_from: what was loaded (and quarantined: nothing, no rule)
    assert accounting_of(browser, "dim_customer") == [("loaded", f"{len(expected_dimension(lake, FIRST, LAST)):,}"), ("quarantined", "0")]
    assert accounting_of(browser, "agg_sales_daily") == [
        ("loaded", f"{len(expected_aggregates(lake, FIRST, LAST)):,}"),
        ("quarantined", "0"),
    ]


def fits_the_window(browser: webdriver.Chrome) -> bool:
    """Whether nothing reaches past the window's right edge (the window WIDTH wide; the page's width is
    less by the vertical scroll bar)."""
    page, window = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert window == WIDTH
    return bool(page <= window)


def test_the_page_fits_a_narrow_window_even_with_long_values(lake: Lake, report: str, browser: webdriver.Chrome, tmp_path: Path) -> None:
    browser.get(report)
    assert fits_the_window(browser)
    # the same results with long values in the failed expectation's sample and arguments, rendered as `etl report` would
    folder = Path(urlparse(report).path).parent
    results = {name: json.loads((folder / f"{name}.json").read_text()) for name in SUITES}
    [injected] = [item for item in results["fact_sales"]["results"] if not item["success"]]
    long = "a-long-value-with-no-space-" * 12
    injected["result"]["partial_unexpected_list"] = [long, " padded\tvalue ", None, "x " * 200]
    injected["expectation_config"]["kwargs"]["row_condition"] = "c" * 300
    run = RunInfo("sales_warehouse", folder.name, LAST, "local", tables={"fact_sales": "warehouse.fact_sales"})
    page = tmp_path / "report.html"
    page.write_text(render_report(run, results, RunRows.from_json((folder / "row-accounting.json").read_text())))
    browser.get(page.as_uri())
    assert fits_the_window(browser)
    shown = browser.find_elements(By.CSS_SELECTOR, "section[data-target='fact_sales'] tr.expectation.failed code.unexpected-value")
    assert [value.text for value in shown] == ["a-long-value-with-no-space-a-long-value…", "␣padded⇥value␣", "null", ("x " * 20)[:39] + "…"]
    assert shown[0].find_element(By.CSS_SELECTOR, "span").get_attribute("title") == long  # the whole value, on hovering
