"""Metastore operations: databases with explicit locations, tables, locations, partitions.

Names reaching SQL here are validated identifiers (etl.config.models.identifier) and are
back-quoted; locations are quoted string literals. Partitions and table locations change through the
session catalog, not SQL, whose statements also recompute every cached DataFrame that read the table.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from py4j.java_gateway import JavaClass
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl.config.models import identifier, table_name
from etl.zones import Zones, join, same_spelling

log = logging.getLogger(__name__)

# How Hive names the partition of a null value, in its partition specs and folder names.
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
# Partitions per metastore request (Spark's own batch for ADD PARTITION, spark.sql.addPartitionInBatch.size).
PARTITION_BATCH = 100

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


def drop_table(spark: SparkSession, table: str) -> None:
    spark.sql(f"DROP TABLE IF EXISTS {quote(table)}")


def current_location(spark: SparkSession, table: str) -> str:
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {quote(table)}").where("col_name = 'Location'").collect()
    return same_spelling(str(rows[0]["data_type"]))


def set_location(spark: SparkSession, table: str, location: str) -> None:
    """Point an unpartitioned table at another folder (one metastore request), and have the next read see it.

    Through the session catalog rather than ALTER TABLE .. SET LOCATION: that statement also has Spark
    compute again every cached DataFrame that read the table, such as a run's outputs built from the
    table as it was (whose old folder stays until the run has loaded every target).
    """
    jvm = _jvm(spark)
    session_catalog = spark._jsparkSession.sessionState().catalog()
    ident = _table_identifier(spark, table)
    metadata = session_catalog.getTableMetadata(ident)
    storage = metadata.storage()
    uri = jvm.org.apache.hadoop.fs.Path(location).toUri()  # as Spark makes a URI of a LOCATION string
    moved = metadata.withNewStorage(
        jvm.scala.Some(uri), storage.inputFormat(), storage.outputFormat(), storage.compressed(), storage.serde(), storage.properties()
    )
    session_catalog.alterTable(moved)
    forget_metadata(spark, table)


def forget_metadata(spark: SparkSession, table: str) -> None:
    """Drop what this session holds of a table's metadata, so that the next read asks the metastore.

    Unlike spark.catalog.refreshTable, cached DataFrames that read the table stay as they are.
    """
    spark._jsparkSession.sessionState().catalog().refreshTable(_table_identifier(spark, table))


# --- partitions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partitions:
    """A partitioned table's partitions as the metastore lists them, in one metastore request."""

    table: str
    columns: tuple[str, ...]
    locations: dict[PartitionValues, str]  # spelled as Hadoop prints a path, file:/// for local ones
    listing: Any = field(repr=False)  # the metastore's own list of them (a Scala Seq), to change their locations
    positions: dict[PartitionValues, int] = field(repr=False)  # each partition's place in the listing


def partitions(spark: SparkSession, table: str, only: Sequence[PartitionValues] | None = None) -> Partitions:
    """A table's partitions with their locations: every one (one metastore request for the whole table),
    or `only` those that exist of the given ones. Up to PARTITION_BATCH of those are asked for one by one,
    so that a nightly run's cost does not grow with the table's history; more, and the table is listed."""
    session_catalog = spark._jsparkSession.sessionState().catalog()
    ident = _table_identifier(spark, table)
    columns = partition_columns(spark, table)
    jvm = _jvm(spark)
    if only is not None and len(only) <= PARTITION_BATCH:
        no_spec = jvm.scala.collection.immutable.HashMap()
        found = [
            p
            for values in only
            for p in _java_list(spark, session_catalog.listPartitions(ident, jvm.scala.Some(_spec(no_spec, columns, values))))
        ]
        listing = _scala_seq(spark, found)
    else:
        listing = session_catalog.listPartitions(ident, jvm.scala.Option.empty())
    helper = bulk_helper(spark)
    rows = json.loads(helper.locations(listing, json.dumps(columns))) if helper else _locations_one_by_one(spark, listing, columns)
    found = [(tuple(_from_spec(value) for value in row[:-1]), same_spelling(row[-1])) for row in rows]
    return Partitions(table, columns, dict(found), listing, {values: place for place, (values, _) in enumerate(found)})


