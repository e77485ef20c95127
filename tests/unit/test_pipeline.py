"""Pipelines (conf/pipelines/): the plan `etl pipeline show` prints, the order dependencies give, and
one-line errors naming file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from etl.cli import main
from etl.config import ConfigDir
from etl.errors import ConfigError

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """The repository's conf/ with three more (empty-bodied) jobs to arrange: a, b and c."""
    target = tmp_path / "conf"
    shutil.copytree(REPO_CONF, target)
    for name in ("a", "b", "c"):
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
            "jobs.nope: no conf/jobs/nope.yaml (known: a, b, c, clickstream_sessions, iot_telemetry, sales_warehouse)",
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
