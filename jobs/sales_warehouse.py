"""Nightly load of the retail sales warehouse from the OLTP system's daily TPC-H extracts.

fact_sales       one row per order line, partitioned by order_date
dim_customer     SCD type 2 over the daily customer changes
agg_sales_daily  per order_date, nation and market segment (the customer as of the order date)
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.context import DateWindow, RunContext
from etl.job import Job
from etl.transform.rules import quarantine_where
from etl.transform.scd2 import outside, scd2_history

MONEY = "decimal(18,4)"
MONEY_LIMIT = 10**14  # what decimal(18,4) holds: |value| < 10^(18-4)
CUSTOMER_ATTRIBUTES = ["name", "nation", "region", "market_segment", "account_balance"]


def fact_sales(orders: DataFrame, lineitem: DataFrame) -> DataFrame:
    """Order lines with their order's date and customer; net_revenue = extended_price * (1 - discount), exact.

    A left join: a line whose order is missing keeps a null order_date, which the suite rejects. A line
    whose net revenue does not fit the column (a discount far below 0) is quarantined by the rule
    net_revenue_out_of_range: never a null (ANSI SQL off) or an overflow error (on).
    """
    order_keys = orders.select(
        F.col("o_orderkey").alias("order_key"),
        F.col("o_custkey").alias("customer_key"),
        F.col("o_orderdate").alias("order_date"),
    )
    lines = lineitem.select(
        F.col("l_orderkey").alias("order_key"),
        F.col("l_linenumber").alias("line_number"),
        F.col("l_partkey").alias("part_key"),
        F.col("l_suppkey").alias("supplier_key"),
        F.col("l_shipdate").alias("ship_date"),
        F.col("l_quantity").alias("quantity"),
        F.col("l_extendedprice").alias("extended_price"),
        F.col("l_discount").alias("discount"),
        F.col("l_tax").alias("tax"),
    )
    facts = lines.join(order_keys, "order_key", "left").select(
        "order_key",
        "line_number",
        "customer_key",
        "part_key",
        "supplier_key",
        "order_date",
        "ship_date",
        "quantity",
        "extended_price",
        "discount",
        "tax",
        F.when(_fits(_net_revenue()), _net_revenue().cast(MONEY)).alias("net_revenue"),
    )
    return quarantine_where(facts, "net_revenue_out_of_range", ~_fits(_net_revenue()))


def _net_revenue() -> Column:
    return F.col("extended_price") * (F.lit(1) - F.col("discount"))  # decimal(32,4): exact


def _fits(money: Column) -> Column:
    return F.abs(money) < F.lit(MONEY_LIMIT)


def customer_versions(customers: DataFrame, nations: DataFrame, regions: DataFrame) -> DataFrame:
    """Each customer row of a daily extract (full image) as a dimension version valid from that day."""
    geography = nations.join(regions, nations.n_regionkey == regions.r_regionkey).select(
        F.col("n_nationkey"), F.col("n_name").alias("nation"), F.col("r_name").alias("region")
    )
    return customers.join(geography, customers.c_nationkey == geography.n_nationkey, "left").select(
        F.col("c_custkey").alias("customer_key"),
        F.col("c_name").alias("name"),
        "nation",
        "region",
        F.col("c_mktsegment").alias("market_segment"),
        F.col("c_acctbal").alias("account_balance"),
        F.col("dt").alias("valid_from"),
    )


def dim_customer(current: DataFrame, versions: DataFrame, window: DateWindow) -> DataFrame:
    """The table's versions from outside the window plus the window's versions, rebuilt as SCD2."""
    kept = current.where(outside(window.first, window.last)).select("customer_key", *CUSTOMER_ATTRIBUTES, "valid_from")
    return scd2_history(kept.unionByName(versions), ["customer_key"], CUSTOMER_ATTRIBUTES)


def agg_sales_daily(facts: DataFrame, customers: DataFrame) -> DataFrame:
    """Per order_date, nation and segment of the customer version valid on the order date."""
    version = customers.select("customer_key", "nation", "market_segment", "valid_from", "valid_to")
    valid_on_order_date = (facts.customer_key == version.customer_key) & facts.order_date.between(
        version.valid_from, F.date_sub(version.valid_to, 1)
    )
    return (
        facts.join(version, valid_on_order_date, "left")
        .groupBy("order_date", "nation", "market_segment")
        .agg(
            F.countDistinct("order_key").alias("orders"),
            F.count(F.lit(1)).alias("lines"),
            F.sum("net_revenue").alias("net_revenue"),
        )
    )


class SalesWarehouse(Job):
    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        facts = fact_sales(sources["orders"], sources["lineitem"])
        versions = customer_versions(sources["customer"], sources["nation"], sources["region"])
        customers = dim_customer(sources["dim_customer"], versions, ctx.window)
        return {"fact_sales": facts, "dim_customer": customers}

    def derive(self, ctx: RunContext, loaded: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"agg_sales_daily": agg_sales_daily(loaded["fact_sales"], loaded["dim_customer"])}
