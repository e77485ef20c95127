"""The validation report page, rendered from real Great Expectations results (the project's Validator on
tiny DataFrames, stored and parsed back as the job stores them), and how `etl report` finds a run's page."""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from etl.accounting import RunRows, SourceRows, TargetRows
from etl.config import ConfigDir
from etl.config.models import EnvConfig, SuiteConfig
from etl.context import RunContext
from etl.errors import EtlError
from etl.quality import ValidationResult, Validator
from etl.quality.report import HadoopStore, LocalStore, RunInfo, Store, locate_report, render_report, write_report
from etl.zones import local_path
from tests.report_page import Page, parse

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

# A run by hand: 12,371 lines read = 22 malformed + 10,000 loaded + 3 quarantined + 2,346 dropped (2,000 + 346).
ACCOUNTED = RunRows(
    sources={"lines": SourceRows(12_371, 22), "earlier": SourceRows(5, None)},
    targets={
        "items": TargetRows(10_000, 3, {"amount_out_of_range": 2, "expect_column_values_to_not_be_null(sku)": 2},
                            {"not_a_sale": 2_000, "test_order": 346}, "lines"),
        "names": TargetRows(40, 0, {}, {}, None),
        "unchecked": TargetRows(7, 1, {"odd": 1}, {"empty": 2}, None),
    },
)  # fmt: skip


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


def cells(page: Page, target: str, *names: str) -> list[tuple[str, ...]]:
    """The cells of each expectation row of a target, in the page's order ("type": the expectation's)."""
    return [
        tuple(row["expectation"] if name == "type" else row["cells"][name] for name in names)
        for row in page.rows
        if row["target"] == target
    ]


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
    # failed first (errors, then warnings), then met in Great Expectations' own order: those as a set
    shown = cells(page, "items", *columns)
    assert shown[0] == ("expect_column_values_to_be_between", "error", "failed", "4", "1", "25%", "150.0", "")
    assert sorted(shown[1:]) == sorted([
        ("expect_column_values_to_not_be_null", "error", "passed", "4", "0", "0%", "", ""),
        ("expect_table_row_count_to_equal", "warn", "passed", "—", "—", "—", "", "observed: 4"),
    ])  # fmt: skip
    assert cells(page, "names", *columns) == [
        ("expect_column_values_to_be_in_set", "warn", "failed", "4", "1", "25%", SCRIPT, ""),
        ("expect_compound_columns_to_be_unique", "error", "passed", "4", "0", "0%", "", ""),
    ]
    assert cells(page, "counted", "type", "outcome") == [("expect_table_row_count_to_equal", "passed")]
    assert sorted(cells(page, "items", "words")) == [
        ("row count equal to 4",),
        ("values of name not null",),
        ("values of price between 0 and 100",),
    ]
    assert page.notes["no-accounting"].startswith("This run stored no row accounting")  # rendered without it


def test_rows_carry_their_expectation_and_arguments_for_lookups(stored: dict[str, dict[str, Any]]) -> None:
    page = parse(render_report(RUN, stored))
    [between] = [row for row in page.rows if row["expectation"] == "expect_column_values_to_be_between"]
    assert between["kwargs"] == {"column": "price", "min_value": 0, "max_value": 100}  # batch_id left out
    assert between["class"].split() == ["expectation", "failed", "severity-error"]
    # the type, then one span (a line) per argument, as Great Expectations stored them
    assert between["cells"]["definition"] == "expect_column_values_to_be_betweencolumn=pricemax_value=100.0min_value=0.0"
    [in_set] = [row for row in page.rows if row["expectation"] == "expect_column_values_to_be_in_set"]
    assert in_set["class"].split() == ["expectation", "failed", "severity-warn"]
    assert in_set["cells"]["words"] == "values of name one of: apple, pear"


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
    assert page.notes["no-accounting"].startswith("This run stored no row accounting")  # a run from before it was stored
    assert page.accounting == {}
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
    for result in results:  # as etl/run/validation.py stores them
        (folder / f"{result.target}.json").write_text(result.to_json())
    (folder / "row-accounting.json").write_text(ACCOUNTED.to_json())
    write_report(spark, ctx, job, results, ACCOUNTED)
    written = (folder / "report.html").read_text()
    page = parse(written)
    assert (page.summary["run-id"], page.summary["window"], page.summary["status"]) == (ctx.run_id, "2024-05-01..2024-05-02", "failed")
    assert [s["target"] for s in page.sections] == ["items", "names", "unchecked"]  # the accounting's order, the run's
    assert page.accounting["items"][0] == ("read from lines", "12,371", "100%")

    (folder / "report.html").unlink()
    assert locate_report(LocalStore(), job, env, DAY) == f"file://{folder}/report.html"
    window = '<td id="window">2024-05-01..2024-05-02</td>'
    assert (folder / "report.html").read_text() == written.replace(window, '<td id="window"><span class="na">not recorded</span></td>')


