"""Metastore operations: databases with explicit locations, tables, locations, partitions.

Names reaching SQL here are validated identifiers (etl.config.models.identifier) and are
back-quoted; locations are quoted string literals. Partitions and table locations change through the
session catalog, not SQL, whose statements also recompute every cached DataFrame that read the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl.config.models import TargetConfig, identifier, table_name
from etl.spark_internals import fs, session_catalog
from etl.zones import Zones, join

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


@dataclass(frozen=True)
class Comments:
    """What a table's comment and its columns' comments say (from a target's description and columns)."""

    table: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, target: TargetConfig) -> Comments:
        return cls(target.description, dict(target.columns))


def create_table(
    spark: SparkSession,
    table: str,
    schema: T.StructType,
    partition_by: list[str],
    table_format: str,
    location: str,
    comments: Comments = Comments(),
) -> None:
    """CREATE TABLE IF NOT EXISTS with the partition columns last, as Spark stores them, at a folder made
    first: Spark reads a new table's folder when it creates it, and 4.0 logs a stack trace when it is missing."""
    fs.mkdirs(spark, location)
    data_columns = [field for field in schema.fields if field.name not in partition_by]
    partition_columns = [schema[name] for name in partition_by]

    def column(f: T.StructField) -> str:
        described = comments.columns.get(f.name)
        return f"{quote(f.name)} {f.dataType.simpleString()}" + (f" COMMENT {literal(described)}" if described else "")

    columns = ", ".join(column(f) for f in [*data_columns, *partition_columns])
    partitioned = f" PARTITIONED BY ({', '.join(quote(c) for c in partition_by)})" if partition_by else ""
    comment = f" COMMENT {literal(comments.table)}" if comments.table else ""
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {quote(table)} ({columns}) USING {identifier(table_format)}{partitioned}{comment} "
        f"LOCATION {literal(location)}"
    )


def comment_table(spark: SparkSession, table: str, table_format: str, comments: Comments) -> None:
    """Make an existing table's comments say what `comments` does: one metastore read, and writes only
    where they differ (comments not given stay as they are).

    Parquet (Hive) tables: the data columns' comments in one session-catalog call, which, unlike ALTER
    TABLE .. ALTER COLUMN, leaves cached DataFrames that read the table alone. A partition column's comment
    is kept from the table's creation: neither Spark SQL nor its session catalog changes it. Delta and
    Iceberg tables: their own ALTER TABLE, a commit of the format per column that changes.
    """
    if comments.table is None and not comments.columns:
        return
    current_table, current_columns, partitioned_by = current_comments(spark, table)
    changed = {c: text for c, text in comments.columns.items() if c in current_columns and current_columns[c] != text}
    if table_format == "parquet":
        kept = sorted(set(changed) & set(partitioned_by))
        if kept:
            log.warning(
                "%s: the comment of partition column(s) %s stays as the table was created (Spark cannot change it); "
                "recreate the table to change it",
                table,
                ", ".join(kept),
            )
        changed = {c: text for c, text in changed.items() if c not in partitioned_by}
        if changed:
            session_catalog.set_column_comments(spark, table, changed)
    else:
        for name, text in changed.items():
            spark.sql(f"ALTER TABLE {quote(table)} ALTER COLUMN {quote(name)} COMMENT {literal(text)}")
    if comments.table is not None and comments.table != current_table:
        spark.sql(f"COMMENT ON TABLE {quote(table)} IS {literal(comments.table)}")
    if changed or (comments.table is not None and comments.table != current_table):
        forget_metadata(spark, table)


def current_comments(spark: SparkSession, table: str) -> tuple[str | None, dict[str, str], list[str]]:
    """(the table's comment, each column's comment, its Hive partition columns) as DESCRIBE TABLE EXTENDED
    shows them: one statement, one metastore read, for every format. A column without a comment is missing
    from the dict; the partition columns are a Hive (Parquet) table's, none for Delta and Iceberg."""
    columns: dict[str, str] = {}
    partitioned_by: list[str] = []
    comment = None
    section = "columns"
    for row in spark.sql(f"DESCRIBE TABLE EXTENDED {quote(table)}").collect():
        name = str(row["col_name"] or "")
        if not name or name.startswith("#"):
            section = "partitions" if name in ("# Partition Information", "# col_name") and section != "details" else "details"
            continue
        if section == "columns" and row["comment"]:
            columns[name] = str(row["comment"])
        elif section == "partitions":
            partitioned_by.append(name)
        elif name == "Comment":
            comment = str(row["data_type"])
    return comment, columns, partitioned_by


def drop_table(spark: SparkSession, table: str) -> None:
    spark.sql(f"DROP TABLE IF EXISTS {quote(table)}")


def current_location(spark: SparkSession, table: str) -> str:
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {quote(table)}").where("col_name = 'Location'").collect()
    return fs.same_spelling(str(rows[0]["data_type"]))


