"""README's "Writing a job", run as written in a copy of the project: `etl new-job` with a sample day,
the unit test it generates run with pytest, `etl check-config`, then `etl run` and `etl sql` of what it
wrote. The rows are worked out in plain Python from the sample file, and are the ones the README states
(also read back from storage with DuckDB, not Spark)."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.integration.conftest import REPO, Lake
from tests.readme import README, blocks_run_by

pytestmark = pytest.mark.integration

NAME = "orders"
DAY = "2026-11-02"
# What the README says the sample day gives: customer, orders, amount, with a coupon.
STATED = "The sample gives two rows: `ada` with 2 orders for 20.00 (one with a coupon), `grace` with 1 for 30.00"
STATED_ROWS = [("ada", 2, Decimal("20.00"), 1), ("grace", 1, Decimal("30.00"), 0)]


def project_copy(home: Path) -> Path:
    """What the commands need of a checkout: its jobs and conf, the tests package's own modules (its
    conftest.py: the `spark` and `ansi` fixtures), pyproject.toml (pytest's settings: the rootdir)."""
    shutil.copytree(REPO / "jobs", home / "jobs", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "conf", home / "conf")
    (home / "tests" / "unit").mkdir(parents=True)
    for module in [*(REPO / "tests").glob("*.py"), REPO / "tests" / "unit" / "__init__.py", REPO / "pyproject.toml"]:
        shutil.copy(module, home / module.relative_to(REPO))
    return home


def totals_of_sample(sample: Path, min_amount: Decimal) -> list[tuple[str, int, Decimal, int]]:
    """The job's rule by hand: names trimmed and lower-cased, orders below min_amount left out."""
    totals: dict[str, tuple[int, Decimal, int]] = {}
    with sample.open(newline="") as lines:
        for line in csv.DictReader(lines):
            amount = Decimal(line["amount"])
            if amount < min_amount:
                continue
            customer = line["customer"].strip().lower()
            orders, total, coupons = totals.get(customer, (0, Decimal(0), 0))
            totals[customer] = (orders + 1, total + amount, coupons + (line["coupon"] != ""))
    return [(customer, *totals[customer]) for customer in sorted(totals)]


def test_writing_a_job_as_the_readme_says(tmp_path: Path) -> None:
    home = project_copy(tmp_path / "project")
    # the copy's jobs and tests packages come first (the etl package is the checkout's); ETL_CONF_DIR and
    # the lake are the copy's ./conf and ./lake, where a reader's commands find them
    environ = {"ETL_CONF_DIR": str(home / "conf"), "PYTHONPATH": f"{home}:{REPO}", "ETL_DRIVER_MEMORY": "1g", "ETL_TABLE_FORMAT": "parquet"}
    lake = Lake(home / "lake", environ=environ)
    scaffold, unit_test, running = blocks_run_by(__file__)

    [created] = lake.readme(scaffold)
    sample = home / "lake" / "raw" / NAME / f"dt={DAY}" / "orders.csv"
    assert f"created {sample.relative_to(home)}" in created.stdout.splitlines()

    tested, checked = lake.readme(unit_test)
    assert "4 passed" in tested.stdout  # its two tests, each with ANSI SQL off and on
    assert checked.stdout == "config ok: 7 envs, 5 jobs, 8 suites, 1 pipeline\n"

    _, fetched = lake.readme(running)
    min_amount = Decimal(str(yaml.safe_load((home / "conf" / "jobs" / f"{NAME}.yaml").read_text())["params"]["min_amount"]))
    expected = totals_of_sample(sample, min_amount)
    assert expected == STATED_ROWS and STATED in " ".join(README.read_text().split())
    assert list(csv.DictReader(io.StringIO(fetched.stdout))) == [
        {"dt": DAY, "customer": customer, "orders": str(orders), "amount": str(amount), "with_coupon": str(coupons)}
        for customer, orders, amount, coupons in expected
    ]
    table = home / "lake" / "curated" / "warehouse.db" / NAME
    with duckdb.connect() as con:
        stored = con.sql(
            f"SELECT dt, customer, orders, amount, with_coupon FROM read_parquet('{table}/**/*.parquet', hive_partitioning=true) "
            "WHERE etl_rows = 'loaded' ORDER BY customer"
        ).fetchall()
    assert stored == [(date.fromisoformat(DAY), *row) for row in expected]
