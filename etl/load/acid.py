"""Delta and Iceberg writes, as the Spark SQL both formats share: INSERT INTO, INSERT OVERWRITE
(dynamic: only the partitions present) and MERGE INTO. The path Delta takes on EMR is the very
SQL the Iceberg tests run on this machine. The table format's own commit makes each write atomic."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from etl import catalog
from etl.config.models import TableFormat, TargetConfig
from etl.context import RunContext
from etl.formats import require_runtime
from etl.load.common import conform, ensure_table, partition_overwrite_mode


def write(spark: SparkSession, df: DataFrame, target: TargetConfig, ctx: RunContext, table_format: TableFormat) -> list[str]:
    require_runtime(spark, {table_format})
    ensure_table(spark, df, target, ctx.zones, table_format, catalog.table_location(ctx.zones, target.table))
    df = conform(spark, df, target.table)
    view = f"etl_incoming_{target.table.replace('.', '_')}"
    df.createOrReplaceTempView(view)
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
    return []
