"""The session catalog's JVM API (SessionCatalog, CatalogTablePartition, CatalogStorageFormat), for what
Spark SQL cannot do without side effects: its ALTER TABLE statements also recompute every cached
DataFrame that read the table, and spend about 25 metastore requests per partition.

Partition specs cross as Python dicts and partitions as a `Listing` (a java.util.List, the same type on
Scala 2.12 and 2.13); Scala collections are made and read only here, by reflection, so nothing depends
on a Scala binary version. etl/catalog.py decides what to ask; this module only asks.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NewType

from py4j.java_gateway import JavaClass
from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

Spec = Mapping[str, str]  # a partition's spec: column -> value as the metastore holds it
Listing = NewType("Listing", object)  # a java.util.List of CatalogTablePartition, in the metastore's order


def partition_columns(spark: SparkSession, table: str) -> tuple[str, ...]:
    """The table's partition columns, in the metastore's order."""
    metadata = _catalog(spark).getTableMetadata(_identifier(spark, table))
    return tuple(str(c) for c in _java_list(spark, metadata.partitionColumnNames()))


def set_location(spark: SparkSession, table: str, location: str) -> None:
    """Point an unpartitioned table at another folder (one metastore request), and forget its metadata."""
    jvm, catalog, ident = _jvm(spark), _catalog(spark), _identifier(spark, table)
    metadata = catalog.getTableMetadata(ident)
    storage = metadata.storage()
    uri = jvm.org.apache.hadoop.fs.Path(location).toUri()  # as Spark makes a URI of a LOCATION string
    catalog.alterTable(
        metadata.withNewStorage(
            jvm.scala.Some(uri), storage.inputFormat(), storage.outputFormat(), storage.compressed(), storage.serde(), storage.properties()
        )
    )
    forget(spark, table)


def set_column_comments(spark: SparkSession, table: str, comments: Mapping[str, str]) -> None:
    """Set the comments of data columns of a Hive or Spark data source table in one alterTableDataSchema
    (the metastore: a few reads and one alter_table, which changes the Hive columns and Spark's schema
    property together). Not partition columns: no call of Spark's changes those."""
    catalog, ident = _catalog(spark), _identifier(spark, table)
    data = json.loads(catalog.getTableMetadata(ident).dataSchema().json())
    for column in data["fields"]:
        if column["name"] in comments:
            column["metadata"]["comment"] = comments[column["name"]]
    catalog.alterTableDataSchema(ident, _jvm(spark).org.apache.spark.sql.types.DataType.fromJson(json.dumps(data)))


def forget(spark: SparkSession, table: str) -> None:
    """Drop what this session holds of a table's metadata; cached DataFrames that read it stay as they are."""
    _catalog(spark).refreshTable(_identifier(spark, table))


def list_partitions(spark: SparkSession, table: str, specs: Sequence[Spec] | None = None) -> Listing:
    """Every partition of the table (one metastore request), or those matching the given specs (one each)."""
    catalog, ident, jvm = _catalog(spark), _identifier(spark, table), _jvm(spark)
    if specs is None:
        return Listing(_java_list_of(spark, catalog.listPartitions(ident, jvm.scala.Option.empty())))
    empty = jvm.scala.collection.immutable.HashMap()
    found = jvm.java.util.ArrayList()
    for spec in specs:
        found.addAll(_java_list_of(spark, catalog.listPartitions(ident, jvm.scala.Some(_scala_map(empty, spec)))))
    return Listing(found)


def partition_locations(spark: SparkSession, listing: Listing, columns: Sequence[str]) -> list[list[str]]:
    """[value of each column..., location as Hadoop prints it] of each partition of the listing."""
    helper = bulk_helper(spark)
    if helper:
        return list(json.loads(helper.locations(listing, json.dumps(list(columns)))))
    # py4j makes a round trip of every call and of every step of a class's package name: the class once
    hadoop_path = _jvm(spark).org.apache.hadoop.fs.Path
    rows = []
    for partition in listing:  # type: ignore[attr-defined]  # a py4j JavaList
        spec = partition.spec()
        rows.append([str(spec.apply(c)) for c in columns] + [str(hadoop_path(partition.location()).toString())])
    return rows


