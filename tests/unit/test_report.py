"""The validation report page, rendered from real Great Expectations results (the project's Validator on
tiny DataFrames, stored and parsed back as the job stores them), and how `etl report` finds a run's page."""

from __future__ import annotations

import json
import logging
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from etl.config import ConfigDir
from etl.config.models import EnvConfig, SuiteConfig
from etl.context import RunContext
from etl.errors import EtlError
from etl.quality import ValidationResult, Validator
from etl.quality.report import HadoopStore, LocalStore, RunInfo, Store, locate_report, render_report, write_report
from etl.zones import local_path

SCRIPT = "<script>alert('x')</script>"
ROWS = [(1, "apple", 10.0), (2, SCRIPT, 20.5), (3, "pear", 150.0), (4, "apple", 99.99)]
SUITES = {
    # target: (suite, expectations)
    "items": (
        "priced",
        [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}, "severity": "error"},
            {
                "type": "expect_column_values_to_be_between",
                "kwargs": {"column": "price", "min_value": 0, "max_value": 100},
                "severity": "error",
            },
            {"type": "expect_table_row_count_to_equal", "kwargs": {"value": 4}, "severity": "warn"},
        ],
    ),
    "names": (
        "named",
        [
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "name", "value_set": ["apple", "pear"]}, "severity": "warn"},
            {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["item", "name"]}, "severity": "error"},
        ],
    ),
    "counted": ("counted", [{"type": "expect_table_row_count_to_equal", "kwargs": {"value": 4}, "severity": "error"}]),
}
RUN = RunInfo(
    "shop", "20240502T010203Z-0a1b2c3d", "2024-05-02", "test", "2024-05-01..2024-05-02", {"items": "db.items", "names": "db.names"}
)


@pytest.fixture(scope="module")
def stored(spark: SparkSession) -> dict[str, dict[str, Any]]:
    """target -> the result JSON exactly as the job stores it (ValidationResult.to_json), parsed back."""
    frame = spark.createDataFrame(ROWS, "item int, name string, price double").cache()
    validator = Validator()
    results = {}
    for target, (suite, expectations) in SUITES.items():
        result = validator.validate(frame, SuiteConfig.model_validate({"name": suite, "expectations": expectations}), target)
        results[target] = json.loads(result.to_json())
    frame.unpersist()
    return results


# --- reading the page back, as a browser's DOM would ---------------------------------------------------


class Page(HTMLParser):
    """The title, summary cells by id, the sections, and the cells of every expectation row by class (text only)."""

    def __init__(self) -> None:
        super().__init__()
        self.head: dict[str, str] = {}
        self.summary: dict[str, str] = {}
        self.sections: list[dict[str, str]] = []
        self.rows: list[dict[str, Any]] = []
        self._into: tuple[str, dict[str, str], str] | None = None  # (tag, dict, key) that text goes to, until the tag ends

    @property
    def title(self) -> str:
        return self.head["title"]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self._into:  # text of nested elements (span, code) belongs to the cell
            return
        if tag == "section":
            self.sections.append({"target": a["data-target"], "suite": a["data-suite"], "status": a["data-status"]})
        elif tag == "tr" and "expectation" in a.get("class", "").split():
            row = {"class": a["class"], "expectation": a["data-expectation"], "kwargs": json.loads(a["data-kwargs"]), "cells": {}}
            self.rows.append({"target": self.sections[-1]["target"], **row})
        elif tag == "title":
            self._collect(tag, self.head, "title")
        elif tag == "td" and "id" in a:
            self._collect(tag, self.summary, a["id"])
        elif tag == "td" and self.rows and "class" in a:
            self._collect(tag, self.rows[-1]["cells"], a["class"])

    def _collect(self, tag: str, into: dict[str, str], key: str) -> None:
        into[key] = ""
        self._into = (tag, into, key)

    def handle_endtag(self, tag: str) -> None:
        if self._into and self._into[0] == tag:
            self._into = None

    def handle_data(self, data: str) -> None:
        if self._into:
            _, into, key = self._into
            into[key] += data


def parse(page: str) -> Page:
    parsed = Page()
    parsed.feed(page)
    return parsed


def cells(page: Page, target: str, *names: str) -> list[tuple[str, ...]]:
    return [tuple(row["cells"][name] for name in names) for row in page.rows if row["target"] == target]


# --- the page -------------------------------------------------------------------------------------------


