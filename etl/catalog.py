"""Metastore operations: databases with explicit locations, tables, locations.

Names reaching SQL here are validated identifiers (etl.config.models.identifier) and are
back-quoted; locations are quoted string literals.
"""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl.config.models import identifier, table_name
from etl.zones import Zones, join


def quote(name: str) -> str:
    """`db`.`table` for database.table, `column` for a column."""
    return ".".join(f"`{identifier(part)}`" for part in name.split("."))


def literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def database_location(zones: Zones, database: str) -> str:
    return zones.uri("curated", f"{identifier(database)}.db")


def table_location(zones: Zones, table: str) -> str:
    database, name = table_name(table).split(".")
    return join(database_location(zones, database), name)


def ensure_database(spark: SparkSession, zones: Zones, database: str) -> None:
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote(database)} LOCATION {literal(database_location(zones, database))}")


def table_exists(spark: SparkSession, table: str) -> bool:
    return bool(spark.catalog.tableExists(table_name(table)))


def create_table(spark: SparkSession, table: str, schema: T.StructType, partition_by: list[str], table_format: str, location: str) -> None:
    """CREATE TABLE IF NOT EXISTS with the partition columns last, as Spark stores them."""
    data_columns = [field for field in schema.fields if field.name not in partition_by]
    partition_columns = [schema[name] for name in partition_by]
    columns = ", ".join(f"{quote(f.name)} {f.dataType.simpleString()}" for f in [*data_columns, *partition_columns])
    partitioned = f" PARTITIONED BY ({', '.join(quote(c) for c in partition_by)})" if partition_by else ""
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {quote(table)} ({columns}) USING {identifier(table_format)}{partitioned} LOCATION {literal(location)}"
    )


def current_location(spark: SparkSession, table: str) -> str:
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {quote(table)}").where("col_name = 'Location'").collect()
    return same_spelling(str(rows[0]["data_type"]))


def same_spelling(uri: str) -> str:
    """Spark reports file:/x for file:///x; the project spells local URIs file:///x everywhere."""
    if uri.startswith("file:/") and not uri.startswith("file://"):
        return "file://" + uri.removeprefix("file:")
    return uri


def set_location(spark: SparkSession, table: str, location: str) -> None:
    spark.sql(f"ALTER TABLE {quote(table)} SET LOCATION {literal(location)}")
