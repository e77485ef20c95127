"""Metastore operations: databases with explicit locations, tables, locations, partitions.

Names reaching SQL here are validated identifiers (etl.config.models.identifier) and are
back-quoted; locations and partition values are quoted string literals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl.config.models import identifier, table_name
from etl.zones import Zones, join, same_spelling

# How Hive names the partition of a null value, in its partition specs and folder names.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Partitions per metastore statement: Spark sends ADD PARTITION to the metastore in batches of this size
# (spark.sql.addPartitionInBatch.size), so one statement stays one metastore request.
PARTITION_BATCH = 100

PartitionValue = str | int | date | None
# A partition's values in the table's partition column order, as the metastore holds them: strings
# (Spark's cast of the value to string), None for null.
PartitionValues = tuple[str | None, ...]


def quote(name: str) -> str:
    """`db`.`table` for database.table, `column` for a column."""
    return ".".join(f"`{identifier(part)}`" for part in name.split("."))


def literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


QUARANTINE_DATABASE = "quarantine"


def database_location(zones: Zones, database: str) -> str:
    """<curated>/<database>.db; the quarantine tables live in their own zone."""
    if database == QUARANTINE_DATABASE:
        return zones.quarantine
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


def set_location(spark: SparkSession, table: str, location: str) -> None:
    spark.sql(f"ALTER TABLE {quote(table)} SET LOCATION {literal(location)}")


# --- partitions -------------------------------------------------------------------------------------


def partition_spec(columns: Sequence[str], values: Sequence[PartitionValue]) -> str:
    """PARTITION (`c` = <literal>, ...): dates as DATE literals, ints as numbers, strings quoted, None as NULL."""
    if len(columns) != len(values) or not columns:
        raise ValueError(f"a partition spec needs one value per partition column: {list(columns)} vs {list(values)}")
    return "PARTITION (" + ", ".join(f"{quote(c)} = {_partition_literal(v)}" for c, v in zip(columns, values, strict=True)) + ")"


def _partition_literal(value: PartitionValue) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):  # a bool is an int to Python; as a number it would be 1 or 0
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return f"DATE {literal(value.isoformat())}"
    return literal(value)


@dataclass(frozen=True)
class Partitions:
    """A partitioned table's partitions as the metastore lists them, in one metastore request."""

    table: str
    columns: tuple[str, ...]
    locations: dict[PartitionValues, str]  # spelled as Hadoop prints a path, file:/// for local ones
    jvm_partitions: dict[PartitionValues, Any] = field(repr=False)  # the metastore's own objects, to change their location


def partitions(spark: SparkSession, table: str) -> Partitions:
    """Every partition of a table with its location (one metastore request for the whole table).

    py4j makes a round trip of every call and of every step of a class's package name, so the classes
    are looked up once, not once per partition (thousands at SF1).
    """
    session_catalog = spark._jsparkSession.sessionState().catalog()
    ident = _table_identifier(spark, table)
    columns = tuple(str(c) for c in _java_list(spark, session_catalog.getTableMetadata(ident).partitionColumnNames()))
    jvm = _jvm(spark)
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    found: dict[PartitionValues, Any] = {}
    locations: dict[PartitionValues, str] = {}
    for partition in _java_list(spark, session_catalog.listPartitions(ident, jvm.scala.Option.empty())):
        spec = partition.spec()
        values = tuple(_from_spec(str(spec.apply(c))) for c in columns)
        found[values] = partition
        locations[values] = same_spelling(str(hadoop_path(partition.location()).toString()))
    return Partitions(table, columns, locations, found)


def _from_spec(value: str) -> str | None:
    return None if value == NULL_PARTITION else value


def add_partitions(spark: SparkSession, table: str, columns: Sequence[str], locations: Mapping[PartitionValues, str]) -> None:
    """Register new partitions, PARTITION_BATCH per statement (each statement is one metastore request).

    Without IF NOT EXISTS: a partition that appeared since the caller listed them means a concurrent
    writer, and failing loudly beats silently keeping the other writer's data.
    """
    for batch in _batches(list(locations.items())):
        specs = " ".join(f"{partition_spec(columns, values)} LOCATION {literal(location)}" for values, location in batch)
        spark.sql(f"ALTER TABLE {quote(table)} ADD {specs}")


def drop_partitions(spark: SparkSession, table: str, columns: Sequence[str], dropped: Sequence[PartitionValues]) -> None:
    """Unregister partitions, PARTITION_BATCH per statement. The tables are external: their folders stay."""
    for batch in _batches(list(dropped)):
        specs = ", ".join(partition_spec(columns, values) for values in batch)
        spark.sql(f"ALTER TABLE {quote(table)} DROP IF EXISTS {specs}")


def move_partitions(
    spark: SparkSession, current: Partitions, locations: Mapping[PartitionValues, str], progress: Callable[[int], None] = lambda done: None
) -> None:
    """Point existing partitions at new locations, PARTITION_BATCH per metastore request; progress(done) after each.

    Not `ALTER TABLE .. PARTITION .. SET LOCATION`: Spark spends about 25 metastore requests on each of
    those statements, one partition at a time. The session catalog's alterPartitions sends a whole batch
    as one alter_partitions request, which the metastore applies in one transaction: a reader sees every
    partition of a batch either at its old or at its new location.
    """
    jvm = _jvm(spark)
    session_catalog = spark._jsparkSession.sessionState().catalog()
    ident = _table_identifier(spark, current.table)
    relocate = _relocator(spark)
    done = 0
    for batch in _batches(list(locations.items())):
        moved = jvm.java.util.ArrayList()
        for values, location in batch:
            moved.add(relocate(current.jvm_partitions[values], location))
        session_catalog.alterPartitions(ident, jvm.scala.collection.JavaConverters.asScalaBuffer(moved).toSeq())
        done += len(batch)
        progress(done)


def _relocator(spark: SparkSession) -> Callable[[Any, str], Any]:
    """A function copying a metastore partition (a Scala case class: every field is passed) to another
    location; the classes it needs are looked up once."""
    jvm = _jvm(spark)
    hadoop_path, some = jvm.org.apache.hadoop.fs.Path, jvm.scala.Some

    def relocate(partition: Any, location: str) -> Any:
        storage = partition.storage()
        uri = hadoop_path(location).toUri()  # as Spark makes a URI of a LOCATION string
        moved_storage = storage.copy(
            some(uri), storage.inputFormat(), storage.outputFormat(), storage.serde(), storage.compressed(), storage.properties()
        )
        return partition.copy(
            partition.spec(), moved_storage, partition.parameters(), partition.createTime(), partition.lastAccessTime(), partition.stats()
        )

    return relocate


def _batches(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), PARTITION_BATCH):
        yield items[start : start + PARTITION_BATCH]


def _jvm(spark: SparkSession) -> Any:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    return jvm


def _table_identifier(spark: SparkSession, table: str) -> Any:
    database, name = table_name(table).split(".")
    jvm = _jvm(spark)
    return jvm.org.apache.spark.sql.catalyst.TableIdentifier(name, jvm.scala.Some(database))


def _java_list(spark: SparkSession, seq: Any) -> list[Any]:
    return list(_jvm(spark).scala.collection.JavaConverters.seqAsJavaList(seq))
