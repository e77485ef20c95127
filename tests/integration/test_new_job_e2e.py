"""`etl new-job` then `etl run` of what it wrote, as a new user would: the sample day lands in the table
with the rows worked out by hand from its four lines (read back with DuckDB, not Spark)."""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.integration.conftest import REPO, Lake

pytestmark = pytest.mark.integration

NAME = "orders"
DAY = "2026-11-02"


def test_a_new_job_loads_its_sample_day(tmp_path: Path) -> None:
    home = tmp_path / "project"
    (home / "jobs").mkdir(parents=True)
    (home / "jobs" / "__init__.py").write_text("")
    shutil.copytree(REPO / "conf", home / "conf")
    # the project's own jobs package is the one in `home` (the etl package is the checkout's)
    environ = {"ETL_CONF_DIR": str(home / "conf"), "PYTHONPATH": f"{home}:{REPO}", "ETL_DRIVER_MEMORY": "1g", "ETL_TABLE_FORMAT": "parquet"}
    lake = Lake(home / "lake", environ=environ)

    created = lake.etl_ok("new-job", NAME, "--sample", DAY, "--env", "test").stdout
    assert f"created lake/raw/{NAME}/dt={DAY}/orders.csv" in created.splitlines()
    assert (home / "tests" / "unit" / f"test_{NAME}.py").is_file()
    lake.etl_ok("run", NAME, "--env", "test", "--run-date", DAY)

    # the sample: 1,Ada,12.50,  2, ada ,7.50,WELCOME  3,Grace,30.00,  4,Grace,0.00,FREE (below min_amount 0.01)
    table = home / "lake" / "curated" / "warehouse.db" / NAME
    with duckdb.connect() as con:
        rows = con.sql(
            f"SELECT dt, customer, orders, amount, with_coupon FROM read_parquet('{table}/**/*.parquet', hive_partitioning=true) "
            "WHERE etl_rows = 'loaded' ORDER BY customer"
        ).fetchall()
    day = date.fromisoformat(DAY)
    assert rows == [(day, "ada", 2, Decimal("20.00"), 1), (day, "grace", 1, Decimal("30.00"), 0)]
