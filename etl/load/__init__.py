"""Writers per table format: stage a target's rows where no reader looks, then publish them (or discard
them) as one step per table: the metastore switch for Parquet, the format's commit for Delta and Iceberg."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from etl.config.models import TableFormat, TargetConfig
from etl.context import RunContext
from etl.load import acid, parquet

Staged = parquet.Staged | acid.Staged


def stage(spark: SparkSession, df: DataFrame, target: TargetConfig, table_format: TableFormat, ctx: RunContext) -> Staged:
    if table_format == "parquet":
        return parquet.stage(spark, df, target, ctx)
    return acid.stage(spark, df, target, ctx, table_format)


def publish(spark: SparkSession, staged: Staged) -> list[str]:
    """Returns folders to delete once the whole run has loaded."""
    return parquet.publish(spark, staged) if isinstance(staged, parquet.Staged) else acid.publish(spark, staged)


def discard(spark: SparkSession, staged: Staged) -> None:
    if isinstance(staged, parquet.Staged):
        parquet.discard(spark, staged)
    else:
        acid.discard(spark, staged)


def read_staged(spark: SparkSession, staged: Staged, route: str) -> DataFrame:
    """The rows the run stages for a route (LOADED: what it loads into the table; QUARANTINED, with the
    rules each failed), read back from the staged files."""
    if isinstance(staged, parquet.Staged):
        return parquet.read_staged(spark, staged, route)
    return acid.read_staged(spark, staged, route)


def release(staged: Staged) -> None:
    """Drop what staging kept in memory (the new rows of an append or a merge)."""
    if isinstance(staged, parquet.Staged) and staged.incoming is not None:
        staged.incoming.unpersist()


def write_table(spark: SparkSession, df: DataFrame, target: TargetConfig, table_format: TableFormat, ctx: RunContext) -> list[str]:
    """Stage and publish at once (a stream's micro-batch); returns folders to delete once it has loaded."""
    staged = stage(spark, df, target, table_format, ctx)
    try:
        return publish(spark, staged)
    finally:
        release(staged)