def test_the_page_shows_the_run_each_suite_and_each_expectations_outcome(stored: dict[str, dict[str, Any]]) -> None:
    page = parse(render_report(RUN, stored))
    assert page.title == "Validation report: shop, run date 2024-05-02 (failed)"
    assert page.summary == {"job": "shop", "run-id": "20240502T010203Z-0a1b2c3d", "run-date": "2024-05-02",
                            "window": "2024-05-01..2024-05-02", "env": "test", "status": "failed"}  # fmt: skip
    assert page.sections == [
        {"target": "items", "suite": "priced", "status": "failed"},
        {"target": "names", "suite": "named", "status": "warned"},
        {"target": "counted", "suite": "counted", "status": "passed"},
    ]
    columns = ("type", "severity", "outcome", "element-count", "unexpected-count", "unexpected-percent", "unexpected-values", "note")
    # Great Expectations orders the results its own way: match them as a set of rows
    assert sorted(cells(page, "items", *columns)) == sorted([
        ("expect_column_values_to_not_be_null", "error", "passed", "4", "0", "0%", "", ""),
        ("expect_column_values_to_be_between", "error", "failed", "4", "1", "25%", "150.0", ""),
        ("expect_table_row_count_to_equal", "warn", "passed", "—", "—", "—", "", "observed: 4"),
    ])  # fmt: skip
    assert sorted(cells(page, "names", *columns)) == sorted([
        ("expect_column_values_to_be_in_set", "warn", "failed", "4", "1", "25%", SCRIPT, ""),
        ("expect_compound_columns_to_be_unique", "error", "passed", "4", "0", "0%", "", ""),
    ])  # fmt: skip
    assert cells(page, "counted", "type", "outcome") == [("expect_table_row_count_to_equal", "passed")]


def test_rows_carry_their_expectation_and_arguments_for_lookups(stored: dict[str, dict[str, Any]]) -> None:
    page = parse(render_report(RUN, stored))
    [between] = [row for row in page.rows if row["expectation"] == "expect_column_values_to_be_between"]
    assert between["kwargs"] == {"column": "price", "min_value": 0, "max_value": 100}  # batch_id left out
    assert between["class"].split() == ["expectation", "failed", "severity-error"]
    assert between["cells"]["kwargs"] == "column=pricemax_value=100.0min_value=0.0"  # one span (a line) per argument
    [in_set] = [row for row in page.rows if row["expectation"] == "expect_column_values_to_be_in_set"]
    assert in_set["class"].split() == ["expectation", "failed", "severity-warn"]


def test_every_value_is_escaped(stored: dict[str, dict[str, Any]]) -> None:
    run = RunInfo('job"><script>x()</script>', "r1", "2024-05-02", "test", None, {"items": "<b>db</b>.items"})
    page = render_report(run, stored)
    assert "<script" not in page  # neither from the data (the in_set sample) nor from names
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    parsed = parse(page)
    assert parsed.summary["job"] == 'job"><script>x()</script>'
    assert parsed.summary["window"] == "not recorded"
    assert '<code class="table">&lt;b&gt;db&lt;/b&gt;.items</code>' in page
    assert '<code class="table"><span class="na">unknown</span></code>' in page  # a target without a known table


def test_the_overall_status_is_the_worst_target(stored: dict[str, dict[str, Any]]) -> None:
    def status(*targets: str) -> str:
        return parse(render_report(RUN, {target: stored[target] for target in targets})).summary["status"]

    assert (status("counted"), status("counted", "names"), status("names", "items")) == ("passed", "warned", "failed")


# --- where the page is ----------------------------------------------------------------------------------

DAY = date(2024, 5, 2)


@pytest.fixture
def lake_env(env: EnvConfig, tmp_path: Path) -> EnvConfig:
    return env.model_copy(update={"lake_root": str(tmp_path / "lake")})


def land_run(lake_env: EnvConfig, run_id: str, files: dict[str, str]) -> Path:
    root = local_path(f"file://{lake_env.lake_root}")
    assert root is not None
    folder = root / "dq" / "sales_warehouse" / f"run_date={DAY}" / run_id
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture(params=["local", "hadoop"])
def store(request: pytest.FixtureRequest, spark: SparkSession) -> Store:
    return LocalStore() if request.param == "local" else HadoopStore(spark)