def set_location(spark: SparkSession, table: str, location: str) -> None:
    """Point an unpartitioned table at another folder (one metastore request), and have the next read see it.

    Through the session catalog rather than ALTER TABLE .. SET LOCATION: that statement also has Spark
    compute again every cached DataFrame that read the table, such as a run's outputs built from the
    table as it was (whose old folder stays until the run has loaded every target).
    """
    session_catalog.set_location(spark, table, location)


def forget_metadata(spark: SparkSession, table: str) -> None:
    """Drop what this session holds of a table's metadata, so that the next read asks the metastore.

    Unlike spark.catalog.refreshTable, cached DataFrames that read the table stay as they are.
    """
    session_catalog.forget(spark, table)


# --- partitions -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Partitions:
    """A partitioned table's partitions as the metastore lists them, in one metastore request."""

    table: str
    columns: tuple[str, ...]
    locations: dict[PartitionValues, str]  # spelled as Hadoop prints a path, file:/// for local ones
    listing: session_catalog.Listing = field(repr=False)  # the metastore's own list of them, to change their locations
    positions: dict[PartitionValues, int] = field(repr=False)  # each partition's place in the listing


def partitions(spark: SparkSession, table: str, only: Sequence[PartitionValues] | None = None) -> Partitions:
    """A table's partitions with their locations: every one (one metastore request for the whole table),
    or `only` those that exist of the given ones. Up to PARTITION_BATCH of those are asked for one by one,
    so that a nightly run's cost does not grow with the table's history; more, and the table is listed."""
    columns = partition_columns(spark, table)
    asked = [_spec(columns, values) for values in only] if only is not None and len(only) <= PARTITION_BATCH else None
    listing = session_catalog.list_partitions(spark, table, asked)
    rows = session_catalog.partition_locations(spark, listing, columns)
    found = [(tuple(_from_spec(value) for value in row[:-1]), fs.same_spelling(row[-1])) for row in rows]
    return Partitions(table, columns, dict(found), listing, {values: place for place, (values, _) in enumerate(found)})


def partition_columns(spark: SparkSession, table: str) -> tuple[str, ...]:
    """The table's partition columns, in the metastore's order."""
    return session_catalog.partition_columns(spark, table)


def _from_spec(value: str) -> str | None:
    return None if value == NULL_PARTITION else value


def add_partitions(spark: SparkSession, table: str, columns: Sequence[str], locations: Mapping[PartitionValues, str]) -> None:
    """Register new partitions, PARTITION_BATCH per metastore request.

    Through the session catalog rather than ALTER TABLE .. ADD PARTITION, which also has Spark compute
    again every cached DataFrame that read the table (see set_location). Not ignoring partitions that
    exist: one that appeared since the caller listed them means a concurrent writer, and failing loudly
    beats silently keeping the other writer's data (the lock relies on it too).
    """
    for batch in _batches(list(locations.items())):
        session_catalog.create_partitions(spark, table, [(_spec(columns, values), location) for values, location in batch])
    forget_metadata(spark, table)


def drop_partitions(spark: SparkSession, table: str, columns: Sequence[str], dropped: Sequence[PartitionValues]) -> None:
    """Unregister partitions, PARTITION_BATCH per metastore request, through the session catalog (as
    add_partitions). Their folders stay: the caller deletes them once nothing reads them."""
    for batch in _batches(list(dropped)):
        session_catalog.drop_partitions(spark, table, [_spec(columns, values) for values in batch])
    forget_metadata(spark, table)


def _spec(columns: Sequence[str], values: PartitionValues) -> dict[str, str]:
    """A partition's spec as the metastore holds it: column to string, Hive's name for null."""
    if len(columns) != len(values) or not columns:
        raise ValueError(f"a partition spec needs one value per partition column: {list(columns)} vs {list(values)}")
    return {identifier(column): NULL_PARTITION if value is None else value for column, value in zip(columns, values, strict=True)}


def move_partitions(
    spark: SparkSession, current: Partitions, locations: Mapping[PartitionValues, str], progress: Callable[[int], None] = lambda done: None
) -> None:
    """Point existing partitions at new locations, PARTITION_BATCH per metastore request; progress(done) after each.

    Not `ALTER TABLE .. PARTITION .. SET LOCATION`: Spark spends about 25 metastore requests on each of
    those statements, one partition at a time. The session catalog's alterPartitions sends a whole batch
    as one alter_partitions request, which the metastore applies in one transaction: a reader sees every
    partition of a batch either at its old or at its new location.
    """
    relocate = session_catalog.relocator(spark, current.table, current.listing)
    done = 0
    for batch in _batches(list(locations.items())):
        relocate([(current.positions[values], location) for values, location in batch])
        done += len(batch)
        progress(done)


def _batches(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), PARTITION_BATCH):
        yield items[start : start + PARTITION_BATCH]
