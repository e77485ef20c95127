"""End to end: `etl demo-data`, `etl backfill`, `etl run`, `etl sql`, as a user runs them.

Expected values are computed with DuckDB from the raw landing files, never with the code under test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.integration.conftest import Lake, query
from tests.integration.expected import (
    DIMENSION_SQL,
    WAREHOUSE_SQL,
    aggregate_rows,
    dimension_rows,
    expected_aggregates,
    expected_dimension,
    expected_facts,
)

pytestmark = pytest.mark.integration

FIRST, LAST = "1992-01-01", "1992-03-31"
AUDIT_SQL = (
    "SELECT job, env, status, window_start, run_date, rows_read['lineitem'] AS lineitem, rows_read['orders'] AS orders, "
    "rows_written['fact_sales'] AS facts, rows_malformed['lineitem'] AS malformed, accounting, validation, error "
    "FROM etl_audit.job_runs"
)


@pytest.fixture(scope="module")
def loaded(lake: Lake) -> Lake:
    # The tour: the whole TPC-H range lands (1992-01-01 .. 1998-12-31), the backfill reads its quarter only.
    lake.etl_ok("demo-data", "--env", "local", "--scale", "0.01")
    lake.etl_ok("backfill", "sales_warehouse", "--env", "local", "--from", FIRST, "--to", LAST)
    lake.prefetch(
        *WAREHOUSE_SQL,
        AUDIT_SQL,
        "SELECT * FROM warehouse.fact_sales ORDER BY order_key, line_number",
        "SHOW PARTITIONS warehouse.fact_sales",
    )
    return lake


def test_fact_sales_equals_the_raw_lines_with_exact_net_revenue(loaded: Lake) -> None:
    expected = query(f"SELECT * FROM ({expected_facts(loaded, FIRST, LAST)}) ORDER BY order_key, line_number")
    rows = loaded.sql("SELECT * FROM warehouse.fact_sales ORDER BY order_key, line_number")
    assert len(rows) == len(expected) > 2000
    columns = ["order_key", "line_number", "customer_key", "part_key", "supplier_key", "order_date", "ship_date",
               "quantity", "extended_price", "discount", "tax", "net_revenue"]  # fmt: skip
    for row, want in zip(rows, expected, strict=True):
        got = tuple(
            Decimal(row[c]) if isinstance(w, Decimal) else type(w)(row[c]) if isinstance(w, int) else row[c]
            for c, w in zip(columns, want, strict=True)
        )
        assert got == tuple(w if isinstance(w, Decimal | int) else str(w) for w in want)
    # the days of the window and only those are partitions
    partitions = loaded.sql("SHOW PARTITIONS warehouse.fact_sales")
    days = query(f"SELECT DISTINCT o_orderdate FROM {loaded.raw('orders', FIRST, LAST)} ORDER BY 1")
    assert [p["partition"] for p in partitions] == [f"order_date={d}" for (d,) in days]


def test_dim_customer_is_the_scd2_history_of_the_extracts(loaded: Lake) -> None:
    expected = expected_dimension(loaded, FIRST, LAST)
    assert dimension_rows(loaded) == expected
    current = [row for row in expected if row[-1] == "true"]
    assert len(current) == 1500  # every TPC-H SF 0.01 customer has exactly one current version
    assert len(expected) > 1500  # and the demo's changes made history


def test_agg_sales_daily_uses_the_customer_as_of_the_order_date(loaded: Lake) -> None:
    # DuckDB's ASOF join picks the latest extract row on or before the order date: a different algorithm
    # from the job's SCD2 range join.
    assert aggregate_rows(loaded) == expected_aggregates(loaded, FIRST, LAST)


def test_audit_row_of_the_backfill(loaded: Lake) -> None:
    rows = loaded.sql(AUDIT_SQL)
    [(lines,)] = query(f"SELECT count(*) FROM {loaded.raw('lineitem', FIRST, LAST)}")
    [(orders,)] = query(f"SELECT count(*) FROM {loaded.raw('orders', FIRST, LAST)}")
    assert rows == [
        {"job": "sales_warehouse", "env": "local", "status": "succeeded", "window_start": FIRST, "run_date": LAST,
         "lineitem": str(lines), "orders": str(orders), "facts": str(lines), "malformed": "0", "validation": "passed", "error": "",
         "accounting": f"fact_sales: {lines} read from lineitem = 0 malformed + {lines} loaded + 0 quarantined + 0 dropped"}
    ]  # fmt: skip


def test_sql_prints_json_lines(loaded: Lake) -> None:
    output = loaded.etl_ok(
        "sql", "--env", "local", "--format", "json", "SELECT count(*) AS n FROM warehouse.dim_customer WHERE is_current"
    ).stdout
    assert output.strip() == '{"n": 1500}'


def test_day_by_day_runs_equal_the_backfill(tmp_path_factory: pytest.TempPathFactory, loaded: Lake) -> None:
    days = ["1992-01-01", "1992-01-02"]
    daily = Lake(tmp_path_factory.mktemp("daily") / "lake")
    daily.etl_ok("demo-data", "--env", "local", "--scale", "0.01", "--from", days[0], "--to", days[-1])
    for day in days:
        daily.etl_ok("run", "sales_warehouse", "--env", "local", "--run-date", day)
    audit_sql = "SELECT run_date, status, error FROM etl_audit.job_runs ORDER BY started_at"
    daily.prefetch(DIMENSION_SQL, audit_sql)

    # facts and aggregates of those days equal the (fresh) three-month backfill's
    for table in ("warehouse.fact_sales", "warehouse.agg_sales_daily"):
        backfilled = [row for row in loaded.storage(table) if row[-1] <= days[-1]]
        assert daily.storage(table) == backfilled and len(backfilled) > 0
    # the dimension equals the SCD2 history of those days' extracts
    assert dimension_rows(daily) == expected_dimension(daily, days[0], days[-1])
    assert [(a["run_date"], a["status"], a["error"]) for a in daily.sql(audit_sql)] == [(day, "succeeded", "") for day in days]
    # a rerun changes nothing: test_defective_extracts.py (a backfill's last day), test_nightly_e2e.py (a night)
    # a day whose extract has not landed: tests/integration/test_nightly_e2e.py (the pipeline's third night)
