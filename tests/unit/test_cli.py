"""The etl command's contract: exit codes and one-line errors (paths that start no JVM)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from etl.cli import main

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
ETL = Path(sys.executable).parent / "etl"
# The demo's jobs and suites: what the lists and counts below are about. A checkout where `etl new-job`
# has added jobs still passes them (the copy they read leaves the added ones out).
DEMO_JOBS = {"clickstream_sessions", "daily_kpis", "iot_telemetry", "sales_warehouse"}
DEMO_SUITES = {"agg_sales_daily", "daily_kpis", "dim_customer", "fact_pageviews", "fact_sales", "funnel_daily", "sessions"}


@pytest.fixture(scope="module")
def demo_conf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    conf = tmp_path_factory.mktemp("demo") / "conf"

    def added(folder: str, names: list[str]) -> list[str]:
        demo = {"jobs": DEMO_JOBS, "expectations": DEMO_SUITES}.get(Path(folder).name)
        return [] if demo is None else [name for name in names if Path(name).stem not in demo]

    shutil.copytree(REPO_CONF, conf, ignore=added)
    return conf


def test_list_shows_jobs_and_descriptions(demo_conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(demo_conf), "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "clickstream_sessions  Clickstream analytics from CloudFront access logs (fact_pageviews, sessions, funnel_daily).",
        "daily_kpis            The shop's day in one row (analytics.daily_kpis) from the night's sales and web analytics loads.",
        "iot_telemetry         Real-time IoT telemetry (Kinesis or Firehose files) -> 5-minute device aggregates with anomaly flags (analytics.iot_device_5min).",
        "sales_warehouse       Nightly load of the retail sales warehouse (fact_sales, dim_customer SCD2, agg_sales_daily) from the daily TPC-H extracts.",
    ]


def test_check_config_ok(demo_conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(demo_conf), "check-config"]) == 0
    assert capsys.readouterr().out.strip() == "config ok: 7 envs, 4 jobs, 7 suites, 1 pipeline"


def test_bad_config_is_one_line_naming_file_and_key(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    (conf / "env" / "test.yaml").write_text("spark:\n  driver_memmory: 2g\n")
    done = subprocess.run([str(ETL), "--conf-dir", str(conf), "check-config", "--env", "test"], capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "etl: error: conf/env/test.yaml: spark.driver_memmory: unknown key (check the spelling; see the README's configuration section)"
    ]
    # a run fails the same way, before Spark starts
    done = subprocess.run(
        [str(ETL), "--conf-dir", str(conf), "run", "sales_warehouse", "--env", "test", "--run-date", "1992-01-01"],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stderr.strip().splitlines()[-1]) == (
        1,
        "etl: error: conf/env/test.yaml: spark.driver_memmory: unknown key (check the spelling; see the README's configuration section)",
    )


def test_unknown_job_and_bad_dates(demo_conf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--conf-dir", str(demo_conf), "run", "nightly", "--env", "test", "--run-date", "1992-01-01"]) == 1
    assert (
        capsys.readouterr().err.strip()
        == "etl: error: conf/jobs/nightly.yaml: not found (known: clickstream_sessions, daily_kpis, iot_telemetry, sales_warehouse)"
    )
    assert (
        main(["--conf-dir", str(REPO_CONF), "backfill", "sales_warehouse", "--env", "test", "--from", "1992-02-01", "--to", "1992-01-01"])
        == 1
    )
    assert capsys.readouterr().err.strip() == "etl: error: the window's first day 1992-02-01 is after its last day 1992-01-01"
    with pytest.raises(SystemExit) as exit_:
        main(["--conf-dir", str(REPO_CONF), "run", "sales_warehouse", "--run-date", "01/02/1992"])
    assert exit_.value.code == 2
    assert "'01/02/1992' is not a date of the form YYYY-MM-DD" in capsys.readouterr().err


def test_python_dash_m_etl_is_the_same_command(demo_conf: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "etl", "--conf-dir", str(demo_conf), "list"], capture_output=True, text=True)
    assert (done.returncode, [line.split()[0] for line in done.stdout.splitlines()]) == (
        0,
        ["clickstream_sessions", "daily_kpis", "iot_telemetry", "sales_warehouse"],
    )


def test_an_in_process_call_leaves_the_callers_session_running(spark, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["--conf-dir", str(REPO_CONF), "list"]) == 0
    assert spark.range(3).count() == 3


def test_sql_csv_cells() -> None:
    from datetime import date
    from decimal import Decimal

    from pyspark.sql import Row

    from etl.cli import _csv_text

    cells = [None, True, Decimal("1.5000"), date(1992, 1, 2), {"orders": 590, "at": date(1992, 1, 1)}, [1, 2], Row(a=1, b="z"), "x"]
    assert [_csv_text(v) for v in cells] == [
        "", "true", "1.5000", "1992-01-02", '{"at": "1992-01-01", "orders": 590}', "[1, 2]", '{"a": 1, "b": "z"}', "x"
    ]  # fmt: skip


def test_sql_runs_several_queries_in_one_application(  # type: ignore[no-untyped-def]
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ETL_LAKE_ROOT", str(tmp_path))  # the command's own log goes there
    queries = ["SELECT 1 AS a", "SELECT 'x,y' AS b, CAST(NULL AS INT) AS c", "SELECT 2 AS d"]
    assert main(["--conf-dir", str(REPO_CONF), "sql", "--env", "test", *queries]) == 0
    assert capsys.readouterr().out == 'a\n1\n\nb,c\n"x,y",\n\nd\n2\n'
    assert main(["--conf-dir", str(REPO_CONF), "sql", "--env", "test", "--format", "json", *queries]) == 0
    assert capsys.readouterr().out == '{"a": 1}\n\n{"b": "x,y", "c": null}\n\n{"d": 2}\n'
    assert spark.range(2).count() == 2  # the caller's session is still there


def test_sql_prints_a_table_for_a_person_at_a_terminal(  # type: ignore[no-untyped-def]
    spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ETL_LAKE_ROOT", str(tmp_path))
    query = (
        "SELECT * FROM VALUES ('sales_warehouse', map('customer', 1554, 'orders', 15000), 12.50BD, CAST(NULL AS INT), "
        "named_struct('a', 1, 'b', 'x,y'), array(1, 2), 'two\\nlines'), "
        "('daily_kpis', map(), 3.00BD, CAST(NULL AS INT), named_struct('a', 22, 'b', ''), array(), '') "
        "AS t(job, rows_read, price, n, s, arr, note)"
    )
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["--conf-dir", str(REPO_CONF), "sql", "--env", "test", query]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "job              rows_read                    price  n     s             arr     note",
        "---------------  ---------------------------  -----  ----  ------------  ------  ----------",
        'sales_warehouse  customer=1554, orders=15000  12.50  NULL  a=1, b="x,y"  [1, 2]  two\\nlines',
        'daily_kpis                                     3.00  NULL  a=22, b=""    []',
    ]
    # piped, the same query is CSV, whose nested values other tools parse as JSON
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    assert main(["--conf-dir", str(REPO_CONF), "sql", "--env", "test", query]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "job,rows_read,price,n,s,arr,note",
        'sales_warehouse,"{""customer"": 1554, ""orders"": 15000}",12.50,,"{""a"": 1, ""b"": ""x,y""}","[1, 2]","two',
    ]


def test_a_run_before_any_data_landed_says_what_to_do_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    monkeypatch.setenv("ETL_LAKE_ROOT", str(lake))
    demo = "etl: error: {job}: the demo's data has not landed in {uri}: run `etl demo-data {dataset} --env local` first"
    runs = {
        ("run", "sales_warehouse", "--run-date", "1992-01-01"): demo.format(
            job="sales_warehouse", uri=f"file://{lake}/raw/tpch/orders", dataset="tpch"
        ),
        ("pipeline", "run", "nightly", "--run-date", "1992-01-01"): demo.format(
            job="sales_warehouse", uri=f"file://{lake}/raw/tpch/orders", dataset="tpch"
        ),
        ("backfill", "clickstream_sessions", "--from", "2024-06-01", "--to", "2024-06-02"): demo.format(
            job="clickstream_sessions", uri=f"file://{lake}/raw/clickstream", dataset="clickstream"
        ),
        ("stream", "iot_telemetry"): demo.format(job="iot_telemetry", uri=f"file://{lake}/raw/iot", dataset="iot"),
    }
    for args, line in runs.items():
        assert main(["--conf-dir", str(REPO_CONF), *args, "--env", "local"]) == 1
        assert capsys.readouterr().err.splitlines() == [line]
    # a job's own landing folder (not the demo's) is named as it is
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF, conf)
    job = conf / "jobs" / "sales_warehouse.yaml"
    job.write_text(job.read_text().replace("path: tpch/", "path: sales/"))
    assert main(["--conf-dir", str(conf), "run", "sales_warehouse", "--env", "local", "--run-date", "1992-01-01"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        f"etl: error: sales_warehouse: nothing has landed yet: file://{lake}/raw/sales/orders (source orders) does not exist, "
        "nor do the folders of its 4 other source(s)"
    ]
    assert not lake.exists()  # no metastore_db, spark-warehouse or logs: Spark never started
