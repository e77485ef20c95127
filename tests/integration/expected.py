"""What the sales_warehouse tables must hold, computed with DuckDB straight from the raw extracts
(never with the code under test). Shared by every end-to-end test, whatever the storage or format."""

from __future__ import annotations

from decimal import Decimal

from tests.integration.conftest import Lake, query

# What the loaded tables hold, read back through `etl sql` (Lake.prefetch runs them in one application).
DIMENSION_SQL = "SELECT customer_key, name, nation, region, market_segment, account_balance, valid_from, valid_to, is_current FROM warehouse.dim_customer"
AGGREGATES_SQL = "SELECT order_date, nation, market_segment, orders, lines, net_revenue FROM warehouse.agg_sales_daily ORDER BY ALL"
FACT_KEYS_SQL = "SELECT order_key, line_number, order_date, net_revenue FROM warehouse.fact_sales ORDER BY ALL"
WAREHOUSE_SQL = (DIMENSION_SQL, AGGREGATES_SQL, FACT_KEYS_SQL)


def expected_facts(lake: Lake, first: str, last: str) -> str:
    return f"""
        SELECT l_orderkey AS order_key, l_linenumber AS line_number, o_custkey AS customer_key, l_partkey AS part_key,
               l_suppkey AS supplier_key, o_orderdate AS order_date, l_shipdate AS ship_date, l_quantity AS quantity,
               l_extendedprice AS extended_price, l_discount AS discount, l_tax AS tax,
               l_extendedprice * (1 - l_discount) AS net_revenue
        FROM {lake.raw("lineitem", first, last)} l JOIN {lake.raw("orders", first, last)} o ON l_orderkey = o_orderkey"""


def customer_versions(lake: Lake, first: str, last: str) -> str:
    """Every customer row of the window's extracts with its nation and region names."""
    return f"""
        SELECT c_custkey AS customer_key, c_name AS name, n_name AS nation, r_name AS region, c_mktsegment AS market_segment,
               c_acctbal AS account_balance, dt AS valid_from
        FROM {lake.raw("customer", first, last)} c
        JOIN {lake.static("nation")} n ON c_nationkey = n_nationkey JOIN {lake.static("region")} r ON n_regionkey = r_regionkey"""


def expected_dimension(lake: Lake, first: str, last: str) -> list[tuple]:
    rows = query(f"""
        WITH v AS ({customer_versions(lake, first, last)}),
        marked AS (
            SELECT *, lag(name || '|' || nation || '|' || region || '|' || market_segment || '|' || account_balance)
                      OVER (PARTITION BY customer_key ORDER BY valid_from) AS before,
                      name || '|' || nation || '|' || region || '|' || market_segment || '|' || account_balance AS now
            FROM v)
        SELECT customer_key, name, nation, region, market_segment, account_balance, valid_from,
               coalesce(lead(valid_from) OVER (PARTITION BY customer_key ORDER BY valid_from), DATE '9999-12-31') AS valid_to
        FROM marked WHERE before IS NULL OR before <> now""")
    return sorted((str(k), n, na, r, s, str(b), str(f), str(t), str(str(t) == "9999-12-31").lower()) for k, n, na, r, s, b, f, t in rows)


def dimension_rows(lake: Lake) -> list[tuple]:
    rows = lake.sql(DIMENSION_SQL)
    return sorted(tuple(r.values()) for r in rows)


def expected_aggregates(lake: Lake, first: str, last: str) -> list[tuple]:
    """agg_sales_daily by DuckDB's ASOF join (the latest extract row on or before the order date):
    a different algorithm from the job's SCD2 range join."""
    rows = query(f"""
        WITH f AS ({expected_facts(lake, first, last)}), v AS ({customer_versions(lake, first, last)})
        SELECT f.order_date, v.nation, v.market_segment, count(DISTINCT f.order_key), count(*), sum(f.net_revenue)
        FROM f ASOF LEFT JOIN v ON f.customer_key = v.customer_key AND f.order_date >= v.valid_from
        GROUP BY ALL ORDER BY ALL""")
    return [(str(d), n, s, o, li, rev) for d, n, s, o, li, rev in rows]


def aggregate_rows(lake: Lake) -> list[tuple]:
    rows = lake.sql(AGGREGATES_SQL)
    return [(r["order_date"], r["nation"], r["market_segment"], int(r["orders"]), int(r["lines"]), Decimal(r["net_revenue"])) for r in rows]


def expected_fact_keys(lake: Lake, first: str, last: str) -> list[tuple]:
    """(order_key, line_number, order_date, net_revenue) of every fact, sorted."""
    rows = query(f"SELECT order_key, line_number, order_date, net_revenue FROM ({expected_facts(lake, first, last)}) ORDER BY ALL")
    return [(k, n, str(d), r) for k, n, d, r in rows]


def fact_keys(lake: Lake) -> list[tuple]:
    rows = lake.sql(FACT_KEYS_SQL)
    return [(int(r["order_key"]), int(r["line_number"]), r["order_date"], Decimal(r["net_revenue"])) for r in rows]