def create_partitions(spark: SparkSession, table: str, locations: Sequence[tuple[Spec, str]]) -> None:
    """Register new partitions (spec, location) in one metastore request, with the table's storage format,
    as ALTER TABLE .. ADD PARTITION makes them; failing if one exists."""
    catalog, ident, jvm = _catalog(spark), _identifier(spark, table), _jvm(spark)
    table_storage = catalog.getTableMetadata(ident).storage()
    hadoop_path, some = jvm.org.apache.hadoop.fs.Path, jvm.scala.Some
    partition_class = jvm.org.apache.spark.sql.catalyst.catalog.CatalogTablePartition
    input_format, output_format, serde = table_storage.inputFormat(), table_storage.outputFormat(), table_storage.serde()
    compressed, properties = table_storage.compressed(), table_storage.properties()
    empty, no_stats = jvm.scala.collection.immutable.HashMap(), jvm.scala.Option.empty()
    created = []
    for spec, location in locations:
        storage = table_storage.copy(some(hadoop_path(location).toUri()), input_format, output_format, serde, compressed, properties)
        created.append(partition_class(_scala_map(empty, spec), storage, empty, int(time.time() * 1000), -1, no_stats))
    catalog.createPartitions(ident, _scala_seq(spark, created), False)


def drop_partitions(spark: SparkSession, table: str, specs: Sequence[Spec]) -> None:
    """Unregister partitions in one metastore request; missing ones are ignored, their folders stay."""
    empty = _jvm(spark).scala.collection.immutable.HashMap()
    seq = _scala_seq(spark, [_scala_map(empty, spec) for spec in specs])
    _catalog(spark).dropPartitions(_identifier(spark, table), seq, True, False, True)  # ignore if missing, no purge, retain data


def relocator(spark: SparkSession, table: str, listing: Listing) -> Callable[[Sequence[tuple[int, str]]], None]:
    """A function that points partitions of the listing, [(place in the listing, new location), ...], at new
    locations in one alter_partitions request (which the metastore applies in one transaction)."""
    catalog, ident, helper = _catalog(spark), _identifier(spark, table), bulk_helper(spark)
    jvm = _jvm(spark)
    hadoop_path, some = jvm.org.apache.hadoop.fs.Path, jvm.scala.Some

    def relocated(place: int, location: str) -> Any:  # a copy of a Scala case class: every field is passed
        partition = listing[place]  # type: ignore[index]  # a py4j JavaList
        storage = partition.storage()
        uri = hadoop_path(location).toUri()  # as Spark makes a URI of a LOCATION string
        moved = storage.copy(
            some(uri), storage.inputFormat(), storage.outputFormat(), storage.serde(), storage.compressed(), storage.properties()
        )
        return partition.copy(
            partition.spec(), moved, partition.parameters(), partition.createTime(), partition.lastAccessTime(), partition.stats()
        )

    def relocate(moves: Sequence[tuple[int, str]]) -> None:
        if helper:
            copies = _as_scala_seq(spark, helper.relocated(listing, json.dumps([list(move) for move in moves])))
        else:
            copies = _scala_seq(spark, [relocated(place, location) for place, location in moves])
        catalog.alterPartitions(ident, copies)

    return relocate


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


def _jvm(spark: SparkSession) -> Any:
    jvm = spark.sparkContext._jvm
    assert jvm is not None
    return jvm


def _catalog(spark: SparkSession) -> Any:
    return spark._jsparkSession.sessionState().catalog()


def _identifier(spark: SparkSession, table: str) -> Any:
    """database.table, validated by the caller (etl/catalog.py)."""
    database, name = table.split(".")
    jvm = _jvm(spark)
    return jvm.org.apache.spark.sql.catalyst.TableIdentifier(name, jvm.scala.Some(database))


def _scala_map(empty: Any, spec: Spec) -> Any:
    """A Scala immutable Map of the spec, built on `empty` (looked up once: each step of a class name is a round trip)."""
    built = empty
    for column, value in spec.items():
        built = built.updated(column, value)
    return built


def _scala_seq(spark: SparkSession, items: Sequence[Any]) -> Any:
    """A Scala Seq of JVM objects, for the session catalog's methods."""
    java_list = _jvm(spark).java.util.ArrayList()
    for item in items:
        java_list.add(item)
    return _as_scala_seq(spark, java_list)


def _as_scala_seq(spark: SparkSession, java_list: Any) -> Any:
    """A java.util.List as an immutable Scala List: the catalog's Seq is immutable.Seq on Scala 2.13
    (Spark 4.0) and collection.Seq on 2.12, and a List is both."""
    return _jvm(spark).scala.collection.JavaConverters.asScalaBuffer(java_list).toList()


def _java_list_of(spark: SparkSession, seq: Any) -> Any:
    """A Scala Seq as a java.util.List (JavaConverters is in Scala 2.12 and, deprecated, in 2.13)."""
    return _jvm(spark).scala.collection.JavaConverters.seqAsJavaList(seq)


def _java_list(spark: SparkSession, seq: Any) -> list[Any]:
    return list(_java_list_of(spark, seq))