def partition_columns(spark: SparkSession, table: str) -> tuple[str, ...]:
    """The table's partition columns, in the metastore's order."""
    metadata = spark._jsparkSession.sessionState().catalog().getTableMetadata(_table_identifier(spark, table))
    return tuple(str(c) for c in _java_list(spark, metadata.partitionColumnNames()))


def bulk_helper(spark: SparkSession) -> Any | None:
    """etl/jvm/etl/hive/PartitionBatches, which reads and relocates partitions in one JVM call each, when
    its jar (built by `make setup`) is on the driver's classpath; without it, py4j calls per partition."""
    found = _jvm(spark).etl.hive.PartitionBatches
    if isinstance(found, JavaClass):
        return found
    global _warned_no_helper
    if not _warned_no_helper:
        log.warning(
            "etl-catalog.jar is not on the driver's classpath: partitions are read and moved one py4j call at a time "
            "(`make setup` builds it; releases pass it with spark-submit --jars)"
        )
        _warned_no_helper = True
    return None


_warned_no_helper = False


def _locations_one_by_one(spark: SparkSession, listing: Any, columns: tuple[str, ...]) -> list[list[str]]:
    """[value of each column..., location] of each partition, as PartitionBatches.locations gives them.

    py4j makes a round trip of every call and of every step of a class's package name, so the class is
    looked up once, not once per partition.
    """
    hadoop_path = _jvm(spark).org.apache.hadoop.fs.Path
    rows = []
    for partition in _java_list(spark, listing):
        spec = partition.spec()
        rows.append([str(spec.apply(c)) for c in columns] + [str(hadoop_path(partition.location()).toString())])
    return rows


def _from_spec(value: str) -> str | None:
    return None if value == NULL_PARTITION else value


def add_partitions(spark: SparkSession, table: str, columns: Sequence[str], locations: Mapping[PartitionValues, str]) -> None:
    """Register new partitions, PARTITION_BATCH per metastore request.

    Through the session catalog rather than ALTER TABLE .. ADD PARTITION, which also has Spark compute
    again every cached DataFrame that read the table (see set_location). Not ignoring partitions that
    exist: one that appeared since the caller listed them means a concurrent writer, and failing loudly
    beats silently keeping the other writer's data (the lock relies on it too).
    """
    session_catalog = spark._jsparkSession.sessionState().catalog()
    ident = _table_identifier(spark, table)
    new_partition = _partition_maker(spark, session_catalog.getTableMetadata(ident).storage())
    no_spec = _jvm(spark).scala.collection.immutable.HashMap()
    for batch in _batches(list(locations.items())):
        created = [new_partition(_spec(no_spec, columns, values), location) for values, location in batch]
        session_catalog.createPartitions(ident, _scala_seq(spark, created), False)
    forget_metadata(spark, table)


def drop_partitions(spark: SparkSession, table: str, columns: Sequence[str], dropped: Sequence[PartitionValues]) -> None:
    """Unregister partitions, PARTITION_BATCH per metastore request, through the session catalog (as
    add_partitions). Their folders stay: the caller deletes them once nothing reads them."""
    session_catalog = spark._jsparkSession.sessionState().catalog()
    ident = _table_identifier(spark, table)
    no_spec = _jvm(spark).scala.collection.immutable.HashMap()
    for batch in _batches(list(dropped)):
        specs = [_spec(no_spec, columns, values) for values in batch]
        session_catalog.dropPartitions(ident, _scala_seq(spark, specs), True, False, True)  # ignore if missing, no purge, retain data
    forget_metadata(spark, table)


def _spec(empty: Any, columns: Sequence[str], values: PartitionValues) -> Any:
    """A partition's spec as the metastore holds it (a Scala Map of column to string; Hive's name for null),
    built on `empty`, an empty Scala immutable Map (looked up once: each step of a class name is a round trip)."""
    if len(columns) != len(values) or not columns:
        raise ValueError(f"a partition spec needs one value per partition column: {list(columns)} vs {list(values)}")
    spec = empty
    for column, value in zip(columns, values, strict=True):
        spec = spec.updated(identifier(column), NULL_PARTITION if value is None else value)
    return spec


