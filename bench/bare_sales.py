"""sales_warehouse's load written by hand in plain PySpark: the yardstick `make bench` measures the product against.

Only the essential work for the same three tables from the same raw landing files: read the daily CSV
extracts with explicit schemas, join lines to orders, compute net_revenue, write fact_sales as Parquet
partitioned by order_date, agg_sales_daily (the customer's nation and segment as of the order date) and
dim_customer as of the last day. No validation, no quarantine, no metastore, no audit, no locks. Days
outside --from/--to stay as they are (dynamic partition overwrite), so a one-day call is the script's
nightly run on a loaded warehouse.

It gets the Spark settings of the product's local env (local[*], 4g driver, 8 shuffle partitions, AQE,
UTC) and, given --local-fs-jar, the same file system for file:// (etl/jvm/: no chmod process per file
written), so that the benchmark compares the work done, not the configuration.

    python bench/bare_sales.py --raw lake/raw --out /tmp/bare --from 1992-01-01 --to 1998-12-31
"""

from __future__ import annotations

import argparse

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

ORDERS = (
    "o_orderkey bigint, o_custkey bigint, o_orderstatus string, o_totalprice decimal(15,2), o_orderdate date, "
    "o_orderpriority string, o_clerk string, o_shippriority int, o_comment string"
)
LINEITEM = (
    "l_orderkey bigint, l_partkey bigint, l_suppkey bigint, l_linenumber int, l_quantity decimal(15,2), "
    "l_extendedprice decimal(15,2), l_discount decimal(15,2), l_tax decimal(15,2), l_returnflag string, l_linestatus string, "
    "l_shipdate date, l_commitdate date, l_receiptdate date, l_shipinstruct string, l_shipmode string, l_comment string"
)
CUSTOMER = (
    "c_custkey bigint, c_name string, c_address string, c_nationkey bigint, c_phone string, c_acctbal decimal(15,2), "
    "c_mktsegment string, c_comment string"
)
NATION = "n_nationkey bigint, n_name string, n_regionkey bigint, n_comment string"
REGION = "r_regionkey bigint, r_name string, r_comment string"


def daily(spark: SparkSession, folder: str, schema: str, first: str, last: str) -> DataFrame:
    frame = spark.read.schema(schema).option("header", "true").csv(folder)  # dt=YYYY-MM-DD folders: a partition column
    return frame.where(F.col("dt").between(F.lit(first).cast("date"), F.lit(last).cast("date")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", required=True, help="the raw zone (holding tpch/)")
    parser.add_argument("--out", required=True, help="folder for the three tables' Parquet")
    parser.add_argument("--from", dest="first", required=True)
    parser.add_argument("--to", dest="last", required=True)
    parser.add_argument("--local-fs-jar", help="the product's file:// file system (.cache/jars/etl-local-fs.jar)")
    args = parser.parse_args()

    builder = SparkSession.builder
    if args.local_fs_jar:
        builder = builder.config("spark.driver.extraClassPath", args.local_fs_jar)
        builder = builder.config("spark.hadoop.fs.file.impl", "etl.hadoop.NioLocalFileSystem")
    spark = (
        builder.master("local[*]")
        .appName("bare-sales")
        .config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
        .getOrCreate()
    )
    tpch = f"{args.raw}/tpch"
    orders = daily(spark, f"{tpch}/orders", ORDERS, args.first, args.last)
    lines = daily(spark, f"{tpch}/lineitem", LINEITEM, args.first, args.last)
    customers = daily(spark, f"{tpch}/customer", CUSTOMER, "0001-01-01", args.last)
    nations = spark.read.schema(NATION).option("header", "true").csv(f"{tpch}/nation")
    regions = spark.read.schema(REGION).option("header", "true").csv(f"{tpch}/region")

    facts = lines.join(orders, F.col("l_orderkey") == F.col("o_orderkey"), "left").select(
        F.col("l_orderkey").alias("order_key"),
        F.col("l_linenumber").alias("line_number"),
        F.col("o_custkey").alias("customer_key"),
        F.col("l_partkey").alias("part_key"),
        F.col("l_suppkey").alias("supplier_key"),
        F.col("o_orderdate").alias("order_date"),
        F.col("l_shipdate").alias("ship_date"),
        F.col("l_quantity").alias("quantity"),
        F.col("l_extendedprice").alias("extended_price"),
        F.col("l_discount").alias("discount"),
        F.col("l_tax").alias("tax"),
        (F.col("l_extendedprice") * (F.lit(1) - F.col("l_discount"))).cast("decimal(18,4)").alias("net_revenue"),
    )
    facts.repartition("order_date").write.mode("overwrite").partitionBy("order_date").parquet(f"{args.out}/fact_sales")

    # every extract row is the customer's version from that day until the next one
    geography = nations.join(regions, F.col("n_regionkey") == F.col("r_regionkey")).select(
        "n_nationkey", F.col("n_name").alias("nation"), F.col("r_name").alias("region")
    )
    versions = customers.join(geography, F.col("c_nationkey") == F.col("n_nationkey"), "left").select(
        F.col("c_custkey").alias("customer_key"),
        F.col("c_name").alias("name"),
        "nation",
        "region",
        F.col("c_mktsegment").alias("market_segment"),
        F.col("c_acctbal").alias("account_balance"),
        F.col("dt").alias("valid_from"),
        F.lead("dt").over(Window.partitionBy("c_custkey").orderBy("dt")).alias("valid_to"),
    )
    versions.where(F.col("valid_to").isNull()).drop("valid_to").write.mode("overwrite").parquet(f"{args.out}/dim_customer")

    stored = spark.read.parquet(f"{args.out}/fact_sales").where(F.col("order_date").between(F.lit(args.first), F.lit(args.last)))
    as_of_order_date = (stored.customer_key == versions.customer_key) & (stored.order_date >= versions.valid_from)
    as_of_order_date &= versions.valid_to.isNull() | (stored.order_date < versions.valid_to)
    daily_sales = (
        stored.join(versions, as_of_order_date, "left")
        .groupBy("order_date", "nation", "market_segment")
        .agg(F.countDistinct("order_key").alias("orders"), F.count(F.lit(1)).alias("lines"), F.sum("net_revenue").alias("net_revenue"))
    )
    daily_sales.repartition("order_date").write.mode("overwrite").partitionBy("order_date").parquet(f"{args.out}/agg_sales_daily")
    spark.stop()


if __name__ == "__main__":
    main()
