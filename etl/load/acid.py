"""Delta and Iceberg writes, as the Spark SQL both formats share: INSERT INTO, INSERT OVERWRITE
(dynamic: only the partitions present) and MERGE INTO. The path Delta takes on EMR is the very
SQL the Iceberg tests run on this machine. The table format's own commit makes each write atomic.

Staged first, as Parquet files under <curated>/_staging/<job>/run-<run_id>/<table> (the rows that load
under etl_rows=loaded, the quarantined ones under etl_rows=quarantined: one pass over the data), then
published from there by the format's commit (what a killed run staged is deleted when the job's next run
starts): a second write, of columnar files rather than of the
transform's lineage. Neither format can take files written outside its commit into a table (Iceberg's
write-audit-publish stages a snapshot of the table, but then the quarantined rows and the counts need
a pass of their own), so the copy is the price of staging them.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl import catalog
from etl.config.models import TableFormat, TargetConfig
from etl.context import RunContext
from etl.formats import require_runtime
from etl.load.common import FAILED_RULES, LOADED, QUARANTINED, ROUTE, conform, ensure_table, partition_overwrite_mode
from etl.spark_internals import fs
from etl.zones import Zones, join

STAGING = "_staging"


@dataclass(frozen=True)
class Staged:
    target: TargetConfig
    table_format: TableFormat
    folder: str
    created: bool = False  # the table did not exist before this write

    @property
    def run_folder(self) -> str:
        """<curated>/_staging/<job>/run-<run_id>, which holds the run's staging of each of its targets."""
        return self.folder.rstrip("/").rsplit("/", 1)[0]

    @property
    def loaded(self) -> str:
        return join(self.folder, f"{ROUTE}={LOADED}")

    @property
    def quarantined(self) -> str:
        return join(self.folder, f"{ROUTE}={QUARANTINED}")


def write(spark: SparkSession, df: DataFrame, target: TargetConfig, ctx: RunContext, table_format: TableFormat) -> list[str]:
    """Stage and publish at once; returns the staging folders, to delete once the run has loaded."""
    return publish(spark, stage(spark, df, target, ctx, table_format))


def stage(spark: SparkSession, df: DataFrame, target: TargetConfig, ctx: RunContext, table_format: TableFormat) -> Staged:
    require_runtime(spark, {table_format})
    data = df.drop(ROUTE, FAILED_RULES)
    created = ensure_table(spark, data, target, ctx.zones, table_format, catalog.table_location(ctx.zones, target.table))
    conform(spark, data, target.table)  # the check only: the publish reads the staged files by name
    folder = join(staging_area(ctx.zones, ctx.job), f"run-{ctx.run_id}", target.table)
    routed = df if ROUTE in df.columns else df.withColumn(ROUTE, F.lit(LOADED))
    routed.write.partitionBy(ROUTE).parquet(folder)
    return Staged(target, table_format, folder, created)


def staging_area(zones: Zones, job: str) -> str:
    return zones.uri("curated", STAGING, job)


def clear_staging(spark: SparkSession, zones: Zones, job: str) -> None:
    """Delete what earlier runs of the job left in its staging area (a killed run's, a failed publish's):
    at the start of a run, which holds the job's lock, so no other run of the job is staging."""
    fs.delete(spark, staging_area(zones, job))


def publish(spark: SparkSession, staged: Staged) -> list[str]:
    """The format's commit of the staged rows that load; returns the staging folder, to delete once the
    run has loaded."""
    target = staged.target
    if not staged.created:
        catalog.comment_table(spark, target.table, staged.table_format, catalog.Comments.of(target))
    rows = read_staged(spark, staged, LOADED)
    view = f"etl_incoming_{target.table.replace('.', '_')}"
    rows.createOrReplaceTempView(view)
    table = catalog.quote(target.table)
    try:
        if target.mode == "append":
            spark.sql(f"INSERT INTO {table} SELECT * FROM {view}")
        elif target.mode == "merge":
            matches = " AND ".join(f"t.{catalog.quote(k)} = s.{catalog.quote(k)}" for k in target.merge_keys)
            spark.sql(f"MERGE INTO {table} t USING {view} s ON {matches} WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
        else:
            overwrite = "dynamic" if target.mode == "overwrite_partitions" else "static"
            with partition_overwrite_mode(spark, overwrite):
                spark.sql(f"INSERT OVERWRITE TABLE {table} SELECT * FROM {view}")
    finally:
        spark.catalog.dropTempView(view)
    return [staged.folder]


def discard(spark: SparkSession, staged: Staged) -> None:
    """A run that does not publish: its staged rows go, and so does the table if this run created it."""
    fs.delete(spark, staged.folder)
    if not fs.list_folders(spark, staged.run_folder):
        fs.delete(spark, staged.run_folder)
    if staged.created:
        catalog.drop_table(spark, staged.target.table)


def read_staged(spark: SparkSession, staged: Staged, route: str) -> DataFrame:
    """The staged rows of a route: the table's columns and, for quarantined rows, FAILED_RULES."""
    schema = spark.table(staged.target.table).schema
    folder = staged.loaded if route == LOADED else staged.quarantined
    if route == QUARANTINED:
        schema = schema.add(FAILED_RULES, T.ArrayType(T.StringType()))
    if not fs.exists(spark, folder):
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).parquet(folder)