def _partition_maker(spark: SparkSession, table_storage: Any) -> Callable[[Any, str], Any]:
    """A function from (spec, location) to a new partition with the table's storage format at that location,
    as ALTER TABLE .. ADD PARTITION makes one."""
    jvm = _jvm(spark)
    hadoop_path, some, partition_class = (
        jvm.org.apache.hadoop.fs.Path,
        jvm.scala.Some,
        jvm.org.apache.spark.sql.catalyst.catalog.CatalogTablePartition,
    )
    input_format, output_format, serde = table_storage.inputFormat(), table_storage.outputFormat(), table_storage.serde()
    compressed, properties = table_storage.compressed(), table_storage.properties()
    no_parameters, no_stats = jvm.scala.collection.immutable.HashMap(), jvm.scala.Option.empty()

    def make(spec: Any, location: str) -> Any:
        storage = table_storage.copy(some(hadoop_path(location).toUri()), input_format, output_format, serde, compressed, properties)
        return partition_class(spec, storage, no_parameters, int(time.time() * 1000), -1, no_stats)

    return make


def move_partitions(
    spark: SparkSession, current: Partitions, locations: Mapping[PartitionValues, str], progress: Callable[[int], None] = lambda done: None
) -> None:
    """Point existing partitions at new locations, PARTITION_BATCH per metastore request; progress(done) after each.

    Not `ALTER TABLE .. PARTITION .. SET LOCATION`: Spark spends about 25 metastore requests on each of
    those statements, one partition at a time. The session catalog's alterPartitions sends a whole batch
    as one alter_partitions request, which the metastore applies in one transaction: a reader sees every
    partition of a batch either at its old or at its new location.
    """
    session_catalog = spark._jsparkSession.sessionState().catalog()
    ident = _table_identifier(spark, current.table)
    relocated = _relocator(spark, current.listing)
    done = 0
    for batch in _batches(list(locations.items())):
        session_catalog.alterPartitions(ident, relocated([(current.positions[values], location) for values, location in batch]))
        done += len(batch)
        progress(done)


def _relocator(spark: SparkSession, listing: Any) -> Callable[[list[tuple[int, str]]], Any]:
    """A function from [(place in the listing, new location), ...] to copies of those partitions at their
    new locations (a Scala Seq for alterPartitions), in one JVM call when the helper is there."""
    helper = bulk_helper(spark)
    if helper:
        return lambda moves: helper.relocated(listing, json.dumps(moves))
    jvm = _jvm(spark)
    hadoop_path, some = jvm.org.apache.hadoop.fs.Path, jvm.scala.Some
    partitions = _java_list(spark, listing)

    def relocate(place: int, location: str) -> Any:  # a copy of a Scala case class: every field is passed
        partition = partitions[place]
        storage = partition.storage()
        uri = hadoop_path(location).toUri()  # as Spark makes a URI of a LOCATION string
        moved_storage = storage.copy(
            some(uri), storage.inputFormat(), storage.outputFormat(), storage.serde(), storage.compressed(), storage.properties()
        )
        return partition.copy(
            partition.spec(), moved_storage, partition.parameters(), partition.createTime(), partition.lastAccessTime(), partition.stats()
        )

    return lambda moves: _scala_seq(spark, [relocate(place, location) for place, location in moves])


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


def _scala_seq(spark: SparkSession, items: list[Any]) -> Any:
    """A Scala Seq of JVM objects, for the session catalog's methods."""
    jvm = _jvm(spark)
    java_list = jvm.java.util.ArrayList()
    for item in items:
        java_list.add(item)
    return jvm.scala.collection.JavaConverters.asScalaBuffer(java_list).toSeq()


def _java_list(spark: SparkSession, seq: Any) -> list[Any]:
    return list(_jvm(spark).scala.collection.JavaConverters.seqAsJavaList(seq))
