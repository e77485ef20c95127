"""What each ACID table format needs from the session: its Spark settings and a runtime check.

Both formats take over Spark's session catalog (spark_catalog), so one application hosts either
Delta or Iceberg tables next to plain Parquet (Hive) tables, never both.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from etl import spark_internals
from etl.config.models import EnvConfig, TableFormat
from etl.errors import ConfigError, TableFormatUnavailable

ACID_FORMATS: tuple[TableFormat, ...] = ("delta", "iceberg")

# A class only the format's runtime jar has.
_PROBE = {"delta": "io.delta.tables.DeltaTable", "iceberg": "org.apache.iceberg.spark.SparkSessionCatalog"}

HOW_TO_ENABLE = {
    "delta": "Delta Lake is not on the Spark classpath: on EMR 6.9+ add the classification delta-defaults with "
    "delta.enabled=true (jars in /usr/share/aws/delta/lib/); elsewhere add delta-spark_2.12 and delta-storage 3.3.2 "
    "with --jars, or choose format parquet for the table (tables.default_format)",
    "iceberg": "Apache Iceberg is not on the Spark classpath: on EMR 6.5+ add the classification iceberg-defaults with "
    "iceberg.enabled=true; locally list iceberg-spark-runtime under spark.jars in the env (make setup fetches it), "
    "or choose format parquet for the table",
}


def session_settings(env: EnvConfig, formats: set[TableFormat]) -> dict[str, str]:
    acid = sorted(set(ACID_FORMATS) & formats)
    if len(acid) > 1:
        raise ConfigError(f"conf/env/{env.name}.yaml: one Spark application can host delta or iceberg tables, not both (got {acid})")
    if acid == ["delta"]:
        return {
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        }
    if acid == ["iceberg"]:
        settings = {
            "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
            # Iceberg tables in the same metastore as the Hive tables; other tables pass through.
            "spark.sql.catalog.spark_catalog": "org.apache.iceberg.spark.SparkSessionCatalog",
            "spark.sql.catalog.spark_catalog.type": env.tables.iceberg_catalog,
        }
        if env.metastore.kind == "derby":
            # Embedded Derby has no Hive lock tables, and only one process can open it anyway.
            settings["spark.hadoop.iceberg.engine.hive.lock-enabled"] = "false"
        return settings
    return {}


def runtime_available(spark: SparkSession, table_format: TableFormat) -> bool:
    return spark_internals.class_available(spark, _PROBE[table_format])


def require_runtime(spark: SparkSession, formats: set[TableFormat]) -> None:
    for table_format in sorted(set(ACID_FORMATS) & formats):
        if not runtime_available(spark, table_format):
            raise TableFormatUnavailable(HOW_TO_ENABLE[table_format])
