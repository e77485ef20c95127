"""Delta Lake: everything Delta-specific lives here.

On EMR 7.x Delta comes with the cluster. This machine cannot fetch the Delta jars, so the tests of
this module run only when they are on the classpath, and a missing runtime is a clear error.
The writes are plain Spark SQL (INSERT INTO / INSERT OVERWRITE / MERGE INTO), the statements every
ACID table format shares.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from etl import catalog
from etl.config.models import TargetConfig
from etl.context import RunContext
from etl.errors import TableFormatUnavailable
from etl.load.common import conform, ensure_table, partition_overwrite_mode

SESSION_SETTINGS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

HOW_TO_ENABLE = (
    "Delta Lake is not on the Spark classpath: on EMR 6.9+ add the classification delta-defaults with "
    "delta.enabled=true (jars in /usr/share/aws/delta/lib/); elsewhere add delta-spark_2.12 and delta-storage 3.3.2 "
    "with --jars, or choose format parquet for the table (tables.default_format)"
)


def runtime_available(spark: SparkSession) -> bool:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    try:
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable")
    except Exception:  # py4j wraps the ClassNotFoundException
        return False
    return True


def require_runtime(spark: SparkSession) -> None:
    if not runtime_available(spark):
        raise TableFormatUnavailable(HOW_TO_ENABLE)


def write(spark: SparkSession, df: DataFrame, target: TargetConfig, ctx: RunContext) -> list[str]:
    require_runtime(spark)
    ensure_table(spark, df, target, ctx.zones, "delta", catalog.table_location(ctx.zones, target.table))
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