def test_a_page_that_cannot_be_rendered_does_not_fail_the_run(
    spark: SparkSession, conf: ConfigDir, make_ctx, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    broken = ValidationResult(target="items", suite="priced", outcomes=[], ge_result={"results": [{"expectation_config": {}}]})
    with caplog.at_level(logging.ERROR, logger="etl.quality.report"):
        write_report(spark, make_ctx(DAY, job="shop"), conf.job("sales_warehouse"), [broken], None)
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


# --- what became of the rows --------------------------------------------------------------------------


def test_each_target_shows_what_became_of_its_rows(stored: dict[str, dict[str, Any]]) -> None:
    page = parse(render_report(RUN, {"items": stored["items"], "names": stored["names"]}, ACCOUNTED))
    assert "no-accounting" not in page.notes
    assert page.sources == [["lines", "12,371", "22"], ["earlier", "5", "—"]]
    # read = malformed + loaded + quarantined + dropped per rule; the rules that quarantined rows (a row may fail several)
    assert page.accounting["items"] == [
        ("read from lines", "12,371", "100%"),
        ("malformed", "22", "0.18%"),
        ("loaded", "10,000", "80.83%"),
        ("quarantined", "3", "0.02%"),
        ("by rule amount_out_of_range", "2", "0.02%"),
        ("by rule expect_column_values_to_not_be_null(sku)", "2", "0.02%"),
        ("dropped by rule not_a_sale", "2,000", "16.17%"),
        ("dropped by rule test_order", "346", "2.8%"),
    ]
    assert page.equations["items"] == (
        "items: 12371 read from lines = 22 malformed + 10000 loaded + 3 quarantined + 2346 dropped (not_a_sale 2000, test_order 346)"
    )  # the audit table's accounting line
    # no rows_from: what the run knows, shares of the rows the transform gave
    assert page.accounting["names"] == [("loaded", "40", "100%"), ("quarantined", "0", "0%")]
    assert "names" not in page.equations
    # a target without a suite has a section for its rows all the same
    assert page.sections[-1] == {"target": "unchecked", "suite": "", "status": "skipped"}
    assert page.accounting["unchecked"] == [
        ("loaded", "7", "70%"), ("quarantined", "1", "10%"), ("by rule odd", "1", "10%"), ("dropped by rule empty", "2", "20%")
    ]  # fmt: skip


def test_the_row_accounting_is_stored_as_json() -> None:
    assert json.loads(ACCOUNTED.to_json()) == {
        "sources": {"lines": {"read": 12371, "malformed": 22}, "earlier": {"read": 5, "malformed": None}},
        "targets": {
            "items": {"loaded": 10000, "quarantined": 3, "quarantined_by": {"amount_out_of_range": 2,
                      "expect_column_values_to_not_be_null(sku)": 2}, "dropped": {"not_a_sale": 2000, "test_order": 346},
                      "rows_from": "lines"},
            "names": {"loaded": 40, "quarantined": 0, "quarantined_by": {}, "dropped": {}, "rows_from": None},
            "unchecked": {"loaded": 7, "quarantined": 1, "quarantined_by": {"odd": 1}, "dropped": {"empty": 2}, "rows_from": None},
        },
    }  # fmt: skip
    assert RunRows.from_json(ACCOUNTED.to_json()) == ACCOUNTED


# --- the expectations, failed first, their values readable -------------------------------------------


def item(kind: str, severity: str, success: bool, sample: list[Any] | None = None, **kwargs: Any) -> dict[str, Any]:
    """A stored result item as Great Expectations writes it (what the page reads of it)."""
    ge_severity = {"error": "critical", "warn": "warning", "quarantine": "warning"}[severity]
    return {
        "success": success,
        "expectation_config": {"type": kind, "kwargs": kwargs, "meta": {"severity": severity}, "severity": ge_severity},
        "result": {"element_count": 10, "unexpected_count": len(sample or []), "partial_unexpected_list": sample or []},
        "exception_info": {"raised_exception": False},
    }


def one_target(*items: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"items": {"suite_name": "priced:items", "results": list(items), "statistics": {}}}


def test_failed_expectations_come_first_then_warnings_then_the_met() -> None:
    stored = one_target(
        item("expect_column_values_to_be_unique", "error", True, column="a"),
        item("expect_column_values_to_not_be_null", "warn", False, [None], column="b"),
        item("expect_column_values_to_be_null", "quarantine", False, ["x"], column="c"),
        item("expect_column_values_to_be_between", "error", False, [11], column="d", max_value=10),
        item("expect_column_values_to_not_be_null", "error", True, column="e"),
    )
    page = parse(render_report(RUN, stored))
    assert cells(page, "items", "words", "severity", "outcome") == [
        ("values of d at most 10", "error", "failed"),
        ("values of b not null", "warn", "failed"),
        ("values of c null", "quarantine", "failed"),
        ("values of a unique", "error", "passed"),
        ("values of e not null", "error", "passed"),
    ]


def test_sample_values_stay_readable() -> None:
    long = "x" * 30 + "y" * 30
    sample = [None, "", "  a\tb\n ", long, {"key": "v"}, "sixth, not shown"]
    text = render_report(RUN, one_target(item("expect_column_values_to_be_in_set", "warn", False, sample, column="c", value_set=["ok"])))
    page = parse(text)
    assert cells(page, "items", "unexpected-values") == [("null(empty)␣␣a⇥b↵␣" + "x" * 30 + "y" * 9 + '…{"key": "v"}',)]
    # the whole value where the text shown is not it: the cut one, the one with whitespace made visible
    assert page.titles == [("(empty)", "an empty string"), ("␣␣a⇥b↵␣", "  a\tb\n "), ("x" * 30 + "y" * 9 + "…", long)]
    assert '<code class="unexpected-value null">null</code>' in text  # shown unlike the string "null" would be


def test_long_arguments_are_cut_in_the_cells_and_whole_in_their_titles() -> None:
    values = [f"segment-{n:03}" for n in range(12)]
    page = parse(render_report(RUN, one_target(item("expect_column_values_to_be_in_set", "warn", True, column="c", value_set=values))))
    whole = json.dumps(values)
    assert cells(page, "items", "words") == [(
        "values of c one of: segment-000, segment-001, segment-002, segment-003, segment-004, segment-005, segment-006, segment-007, "
        "segment-008, segment-009 and 2 more",
    )]  # fmt: skip
    assert cells(page, "items", "definition") == [(f"expect_column_values_to_be_in_setcolumn=cvalue_set={whole[:39]}…",)]
    assert page.titles == [(f"{whole[:39]}…", whole)]
