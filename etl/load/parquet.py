"""Parquet tables registered in the Hive metastore, loaded so that a reader never sees a partition half
written, even when the run is killed in the middle of its write.

Every write of a table is staged in a fresh folder, <table>/run-<run_id>, that no reader knows of: the
rows that load under etl_rows=loaded/, the run's quarantined rows beside them under etl_rows=quarantined/
(one pass over the data writes both). Only a run that passes its checks publishes: it switches the
loaded rows in through the metastore:

- unpartitioned: the table's LOCATION is a run's <table>/run-<run_id>/etl_rows=loaded; publishing swaps it
  in one metastore call.
- partitioned: the table's LOCATION is <table> and holds no data itself; each partition's LOCATION is a
  folder of the run that last wrote it, <table>/run-<run_id>/etl_rows=loaded/<col>=<value>[/...], as
  Spark's partitionBy writes it. Tools that find partitions by listing folders (MSCK REPAIR TABLE, Glue
  crawlers, Athena's partition projection) cannot follow this layout: the metastore is the table. Spark, Hive and Trino read a registered partition from its LOCATION only, never by listing
  the table's folder. A write registers its new partitions and points the existing partitions it replaces
  at their new folders (a hundred per metastore request, which the metastore applies in one
  transaction): each partition switches whole from its old data to its new.

Modes:
- overwrite_partitions: the partitions present in the new data are replaced, the others stay.
- overwrite: the whole table; when partitioned, the partitions absent from the new data are dropped.
- append: copy-on-write. Each existing partition the new rows fall into is rewritten whole (its rows plus
  the new ones) into the run folder, then switched like an overwrite; new partitions cost nothing extra.
  The cost: re-reading and rewriting the touched partitions (the whole table when it is unpartitioned).
- merge: existing rows whose keys are not in the new data (in the partitions the new data touches)
  plus the new rows, then written as overwrite_partitions (or overwrite when unpartitioned).

Old folders are returned to the caller, who deletes them once every target of the run is loaded. A write
looks up only the partitions it touches (the whole table for overwrite), so a nightly run costs the same
whatever the table's history. What a killed run leaves behind (a run folder never registered, partition
folders its commit did not reach, old folders it did not delete) is registered nowhere, so no reader sees
it; the job's next run, finding the dead run's lock, sweeps the job's tables (sweep(): the one step that
lists every partition), and so does `etl unlock`. So, as with any Hive table, one writer per table at a
time: to a sweep, another writer's folder that is not registered yet looks like a killed run's.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl import catalog
from etl.catalog import PartitionValues
from etl.config.models import TargetConfig
from etl.context import RunContext
from etl.load.common import FAILED_RULES, LOADED, QUARANTINED, ROUTE, conform, ensure_table
from etl.spark_internals import fs
from etl.zones import Zones, join

log = logging.getLogger(__name__)

RUN_PREFIX = "run-"


@dataclass(frozen=True)
class Staged:
    """A table's new rows written under a fresh folder that no reader knows of: <folder>/etl_rows=loaded/
    (the rows that publish() switches in) and <folder>/etl_rows=quarantined/ (rows for the quarantine
    table, read back from there)."""

    table: str
    root: str
    folder: str
    columns: tuple[str, ...]  # the partition columns (none: unpartitioned)
    old_folder: str | None  # unpartitioned: the table's location when the write began
    whole: bool = False  # partitioned: the write replaces the whole table (every partition is looked up)
    replacing: tuple[PartitionValues, ...] = ()  # partitions replaced even when the new rows have none
    incoming: DataFrame | None = None  # append and merge: the new rows, persisted (the write reads them twice)
    created: bool = False  # the table did not exist before this write
    # what the table's comments say: set when the write creates it, else by the publish where they differ
    comments: catalog.Comments = dataclasses.field(default_factory=catalog.Comments)

    @property
    def loaded(self) -> str:
        return join(self.folder, f"{ROUTE}={LOADED}")

    @property
    def quarantined(self) -> str:
        return join(self.folder, f"{ROUTE}={QUARANTINED}")


def write(
    spark: SparkSession, df: DataFrame, target: TargetConfig, ctx: RunContext, replacing: Sequence[PartitionValues] = ()
) -> list[str]:
    """Load df into the target table at once (stage, then publish); returns folders to delete once every
    target of the run is loaded."""
    staged = stage(spark, df, target, ctx, replacing)
    try:
        return publish(spark, staged)
    finally:
        if staged.incoming is not None:
            staged.incoming.unpersist()


def stage(spark: SparkSession, df: DataFrame, target: TargetConfig, ctx: RunContext, replacing: Sequence[PartitionValues] = ()) -> Staged:
    """Write df's rows into a fresh folder of the table, readers unaware; nothing is registered yet.

    df may carry the run's routing (ROUTE, and FAILED_RULES for the quarantined rows: etl.quality.routing);
    without it every row loads. `replacing` names partitions the publish replaces even if df has no rows
    for them (they are dropped then).
    """
    root = catalog.table_location(ctx.zones, target.table)
    fresh_folder = join(root, fresh_name(fs.list_folders(spark, root), ctx.run_id))
    data = df.drop(ROUTE, FAILED_RULES)
    # A new unpartitioned table reads an empty folder until the run publishes.
    empty = join(root, f"{RUN_PREFIX}{ctx.run_id}-empty")
    created = ensure_table(spark, data, target, ctx.zones, "parquet", root if target.partition_by else empty)
    df = routed_as_table(spark, df, target.table)
    columns = tuple(target.partition_by)
    if target.partition_by:
        columns_in_table = catalog.partition_columns(spark, target.table)
        staged = Staged(target.table, root, fresh_folder, columns_in_table, None, target.mode == "overwrite", tuple(replacing))
    else:
        staged = Staged(target.table, root, fresh_folder, (), catalog.current_location(spark, target.table))
    staged = dataclasses.replace(staged, created=created, comments=catalog.Comments.of(target))
    if not created and target.mode in ("append", "merge"):
        df = df.persist()
        staged = dataclasses.replace(staged, incoming=df)
    rows = rows_to_write(spark, df, target, created)
    (rows.repartition(*columns) if columns else rows).write.partitionBy(ROUTE, *columns).parquet(fresh_folder)
    return staged


def publish(spark: SparkSession, staged: Staged) -> list[str]:
    """Switch the staged rows in through the metastore; returns the folders to delete once the run has
    loaded (the ones replaced, and the staged quarantined rows, which the quarantine table has by then)."""
    if not staged.created:
        catalog.comment_table(spark, staged.table, "parquet", staged.comments)
    leftover = [staged.quarantined] if fs.exists(spark, staged.quarantined) else []
    if not staged.columns:
        fs.mkdirs(spark, staged.loaded)  # no rows at all: the table is empty from now on
        catalog.set_location(spark, staged.table, staged.loaded)
        previous = staged.old_folder or ""
        if previous.startswith(join(staged.root, RUN_PREFIX)):
            previous = run_folder(staged.root, previous)  # the whole of the run folder the table read
        return [*([previous] if previous and previous.rstrip("/") != staged.folder.rstrip("/") else []), *leftover]
    written = staged_partitions(spark, staged.loaded, staged.columns)
    # only the partitions this write touches are looked up, unless it replaces the whole table
    current = catalog.partitions(spark, staged.table, None if staged.whole else sorted({*written, *staged.replacing}, key=str))
    old = current.locations
    added = {values: location for values, location in written.items() if values not in old}
    replaced = {values: location for values, location in written.items() if values in old}
    dropped = [values for values in old if values not in written and (staged.whole or values in staged.replacing)]
    switch(spark, current, added, replaced, dropped)
    superseded = to_delete(spark, staged.root, [old[values] for values in [*replaced, *dropped]])
    return [*superseded, *leftover] if written else [*superseded, staged.folder]


def discard(spark: SparkSession, staged: Staged) -> None:
    """A run that does not publish: its staged rows go (a killed run's, by the sweep after it), and so
    does the table if this write created it."""
    fs.delete(spark, staged.folder)
    if staged.created:
        catalog.drop_table(spark, staged.table)
        fs.delete(spark, f"{staged.folder}-empty")


def read_staged(spark: SparkSession, staged: Staged, route: str) -> DataFrame:
    """The staged rows of a route, with the table's columns (partition columns typed as in the table) and,
    for quarantined rows, FAILED_RULES. Loaded rows of an append or a merge: the new ones only."""
    schema = spark.table(staged.table).schema
    if route == LOADED and staged.incoming is not None:
        return staged.incoming.where(F.col(ROUTE) == LOADED).select(*schema.names)
    folder = staged.loaded if route == LOADED else staged.quarantined
    if route == QUARANTINED:
        schema = schema.add(FAILED_RULES, T.ArrayType(T.StringType()))
    if not fs.exists(spark, folder):
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).option("basePath", folder).parquet(folder)


def routed_as_table(spark: SparkSession, df: DataFrame, table: str) -> DataFrame:
    """df's columns in the table's order (checked against it), then ROUTE and, when df has it, FAILED_RULES."""
    routing = [F.col(ROUTE) if ROUTE in df.columns else F.lit(LOADED).alias(ROUTE)]
    if FAILED_RULES in df.columns:
        routing.append(F.col(FAILED_RULES))
    data = conform(spark, df.drop(ROUTE, FAILED_RULES), table)
    return df.select(*[F.col(name) for name in data.columns], *routing)


def rows_to_write(spark: SparkSession, df: DataFrame, target: TargetConfig, created: bool) -> DataFrame:
    """What replaces the partitions df touches (the whole table when unpartitioned): for append and
    merge that includes rows already there (loaded, with the new ones that load); a table created by this
    write has none."""
    if created or target.mode in ("overwrite", "overwrite_partitions"):
        return df
    incoming = df.where(F.col(ROUTE) == LOADED).drop(ROUTE, FAILED_RULES)
    kept = appended(spark, incoming, target) if target.mode == "append" else merged(spark, incoming, target)
    as_routed = kept.select(
        "*", F.lit(LOADED).alias(ROUTE), *([F.lit(None).cast("array<string>").alias(FAILED_RULES)] if FAILED_RULES in df.columns else [])
    )
    return as_routed.unionByName(df.where(F.col(ROUTE) == QUARANTINED))


def fresh_name(folders: list[str], run_id: str) -> str:
    """run-<run_id>; should the run write the same table twice, the second write gets run-<run_id>-2."""
    name, count = f"{RUN_PREFIX}{run_id}", 1
    while name in folders:
        count += 1
        name = f"{RUN_PREFIX}{run_id}-{count}"
    return name


# --- the switch ------------------------------------------------------------------------------------------


def to_delete(spark: SparkSession, root: str, superseded: list[str]) -> list[str]:
    """The folders to delete once the run has loaded: each superseded partition's folder, or its whole run
    folder when every partition folder in it is superseded, so that run folders do not outlive their data.
    One glob per run folder concerned: the cost follows what the run replaces, not the table's size."""
    by_run: dict[str, list[str]] = {}
    folders = []
    for location in superseded:
        if location.startswith(join(root, RUN_PREFIX)):
            by_run.setdefault(run_folder(root, location), []).append(location.rstrip("/"))
        elif location not in folders:
            folders.append(location)  # a partition of an earlier version's layout, <table>/<col>=<value>
    for folder, locations in by_run.items():
        held = partition_folders(spark, folder, len(locations[0].removeprefix(folder).strip("/").split("/")))
        folders += [folder] if held <= set(locations) else sorted(set(locations))
    return folders


def partition_folders(spark: SparkSession, folder: str, depth: int) -> set[str]:
    """The folders `depth` levels under a run folder that hold partitions (<col>=<value> at every level
    below the route's, in today's layout and in earlier versions' without it)."""
    levels = ["*=*"] * depth
    return {found.rstrip("/") for found in fs.glob(spark, join(fs.glob_escaped(folder), *levels))}


def staged_partitions(spark: SparkSession, folder: str, columns: tuple[str, ...]) -> dict[PartitionValues, str]:
    """The partitions a partitionBy write made under folder (a folder level per column), by their values:
    one glob, <folder>/<col>=*/..., whose paths come back in one JVM call."""
    pattern = join(fs.glob_escaped(folder), *(f"{fs.glob_escaped(column)}=*" for column in columns))
    found: dict[PartitionValues, str] = {}
    for uri in fs.glob(spark, pattern):
        names = uri.rstrip("/").split("/")[-len(columns) :]
        values = tuple(unescape_path_name(name.removeprefix(f"{column}=")) for name, column in zip(names, columns, strict=True))
        found[tuple(None if value == catalog.NULL_PARTITION else value for value in values)] = join(folder, *names)
    return found


def unescape_path_name(name: str) -> str:
    """A partition value from its folder name, as Spark's ExternalCatalogUtils.unescapePathName: %XX (two
    hex digits) is the character XX; Spark escaped every % of the value itself, so nothing else is."""
    return re.sub("%([0-9A-Fa-f]{2})", lambda found: chr(int(found.group(1), 16)), name)


def switch(
    spark: SparkSession,
    current: catalog.Partitions,
    added: dict[PartitionValues, str],
    replaced: dict[PartitionValues, str],
    dropped: list[PartitionValues],
) -> None:
    """The commit: every step is atomic per partition, so a reader sees each partition's old or new data."""
    table = current.table
    catalog.add_partitions(spark, table, current.columns, added)
    catalog.move_partitions(spark, current, replaced, progress=lambda done: _switched(table, done, len(replaced)))
    catalog.drop_partitions(spark, table, current.columns, dropped)
    catalog.forget_metadata(spark, table)  # cached DataFrames that read the table keep the rows they were computed from
    log.info("%s: %d partition(s) added, %d replaced, %d dropped", table, len(added), len(replaced), len(dropped))


def _switched(table: str, done: int, replaced: int) -> None:
    """Progress of a long switch; the last batch's is the summary line's."""
    if done < replaced:
        log.info("%s: %d of %d replaced partition(s) switched", table, done, replaced)


# --- the rows a write keeps ------------------------------------------------------------------------------


def appended(spark: SparkSession, incoming: DataFrame, target: TargetConfig) -> DataFrame:
    """Copy-on-write append: the new rows plus the existing rows of the partitions they fall into."""
    existing = spark.table(target.table)
    if target.partition_by:
        existing = in_partitions_of(existing, incoming, target.partition_by)
    return existing.unionByName(incoming)


def merged(spark: SparkSession, incoming: DataFrame, target: TargetConfig) -> DataFrame:
    """Upsert on merge_keys: within the partitions the new data touches, new rows replace old ones."""
    existing = spark.table(target.table)
    if target.partition_by:
        existing = in_partitions_of(existing, incoming, target.partition_by)
    untouched = existing.join(incoming.select(*target.merge_keys), on=target.merge_keys, how="left_anti")
    # A join on a column list moves those columns first; the write is by position, so restore the order.
    return untouched.unionByName(incoming).select(*incoming.columns)


def in_partitions_of(existing: DataFrame, incoming: DataFrame, columns: list[str]) -> DataFrame:
    """The existing rows in the partitions the incoming rows fall into.

    The partitions are collected (a few values per partition) and filtered by value, so that Spark reads
    only those partitions; a join would leave that to dynamic partition pruning, which may not apply.
    """
    key = partition_key(columns)
    touched = [row[0] for row in incoming.select(key).distinct().collect()]
    return existing.where(key.isin(touched))


def partition_key(columns: list[str]) -> Column:
    """One string per partition, nulls included: the partition values as a JSON array of strings."""
    return F.to_json(F.array(*[F.col(c).cast("string") for c in columns]))


# --- what killed runs left behind ----------------------------------------------------------------------


def sweep(spark: SparkSession, table: str, zones: Zones, running: str | None = None) -> None:
    """Delete what runs killed outright left in a table's folder (sparing the folders of the run
    `running`): after a run that died (its lock was taken over, or removed by `etl unlock`). Lists every
    partition of the table, so not every night."""
    root = catalog.table_location(zones, table)
    if not catalog.table_exists(spark, table) or not fs.exists(spark, root):
        return
    columns = catalog.partition_columns(spark, table)
    registered = set(catalog.partitions(spark, table).locations.values()) if columns else {catalog.current_location(spark, table)}
    remove_unregistered(spark, root, fs.list_folders(spark, root), registered, running, columns)


def remove_unregistered(
    spark: SparkSession, root: str, folders: list[str], registered: set[str], running: str | None, columns: Sequence[str]
) -> None:
    """Delete what earlier runs wrote under root that no registered location uses.

    That is a killed run's folder that was never registered, the partition folders of a run whose commit
    was cut short, and old folders a run did not get to delete. Folders that are not run folders (such as
    partitions registered by earlier versions at <table>/<col>=<value>) are left alone. A whole run folder
    goes when nothing in it is registered (one listing of root); inside run folders that hold registered
    partitions, one glob finds the partition folders (<col>=<value>, a level per column) that are not.
    """
    in_use = _with_ancestors(registered)
    earlier = [join(root, name) for name in folders if name.startswith(RUN_PREFIX) and not (running and is_run_of(name, running))]
    unused = [folder for folder in earlier if folder not in in_use]
    holding = {folder for folder in earlier if folder in in_use and folder not in registered}
    if holding:
        runs = join(fs.glob_escaped(root), f"{RUN_PREFIX}*")
        patterns = [join(runs, f"{ROUTE}={QUARANTINED}")]  # a run's quarantined rows it did not get to delete
        if columns:  # partitions in the layouts of today and of earlier versions (no etl_rows level)
            levels = [f"{fs.glob_escaped(column)}=*" for column in columns]
            patterns += [join(runs, f"{ROUTE}={LOADED}", *levels), join(runs, *levels)]
        found = sorted({folder for pattern in patterns for folder in fs.glob(spark, pattern) if run_folder(root, folder) in holding})
        unused += [folder for folder in found if folder not in in_use and not (_ancestors(folder) & registered)]
    for folder in unused:
        log.debug("deleting %s: nothing registered refers to it", folder)
        fs.delete(spark, folder)
    if unused:
        log.debug("%s: deleted %d folder(s) of earlier runs that nothing registered refers to", root, len(unused))


def is_run_of(name: str, run_id: str) -> bool:
    return name == f"{RUN_PREFIX}{run_id}" or name.startswith(f"{RUN_PREFIX}{run_id}-")


def run_folder(root: str, location: str) -> str:
    """The child of root a location lies in (its run folder)."""
    return join(root, location.removeprefix(root.rstrip("/") + "/").split("/")[0])


def _with_ancestors(locations: set[str]) -> set[str]:
    """The locations and every folder above them."""
    return set(locations).union(*(_ancestors(location) for location in locations))


def _ancestors(location: str) -> set[str]:
    parts = location.rstrip("/").split("/")
    return {"/".join(parts[:end]) for end in range(1, len(parts))}
