"""Parquet tables registered in the Hive metastore.

- append / overwrite_partitions: Spark's insertInto (dynamic partition overwrite replaces only the
  partitions present in the new data).
- overwrite of an unpartitioned table: the new data goes to a fresh folder and the table's location is
  swapped to it in one metastore call; the old folder is deleted after the whole run has loaded.
- merge: existing rows whose keys are not in the new data (in the partitions the new data touches)
  plus the new rows, then written as above.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from etl import catalog
from etl.config.models import TargetConfig
from etl.context import RunContext
from etl.load.common import conform, ensure_table, partition_overwrite_mode
from etl.zones import join


def write(spark: SparkSession, df: DataFrame, target: TargetConfig, ctx: RunContext) -> list[str]:
    """Load df into the target table; returns folders to delete once every target of the run is loaded."""
    root = catalog.table_location(ctx.zones, target.table)
    fresh_folder = join(root, f"run-{ctx.run_id}")
    ensure_table(spark, df, target, ctx.zones, "parquet", root if target.partition_by else fresh_folder)
    df = conform(spark, df, target.table)

    mode = target.mode
    if mode == "merge":
        df = merged(spark, df, target)
        mode = "overwrite_partitions" if target.partition_by else "overwrite"

    if target.partition_by:
        # One task per partition value: a file per partition instead of one per task and partition.
        df = df.repartition(*target.partition_by)
    if mode == "append":
        df.write.insertInto(target.table)
    elif mode == "overwrite_partitions":
        with partition_overwrite_mode(spark, "dynamic"):
            df.write.insertInto(target.table, overwrite=True)
    elif target.partition_by:  # overwrite of a partitioned table: every partition goes
        with partition_overwrite_mode(spark, "static"):
            df.write.insertInto(target.table, overwrite=True)
    else:
        return swap(spark, df, target.table, fresh_folder)
    return []


def swap(spark: SparkSession, df: DataFrame, table: str, fresh_folder: str) -> list[str]:
    old_folder = catalog.current_location(spark, table)
    df.write.mode("overwrite").parquet(fresh_folder)
    catalog.set_location(spark, table, fresh_folder)
    spark.catalog.refreshTable(table)
    return [old_folder] if old_folder.rstrip("/") != fresh_folder.rstrip("/") else []


def merged(spark: SparkSession, incoming: DataFrame, target: TargetConfig) -> DataFrame:
    """Upsert on merge_keys: within the partitions the new data touches, new rows replace old ones."""
    existing = spark.table(target.table)
    if target.partition_by:
        touched = incoming.select(*target.partition_by).distinct()
        existing = existing.join(touched, on=target.partition_by, how="left_semi")
    untouched = existing.join(incoming.select(*target.merge_keys), on=target.merge_keys, how="left_anti")
    # A join on a column list moves those columns first; insertInto is positional, so restore the order.
    return untouched.unionByName(incoming).select(*incoming.columns)
