"""Writers per table format; each returns folders to delete once the whole run has loaded."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from etl.config.models import TableFormat, TargetConfig
from etl.context import RunContext
from etl.load import acid, parquet


def write_table(spark: SparkSession, df: DataFrame, target: TargetConfig, table_format: TableFormat, ctx: RunContext) -> list[str]:
    if table_format == "parquet":
        return parquet.write(spark, df, target, ctx)
    return acid.write(spark, df, target, ctx, table_format)
