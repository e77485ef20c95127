"""Pipelines (conf/pipelines/): the plan `etl pipeline show` prints, the order dependencies give, and
one-line errors naming file and key."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from etl.cli import main
from etl.config import ConfigDir
from etl.context import DateWindow
from etl.errors import ConfigError, EtlError
from etl.pipeline import run_pipeline

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """The repository's conf/ with four more (empty-bodied) jobs to arrange: a, b, c and d."""
    target = tmp_path / "conf"
    shutil.copytree(REPO_CONF, target)
    for name in ("a", "b", "c", "d"):
        (target / "jobs" / f"{name}.yaml").write_text(f"description: job {name}\nclass: jobs.x:{name.upper()}\n")
    return target


def pipeline_file(conf: Path, text: str) -> ConfigDir:
    (conf / "pipelines" / "night.yaml").write_text("description: a night\n" + text)
    return ConfigDir(conf, environ={})


def test_the_demo_pipeline_shows_its_plan(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "pipeline", "show", "nightly"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "nightly: The night's loads of the demo, in one Spark application.",
        "1. sales_warehouse",
        "     reads   raw/tpch/orders, raw/tpch/lineitem, raw/tpch/customer, raw/tpch/nation, raw/tpch/region, warehouse.dim_customer",
        "     writes  warehouse.fact_sales, warehouse.dim_customer, warehouse.agg_sales_daily",
        "2. clickstream_sessions",
        "     reads   raw/clickstream",
        "     writes  analytics.fact_pageviews, analytics.sessions, analytics.funnel_daily",
        "3. daily_kpis (after sales_warehouse, clickstream_sessions)",
        "     reads   warehouse.agg_sales_daily, analytics.funnel_daily",
        "     writes  analytics.daily_kpis",
    ]


def test_each_job_runs_after_what_it_depends_on_and_otherwise_in_the_files_order(conf: Path) -> None:
    night = pipeline_file(conf, "jobs:\n  c: {depends_on: [a, b]}\n  b: {depends_on: [a]}\n  a: {}\n  sales_warehouse: {}\n")
    assert night.pipeline("night").order() == ["a", "b", "c", "sales_warehouse"]
    independent = pipeline_file(conf, "jobs:\n  c: {}\n  a: {}\n  b: {}\n")
    assert independent.pipeline("night").order() == ["c", "a", "b"]


@pytest.mark.parametrize(
    ("jobs", "error"),
    [
        (
            "  a: {}\n  nope: {}\n",
            "jobs.nope: no conf/jobs/nope.yaml (known: a, b, c, clickstream_sessions, d, daily_kpis, iot_telemetry, sales_warehouse)",
        ),
        ("  a: {depends_on: [b]}\n", "jobs.a.depends_on: b is not a job of this pipeline (a)"),
        (
            "  a: {depends_on: [c]}\n  b: {depends_on: [a]}\n  c: {depends_on: [b]}\n",
            "jobs: depends_on goes round in a cycle: a -> c -> b -> a",
        ),
        ("  a: {depends_on: [a]}\n", "jobs: depends_on goes round in a cycle: a -> a"),
        ("  a: {depends_om: [b]}\n", "jobs.a.depends_om: unknown key (check the spelling; see the README's configuration section)"),
        ("  iot_telemetry: {}\n", "jobs.iot_telemetry: a stream job runs until it is stopped (etl stream), not in a pipeline"),
        ("  {}\n", "jobs: Dictionary should have at least 1 item after validation, not 0"),
    ],
    ids=["unknown-job", "unknown-dependency", "cycle", "self", "typo", "stream", "empty"],
)
def test_a_broken_pipeline_is_one_line_naming_file_and_key(conf: Path, jobs: str, error: str) -> None:
    night = pipeline_file(conf, "jobs:\n" + jobs if jobs.strip() != "{}" else "jobs: {}\n")
    with pytest.raises(ConfigError) as raised:
        night.pipeline("night")
    assert str(raised.value) == f"conf/pipelines/night.yaml: {error}"


def test_an_unknown_pipeline_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "pipeline", "show", "weekly"]) != 0
    assert capsys.readouterr().err.strip().splitlines()[-1] == "etl: error: conf/pipelines/weekly.yaml: not found (known: nightly)"


def test_a_failed_job_skips_its_dependents_and_the_independent_ones_still_run(conf: Path) -> None:
    night = pipeline_file(conf, "jobs:\n  a: {}\n  b: {depends_on: [a]}\n  c: {}\n  d: {depends_on: [b, c]}\n").pipeline("night")
    ran, said = [], []

    def run(job: str) -> None:
        ran.append(job)
        if job == "a":
            raise EtlError("source x: no input")
        if job == "c":
            raise ValueError("a bug")

    outcome = run_pipeline(night, run, lambda e: f"{type(e).__name__}: {e}", say=said.append, warn=lambda line: said.append("! " + line))
    assert ran == ["a", "c"]
    assert said == [
        "a: running",
        "! a: failed: EtlError: source x: no input",
        "! b: skipped: a did not succeed",
        "c: running",
        "! c: failed: ValueError: a bug",
        "! d: skipped: b, c did not succeed",
    ]
    assert outcome.summary("night", DateWindow.day(date(2024, 6, 1))) == (
        "night 2024-06-01: 0 of 4 job(s) succeeded; a failed: EtlError: source x: no input; c failed: ValueError: a bug; "
        "b skipped (after a); d skipped (after b, c)"
    )


def test_ctrl_c_stops_the_pipeline(conf: Path) -> None:
    night = pipeline_file(conf, "jobs:\n  a: {}\n  b: {}\n").pipeline("night")

    def run(job: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_pipeline(night, run, str, say=print, warn=print)


@pytest.mark.parametrize(
    "days, error",
    [
        ([], "give --run-date D, or --from D --to D"),
        (["--run-date", "2024-06-01", "--from", "2024-06-01"], "give --run-date D, or --from D --to D"),
        (["--from", "2024-06-02", "--to", "2024-06-01"], "the window's first day 2024-06-02 is after its last day 2024-06-01"),
    ],
)
def test_a_pipeline_run_needs_one_window(days: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "pipeline", "run", "nightly", "--env", "test", *days]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == f"etl: error: {error}"


def test_a_dry_run_prints_the_plan_and_runs_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(REPO_CONF), "pipeline", "run", "nightly", "--env", "test", "--run-date", "2024-06-01", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "nightly: The night's loads of the demo, in one Spark application."
    assert out[-1] == "would run: sales_warehouse, clickstream_sessions, daily_kpis for 2024-06-01 in env test"