def test_the_newest_run_with_results_is_found_and_its_page_rendered_from_the_json(
    store: Store, conf: ConfigDir, lake_env: EnvConfig, stored: dict[str, dict[str, Any]]
) -> None:
    job = conf.job("sales_warehouse")
    land_run(lake_env, "20240503T010000Z-aaaaaaaa", {"report.html": "the older page"})
    newer = land_run(lake_env, "20240503T020000Z-bbbbbbbb", {f"{t}.json": json.dumps(r) for t, r in stored.items()})
    land_run(lake_env, "20240503T030000Z-cccccccc", {})  # a folder without results (never written by a run) is passed over
    for name in ("fact_sales", "dim_customer"):  # targets of the job's config come first, in its order
        (newer / f"{name}.json").write_text(json.dumps(stored["counted"]))

    uri = locate_report(store, job, lake_env, DAY)
    assert uri == f"file://{newer}/report.html"
    page = parse((newer / "report.html").read_text())
    assert [s["target"] for s in page.sections] == ["fact_sales", "dim_customer", "counted", "items", "names"]
    assert (page.summary["run-id"], page.summary["window"], page.summary["env"]) == ("20240503T020000Z-bbbbbbbb", "not recorded", "test")
    assert '<code class="table">warehouse.fact_sales</code>' in (newer / "report.html").read_text()
    # the next look finds the page now stored, and leaves it as it is
    (newer / "report.html").write_text("kept")
    assert locate_report(store, job, lake_env, DAY) == uri
    assert (newer / "report.html").read_text() == "kept"


def test_no_run_that_day_is_a_one_line_error(store: Store, conf: ConfigDir, lake_env: EnvConfig) -> None:
    with pytest.raises(EtlError) as error:
        locate_report(store, conf.job("sales_warehouse"), lake_env, DAY)
    assert (
        str(error.value)
        == f"no validation report for sales_warehouse on {DAY} under file://{lake_env.lake_root}/dq/sales_warehouse/run_date={DAY}"
    )


# --- the job's page -------------------------------------------------------------------------------------


def judged(target: str, result: dict[str, Any]) -> ValidationResult:
    from etl.quality.report import judge

    return judge(target, result)


def test_the_job_writes_its_page_next_to_the_json_and_the_json_alone_gives_the_same_page(
    spark: SparkSession, conf: ConfigDir, env: EnvConfig, make_ctx, stored: dict[str, dict[str, Any]]
) -> None:  # type: ignore[no-untyped-def]
    job = conf.job("sales_warehouse")
    ctx: RunContext = make_ctx(date(2024, 5, 1), DAY, job=job.name)
    results = [judged(target, stored[target]) for target in ("items", "names")]
    folder = local_path(ctx.zones.uri("dq", job.name, f"run_date={DAY}", ctx.run_id))
    assert folder is not None
    folder.mkdir(parents=True)
    for result in results:  # as Job._validate stores them
        (folder / f"{result.target}.json").write_text(result.to_json())
    write_report(spark, ctx, job, results)
    written = (folder / "report.html").read_text()
    page = parse(written)
    assert (page.summary["run-id"], page.summary["window"], page.summary["status"]) == (ctx.run_id, "2024-05-01..2024-05-02", "failed")

    (folder / "report.html").unlink()
    assert locate_report(LocalStore(), job, env, DAY) == f"file://{folder}/report.html"
    window = '<td id="window">2024-05-01..2024-05-02</td>'
    assert (folder / "report.html").read_text() == written.replace(window, '<td id="window"><span class="na">not recorded</span></td>')


def test_a_page_that_cannot_be_rendered_does_not_fail_the_run(
    spark: SparkSession, conf: ConfigDir, make_ctx, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    broken = ValidationResult(target="items", suite="priced", outcomes=[], ge_result={"results": [{"expectation_config": {}}]})
    with caplog.at_level(logging.ERROR, logger="etl.quality.report"):
        write_report(spark, make_ctx(DAY, job="shop"), conf.job("sales_warehouse"), [broken])
    assert "could not write the validation report" in caplog.text


def test_quarantine_rules_show_with_the_rows_they_held_back(spark: SparkSession) -> None:
    from etl.quality.validate import Counted

    frame = spark.createDataFrame([(1, "a")], "item int, name string")
    suite = SuiteConfig.model_validate(
        {
            "name": "held",
            "expectations": [
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}, "severity": "quarantine"},
                {"type": "expect_column_values_to_be_between", "kwargs": {"column": "item", "min_value": 0}, "severity": "quarantine",
                 "name": "positive"},
            ],
        }
    )  # fmt: skip
    # 4 rows checked, 3 of them held back for a null name (the loaded frame is what Great Expectations would see)
    outcome = Counted(judged=4, loaded=1, per_rule={"expect_column_values_to_not_be_null(name)": 3, "positive": 0})
    result = Validator().validate(frame, suite, "held", outcome)
    page = parse(render_report(RUN, {"held": json.loads(result.to_json())}))
    assert page.sections == [{"target": "held", "suite": "held", "status": "warned"}]
    assert cells(page, "held", "type", "severity", "outcome", "element-count", "unexpected-count", "unexpected-percent") == [
        ("expect_column_values_to_not_be_null", "quarantine", "failed", "4", "3", "75%"),
        ("expect_column_values_to_be_between", "quarantine", "passed", "4", "0", "0%"),
    ]
