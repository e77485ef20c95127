"""The sales_warehouse transforms on tiny inline data; expected values worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl.context import DateWindow
from etl.schema import struct
from etl.transform.rules import QUARANTINED_BY
from etl.transform.scd2 import OPEN_END
from jobs.sales_warehouse import agg_sales_daily, customer_versions, dim_customer, fact_sales

# The job's transforms give the same values with ANSI SQL off and on (the ansi fixture, tests/conftest.py).
pytestmark = pytest.mark.usefixtures("ansi")

D = Decimal
J1, J2, J3 = date(1992, 1, 1), date(1992, 1, 2), date(1992, 1, 3)

ORDERS = struct({"o_orderkey": "bigint", "o_custkey": "bigint", "o_orderdate": "date"})
LINES = struct(
    {
        "l_orderkey": "bigint",
        "l_linenumber": "int",
        "l_partkey": "bigint",
        "l_suppkey": "bigint",
        "l_shipdate": "date",
        "l_quantity": "decimal(15,2)",
        "l_extendedprice": "decimal(15,2)",
        "l_discount": "decimal(15,2)",
        "l_tax": "decimal(15,2)",
    }
)
FACT = struct(
    {
        "order_key": "bigint",
        "line_number": "int",
        "customer_key": "bigint",
        "part_key": "bigint",
        "supplier_key": "bigint",
        "order_date": "date",
        "ship_date": "date",
        "quantity": "decimal(15,2)",
        "extended_price": "decimal(15,2)",
        "discount": "decimal(15,2)",
        "tax": "decimal(15,2)",
        "net_revenue": "decimal(18,4)",
    }
)
CUSTOMERS = struct(
    {
        "c_custkey": "bigint",
        "c_name": "string",
        "c_nationkey": "bigint",
        "c_acctbal": "decimal(15,2)",
        "c_mktsegment": "string",
        "dt": "date",
    }
)
VERSION = struct(
    {
        "customer_key": "bigint",
        "name": "string",
        "nation": "string",
        "region": "string",
        "market_segment": "string",
        "account_balance": "decimal(15,2)",
        "valid_from": "date",
    }
)
DIM = struct({**{f.name: f.dataType.simpleString() for f in VERSION.fields}, "valid_to": "date", "is_current": "boolean"})


def test_fact_sales_joins_order_and_computes_exact_net_revenue(spark: SparkSession) -> None:
    orders = spark.createDataFrame([(1, 10, J1), (2, 20, J2)], ORDERS)
    lines = spark.createDataFrame(
        [
            (1, 1, 100, 7, J2, D("17.00"), D("24710.35"), D("0.04"), D("0.02")),
            (1, 2, 101, 8, J3, D("36.00"), D("56688.12"), D("0.09"), D("0.06")),
            (2, 1, 102, 9, J3, D("1.00"), D("0.01"), D("0.10"), D("0.00")),
            (3, 1, 103, 9, J3, D("2.00"), D("10.00"), D("0.00"), D("0.00")),  # its order is missing
        ],
        LINES,
    )
    expected = spark.createDataFrame(
        [
            # 24710.35 * 0.96 = 23721.9360; 56688.12 * 0.91 = 51586.1892; 0.01 * 0.90 = 0.0090
            (1, 1, 10, 100, 7, J1, J2, D("17.00"), D("24710.35"), D("0.04"), D("0.02"), D("23721.9360")),
            (1, 2, 10, 101, 8, J1, J3, D("36.00"), D("56688.12"), D("0.09"), D("0.06"), D("51586.1892")),
            (2, 1, 20, 102, 9, J2, J3, D("1.00"), D("0.01"), D("0.10"), D("0.00"), D("0.0090")),
            (3, 1, None, 103, 9, None, J3, D("2.00"), D("10.00"), D("0.00"), D("0.00"), D("10.0000")),
        ],
        FACT,
    )
    facts = fact_sales(orders, lines)
    assert_df_equality(facts.drop(QUARANTINED_BY), expected, ignore_row_order=True, ignore_nullable=True)
    assert facts.where(F.size(QUARANTINED_BY) > 0).count() == 0


def test_a_net_revenue_beyond_the_column_quarantines_its_line(spark: SparkSession) -> None:
    orders = spark.createDataFrame([(1, 10, J1)], ORDERS)
    lines = spark.createDataFrame(
        [
            # 9999999999999.99 * (1 - -9.00) = 99999999999999.9000 fits decimal(18,4); * (1 - -10.00) does not
            (1, 1, 100, 7, J2, D("1.00"), D("9999999999999.99"), D("-9.00"), D("0.00")),
            (1, 2, 100, 7, J2, D("1.00"), D("9999999999999.99"), D("-10.00"), D("0.00")),
            (1, 3, 100, 7, J2, D("1.00"), D("-9999999999999.99"), D("-10.00"), D("0.00")),
        ],
        LINES,
    )
    found = {r.line_number: (r.net_revenue, r[QUARANTINED_BY]) for r in fact_sales(orders, lines).collect()}
    assert found == {
        1: (D("99999999999999.9000"), []),
        2: (None, ["net_revenue_out_of_range"]),
        3: (None, ["net_revenue_out_of_range"]),
    }


def _geography(spark: SparkSession):  # type: ignore[no-untyped-def]
    nations = spark.createDataFrame([(0, "ALGERIA", 0), (7, "GERMANY", 3)], "n_nationkey bigint, n_name string, n_regionkey bigint")
    regions = spark.createDataFrame([(0, "AFRICA"), (3, "EUROPE")], "r_regionkey bigint, r_name string")
    return nations, regions


def test_customer_versions_resolve_nation_and_region(spark: SparkSession) -> None:
    nations, regions = _geography(spark)
    customers = spark.createDataFrame(
        [(5, "Customer#5", 7, D("10.50"), "BUILDING", J2), (6, "Customer#6", 99, D("1.00"), "AUTOMOBILE", J2)], CUSTOMERS
    )
    expected = spark.createDataFrame(
        [(5, "Customer#5", "GERMANY", "EUROPE", "BUILDING", D("10.50"), J2), (6, "Customer#6", None, None, "AUTOMOBILE", D("1.00"), J2)],
        VERSION,
    )
    assert_df_equality(customer_versions(customers, nations, regions), expected, ignore_row_order=True, ignore_nullable=True)


def test_dim_customer_rerun_of_a_window_replaces_its_versions_only(spark: SparkSession) -> None:
    loaded = spark.createDataFrame(
        [
            (5, "C5", "GERMANY", "EUROPE", "BUILDING", D("1.00"), J1, J2, False),
            (5, "C5", "GERMANY", "EUROPE", "MACHINERY", D("1.00"), J2, J3, False),  # J2's version, about to be corrected
            (5, "C5", "ALGERIA", "AFRICA", "MACHINERY", D("1.00"), J3, OPEN_END, True),
        ],
        DIM,
    )
    corrected_j2 = spark.createDataFrame([(5, "C5", "GERMANY", "EUROPE", "BUILDING", D("1.00"), J2)], VERSION)
    expected = spark.createDataFrame(
        [
            (5, "C5", "GERMANY", "EUROPE", "BUILDING", D("1.00"), J1, J3, False),  # J2 now equals J1: no version
            (5, "C5", "ALGERIA", "AFRICA", "MACHINERY", D("1.00"), J3, OPEN_END, True),
        ],
        DIM,
    )
    result = dim_customer(loaded, corrected_j2, DateWindow.day(J2))
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


def test_agg_uses_the_customer_version_valid_on_the_order_date(spark: SparkSession) -> None:
    facts = spark.createDataFrame(
        [
            (1, 1, 5, J1, D("10.0000")),
            (1, 2, 5, J1, D("5.5000")),
            (2, 1, 5, J2, D("1.2500")),  # customer 5 moved to ALGERIA on J2
            (3, 1, 6, J2, D("2.0000")),  # customer 6 has no version: nation stays null for the suite to catch
        ],
        "order_key bigint, line_number int, customer_key bigint, order_date date, net_revenue decimal(18,4)",
    )
    customers = spark.createDataFrame(
        [
            (5, "C5", "GERMANY", "EUROPE", "BUILDING", D("1.00"), J1, J2, False),
            (5, "C5", "ALGERIA", "AFRICA", "BUILDING", D("1.00"), J2, OPEN_END, True),
        ],
        DIM,
    )
    expected = spark.createDataFrame(
        [
            (J1, "GERMANY", "BUILDING", 1, 2, D("15.5000")),
            (J2, "ALGERIA", "BUILDING", 1, 1, D("1.2500")),
            (J2, None, None, 1, 1, D("2.0000")),
        ],
        "order_date date, nation string, market_segment string, orders bigint, lines bigint, net_revenue decimal(28,4)",
    )
    assert_df_equality(agg_sales_daily(facts, customers), expected, ignore_row_order=True, ignore_nullable=True)
