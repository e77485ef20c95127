"""Load modes against real Hive-registered Parquet tables in the test session's Derby metastore, and the
commit protocol under them: fresh run folders, partitions switched in the metastore, leftovers cleaned."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl import catalog
from etl.config.models import EnvConfig, TargetConfig
from etl.errors import LoadError
from etl.load import parquet
from etl.spark_internals import session_catalog
from etl.spark_internals.fs import same_spelling
from etl.zones import Zones, local_path

SCHEMA = "k bigint, v string, d date"
D1, D2, D3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)


def rows(spark: SparkSession, table: str) -> list[tuple]:
    return sorted(tuple(r) for r in spark.table(table).select("k", "v", "d").collect())


def locations(spark: SparkSession, table: str) -> dict[str, str]:
    """SHOW PARTITIONS name -> the LOCATION the metastore holds for it (DESCRIBE FORMATTED, not the code under test)."""
    found = {}
    for (name,) in spark.sql(f"SHOW PARTITIONS {table}").collect():
        spec = ", ".join(f"{column} = '{value}'" for column, value in (part.split("=", 1) for part in name.split("/")))
        described = spark.sql(f"DESCRIBE FORMATTED {table} PARTITION ({spec})").where("col_name = 'Location'").collect()
        found[name] = same_spelling(described[0]["data_type"])
    return found


def table_folder(zones: Zones, table: str) -> Path:
    database, name = table.split(".")
    curated = local_path(zones.curated)
    assert curated is not None
    return curated / f"{database}.db" / name


def parquet_folders(zones: Zones, table: str) -> set[str]:
    """Every folder under the table's folder that holds Parquet files, as a file:/// URI."""
    return {f"file://{path.parent}" for path in table_folder(zones, table).rglob("*.parquet")}


def test_append_then_overwrite_partitions_replaces_only_present_partitions(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.by_day", mode="append", partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(1, "a", D1), (2, "b", D2)], SCHEMA), target, make_ctx(D1))
    parquet.write(spark, spark.createDataFrame([(3, "c", D2)], SCHEMA), target, make_ctx(D2))
    assert rows(spark, "unit_load.by_day") == [(1, "a", D1), (2, "b", D2), (3, "c", D2)]

    overwrite = TargetConfig(table="unit_load.by_day", mode="overwrite_partitions", partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(4, "d", D2), (5, "e", D3)], SCHEMA), overwrite, make_ctx(D2))
    assert rows(spark, "unit_load.by_day") == [(1, "a", D1), (4, "d", D2), (5, "e", D3)]
    partitions = sorted(r[0] for r in spark.sql("SHOW PARTITIONS unit_load.by_day").collect())
    assert partitions == ["d=2024-01-01", "d=2024-01-02", "d=2024-01-03"]


def test_database_and_table_live_in_the_curated_zone(spark: SparkSession, make_ctx, zones) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_where.t", mode="append", partition_by=["d"])
    ctx = make_ctx(D1)
    parquet.write(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), target, ctx)
    database = spark.sql("DESCRIBE DATABASE unit_where").where("info_name = 'Location'").first()
    assert database is not None and same_spelling(database["info_value"]) == f"{zones.curated}/unit_where.db"
    assert catalog.current_location(spark, "unit_where.t") == f"{zones.curated}/unit_where.db/t"
    assert (table_folder(zones, "unit_where.t") / f"run-{ctx.run_id}" / "etl_rows=loaded" / "d=2024-01-01").is_dir()


def test_overwrite_unpartitioned_swaps_folder_and_returns_old_one(spark: SparkSession, make_ctx, zones) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.whole", mode="overwrite")
    created = make_ctx(D1)
    first = parquet.write(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), target, created)
    root = f"{zones.curated}/unit_load.db/whole"
    assert first == [f"{root}/run-{created.run_id}-empty"]  # what the new table read until its first rows were published
    before = catalog.current_location(spark, "unit_load.whole")
    assert before == f"{root}/run-{created.run_id}/etl_rows=loaded"
    # reading the table while overwriting it is fine: the new data goes to a new folder
    grown = spark.table("unit_load.whole").select("k", "v", "d").union(spark.createDataFrame([(2, "b", D2)], SCHEMA))
    superseded = parquet.write(spark, grown, target, make_ctx(D2))
    assert superseded == [f"{root}/run-{created.run_id}"]  # the whole run folder of the location replaced
    assert rows(spark, "unit_load.whole") == [(1, "a", D1), (2, "b", D2)]
    after = catalog.current_location(spark, "unit_load.whole")
    assert after != before and after.startswith(f"{zones.curated}/unit_load.db/whole/run-")


def test_merge_upserts_on_keys_within_touched_partitions(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.merged", mode="merge", merge_keys=["k"], partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(1, "a", D1), (2, "b", D2), (3, "c", D2)], SCHEMA), target, make_ctx(D1))
    parquet.write(spark, spark.createDataFrame([(2, "B", D2), (4, "d", D2)], SCHEMA), target, make_ctx(D2))
    assert rows(spark, "unit_load.merged") == [(1, "a", D1), (2, "B", D2), (3, "c", D2), (4, "d", D2)]


def test_merge_unpartitioned(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.merged_flat", mode="merge", merge_keys=["k", "d"])
    parquet.write(spark, spark.createDataFrame([(1, "a", D1), (1, "a", D2)], SCHEMA), target, make_ctx(D1))
    superseded = parquet.write(spark, spark.createDataFrame([(1, "z", D2), (9, "n", D3)], SCHEMA), target, make_ctx(D2))
    assert rows(spark, "unit_load.merged_flat") == [(1, "a", D1), (1, "z", D2), (9, "n", D3)]
    assert len(superseded) == 1


def test_schema_mismatch_is_a_clear_error(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.strict", mode="append")
    parquet.write(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), target, make_ctx(D1))
    with pytest.raises(LoadError) as error:
        parquet.write(spark, spark.createDataFrame([(1, 2, D1)], "k bigint, v int, d date"), target, make_ctx(D1))
    assert str(error.value) == (
        "unit_load.strict: the data's columns do not match the table: table has (k bigint, v string, d date), data has (k bigint, v int, d date)"
    )


def test_an_array_that_spark_knows_holds_no_null_loads_into_the_tables_nullable_array(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    """array_compact() yields array<string> without nulls (Spark 4.0 says so in the type); the table's admits them."""
    target = TargetConfig(table="unit_load.tagged", mode="append")
    first = spark.createDataFrame([(1, ["a", None], D1)], "k bigint, tags array<string>, d date")
    parquet.write(spark, first, target, make_ctx(D1))
    compacted = spark.createDataFrame([(2, ["b", None], D1)], "k bigint, tags array<string>, d date").withColumn(
        "tags", F.array_compact("tags")
    )
    parquet.write(spark, compacted, target, make_ctx(D1))
    assert sorted((r.k, r.tags) for r in spark.table("unit_load.tagged").collect()) == [(1, ["a", None]), (2, ["b"])]


def test_partition_column_missing_from_data(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.nopart", mode="overwrite_partitions", partition_by=["day"])
    with pytest.raises(LoadError, match=r"^unit_load.nopart: the data has no column\(s\) day named in partition_by/merge_keys$"):
        parquet.write(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), target, make_ctx(D1))


def test_files_per_partition_is_one(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    target = TargetConfig(table="unit_load.files", mode="overwrite_partitions", partition_by=["d"])
    data = spark.createDataFrame([(k, "x", D1 if k % 2 else D2) for k in range(40)], SCHEMA).repartition(4)
    parquet.write(spark, data, target, make_ctx(D1))
    registered = locations(spark, "unit_load.files")
    assert sorted(registered) == ["d=2024-01-01", "d=2024-01-02"]
    for location in registered.values():
        folder = local_path(location)
        assert folder is not None and len(list(folder.glob("*.parquet"))) == 1


# --- the commit protocol -------------------------------------------------------------------------------


def test_overwrite_partitions_registers_run_folders_and_returns_the_old_ones(spark: SparkSession, make_ctx, zones) -> None:  # type: ignore[no-untyped-def]
    table, root = "unit_commit.days", f"{zones.curated}/unit_commit.db/days"
    target = TargetConfig(table=table, mode="overwrite_partitions", partition_by=["d"])
    first, second = make_ctx(D1), make_ctx(D2)
    assert parquet.write(spark, spark.createDataFrame([(1, "a", D1), (2, "b", D2)], SCHEMA), target, first) == []
    before = locations(spark, table)
    assert before == {f"d={d}": f"{root}/run-{first.run_id}/etl_rows=loaded/d={d}" for d in (D1, D2)}

    superseded = parquet.write(spark, spark.createDataFrame([(3, "c", D2), (4, "d", D3)], SCHEMA), target, second)
    after = locations(spark, table)
    assert after == {
        "d=2024-01-01": before["d=2024-01-01"],  # not in the new data: untouched
        "d=2024-01-02": f"{root}/run-{second.run_id}/etl_rows=loaded/d=2024-01-02",
        "d=2024-01-03": f"{root}/run-{second.run_id}/etl_rows=loaded/d=2024-01-03",
    }
    assert superseded == [before["d=2024-01-02"]]
    assert rows(spark, table) == [(1, "a", D1), (3, "c", D2), (4, "d", D3)]
    # deleting the old folder is the caller's, once the whole run has loaded; readers no longer need it
    old = local_path(superseded[0])
    assert old is not None and old.is_dir()
    parquet.fs.delete(spark, superseded[0])
    spark.catalog.refreshTable(table)
    assert rows(spark, table) == [(1, "a", D1), (3, "c", D2), (4, "d", D3)]


def test_append_rewrites_the_partitions_it_touches(spark: SparkSession, make_ctx, zones) -> None:  # type: ignore[no-untyped-def]
    table = "unit_commit.log"
    target = TargetConfig(table=table, mode="append", partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(1, "a", D1), (2, "b", D2)], SCHEMA), target, make_ctx(D1))
    before = locations(spark, table)
    ctx = make_ctx(D2)
    superseded = parquet.write(spark, spark.createDataFrame([(3, "c", D2), (4, "d", D3)], SCHEMA), target, ctx)
    after = locations(spark, table)
    # the touched partition moved whole (old rows + new) to this run's folder, one file; the other one stayed
    assert after["d=2024-01-01"] == before["d=2024-01-01"]
    assert after["d=2024-01-02"].endswith(f"/run-{ctx.run_id}/etl_rows=loaded/d=2024-01-02")
    assert superseded == [before["d=2024-01-02"]]
    folder = local_path(after["d=2024-01-02"])
    assert folder is not None and len(list(folder.glob("*.parquet"))) == 1
    assert rows(spark, table) == [(1, "a", D1), (2, "b", D2), (3, "c", D2), (4, "d", D3)]

    flat = TargetConfig(table="unit_commit.log_flat", mode="append")
    parquet.write(spark, spark.createDataFrame([(1, "a", D1)], SCHEMA), flat, make_ctx(D1))
    old_folder = catalog.current_location(spark, "unit_commit.log_flat")
    assert old_folder.endswith("/etl_rows=loaded")
    old_run_folder = old_folder.rsplit("/", 1)[0]  # goes whole
    assert parquet.write(spark, spark.createDataFrame([(2, "b", D2)], SCHEMA), flat, make_ctx(D2)) == [old_run_folder]
    assert rows(spark, "unit_commit.log_flat") == [(1, "a", D1), (2, "b", D2)]


def test_overwrite_of_a_partitioned_table_drops_the_partitions_not_in_the_data(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    table = "unit_commit.whole_days"
    parquet.write(
        spark,
        spark.createDataFrame([(1, "a", D1), (2, "b", D2)], SCHEMA),
        TargetConfig(table=table, mode="append", partition_by=["d"]),
        make_ctx(D1),
    )
    first_run = {location.rsplit("/", 2)[0] for location in locations(spark, table).values()}
    overwrite = TargetConfig(table=table, mode="overwrite", partition_by=["d"])
    superseded = parquet.write(spark, spark.createDataFrame([(3, "c", D2), (4, "d", D3)], SCHEMA), overwrite, make_ctx(D2))
    assert sorted(locations(spark, table)) == ["d=2024-01-02", "d=2024-01-03"]
    # no partition is left in the first run's folder: it goes whole (its _SUCCESS too), not partition by partition
    assert len(first_run) == 1 and superseded == list(first_run)
    folder = local_path(superseded[0])
    assert folder is not None and len(list(folder.rglob("*.parquet"))) == 2  # dropping the partition kept its data for now
    assert rows(spark, table) == [(3, "c", D2), (4, "d", D3)]


@pytest.fixture(params=["bulk", "py4j"])
def partition_calls(request: pytest.FixtureRequest, spark: SparkSession, monkeypatch: pytest.MonkeyPatch) -> str:
    """Partitions read and relocated by the JVM helper (etl/jvm/etl/hive/), then without it, one py4j call at a time."""
    if request.param == "bulk" and session_catalog.bulk_helper(spark) is None:
        pytest.skip("the catalog helper's jar was not built (make setup builds it where javac exists)")
    if request.param == "py4j":
        monkeypatch.setattr(session_catalog, "bulk_helper", lambda spark: None)
    return str(request.param)


def test_the_catalog_helper_is_on_the_drivers_classpath(spark: SparkSession) -> None:
    from etl.session import CATALOG_JAR

    if not CATALOG_JAR.is_file():
        pytest.skip(f"{CATALOG_JAR} was not built (make setup builds it where javac exists)")
    assert session_catalog.bulk_helper(spark) is not None


def test_without_the_catalog_helper_a_run_says_so_once(spark: SparkSession, monkeypatch: pytest.MonkeyPatch, caplog) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(session_catalog, "JavaClass", type("NoSuchClass", (), {}))  # as when the jar is not on the classpath
    monkeypatch.setattr(session_catalog, "_warned_no_helper", False)
    assert session_catalog.bulk_helper(spark) is None and session_catalog.bulk_helper(spark) is None
    warnings = [r.getMessage() for r in caplog.records if r.name == "etl.spark_internals.session_catalog"]
    assert warnings == [
        "etl-catalog.jar is not on the driver's classpath: partitions are read and moved one py4j call at a time "
        "(`make setup` builds it; releases pass it with spark-submit --jars)"
    ]


def test_partition_values_reach_the_metastore_exactly(spark: SparkSession, make_ctx, partition_calls: str) -> None:  # type: ignore[no-untyped-def]
    schema = "k bigint, name string, n int"
    values = [(1, "it's/a %2F = 'b'\\c", 7), (2, None, -1), (3, "plain", None)]
    table = f"unit_commit.odd_{partition_calls}"
    target = TargetConfig(table=table, mode="overwrite_partitions", partition_by=["name", "n"])
    parquet.write(spark, spark.createDataFrame(values, schema), target, make_ctx(D1))
    listed = catalog.partitions(spark, table)
    assert set(listed.locations) == {("it's/a %2F = 'b'\\c", "7"), (None, "-1"), ("plain", None)}
    second = make_ctx(D2)
    parquet.write(spark, spark.createDataFrame([(k * 10, name, n) for k, name, n in values], schema), target, second)
    files = [row[0] for row in spark.table(table).select(F.input_file_name()).collect()]
    assert len(files) == 3 and all(f"/run-{second.run_id}/" in file for file in files)  # every partition switched
    assert sorted(tuple(r) for r in spark.table(table).collect()) == [
        (10, "it's/a %2F = 'b'\\c", 7),
        (20, None, -1),
        (30, "plain", None),
    ]
    assert len(spark.sql(f"SHOW PARTITIONS {table}").collect()) == 3


def test_a_partition_spec_names_a_value_for_each_partition_column(spark: SparkSession, make_ctx) -> None:  # type: ignore[no-untyped-def]
    table = "unit_spec.t"
    parquet.write(spark, spark.createDataFrame([], SCHEMA), TargetConfig(table=table, mode="overwrite", partition_by=["d"]), make_ctx(D1))
    with pytest.raises(ValueError, match="one value per partition column"):
        catalog.add_partitions(spark, table, ["d", "e"], {("2024-01-01",): "file:///tmp/nowhere"})
    with pytest.raises(ValueError):
        catalog.drop_partitions(spark, table, ["d) LOCATION 'x'"], [("2024-01-01",)])
    assert spark.sql(f"SHOW PARTITIONS {table}").collect() == []


def test_partitions_registered_before_run_folders_are_switched_too(spark: SparkSession, make_ctx, zones) -> None:  # type: ignore[no-untyped-def]
    # Tables loaded by earlier versions hold partitions at <table>/<col>=<value> (Spark's insertInto).
    table = "unit_commit.legacy"
    target = TargetConfig(table=table, mode="overwrite_partitions", partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([], SCHEMA), target, make_ctx(D1))  # creates the empty table
    spark.createDataFrame([(1, "a", D1), (2, "b", D2)], SCHEMA).write.insertInto(table)
    legacy = locations(spark, table)
    assert legacy["d=2024-01-01"] == f"{zones.curated}/unit_commit.db/legacy/d=2024-01-01"
    superseded = parquet.write(spark, spark.createDataFrame([(3, "c", D2)], SCHEMA), target, make_ctx(D2))
    assert superseded == [legacy["d=2024-01-02"]]
    assert locations(spark, table)["d=2024-01-01"] == legacy["d=2024-01-01"]  # left where it is, not deleted
    assert rows(spark, table) == [(1, "a", D1), (3, "c", D2)]


# --- crashes between the write and the end of the switch ---------------------------------------------------


def crash(*args: object, **kwargs: object) -> None:
    raise RuntimeError("the driver died here")


def test_a_crash_before_the_switch_leaves_the_old_rows_and_the_next_write_cleans_up(  # type: ignore[no-untyped-def]
    spark: SparkSession, make_ctx, zones, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = "unit_crash.before"
    target = TargetConfig(table=table, mode="overwrite_partitions", partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(1, "old", D1), (2, "old", D2)], SCHEMA), target, make_ctx(D1))
    old_locations = locations(spark, table)

    crashed = make_ctx(D2)
    with monkeypatch.context() as patch:
        patch.setattr(parquet, "switch", crash)
        with pytest.raises(RuntimeError):
            parquet.write(spark, spark.createDataFrame([(1, "new", D1), (2, "new", D2)], SCHEMA), target, crashed)
    leftover = table_folder(zones, table) / f"run-{crashed.run_id}"
    assert (leftover / "etl_rows=loaded" / "d=2024-01-01").is_dir()  # written, never registered
    spark.catalog.refreshTable(table)
    assert rows(spark, table) == [(1, "old", D1), (2, "old", D2)]
    assert locations(spark, table) == old_locations

    parquet.write(spark, spark.createDataFrame([(3, "next", D3)], SCHEMA), target, make_ctx(D3))
    assert leftover.is_dir()  # a write looks only at its own partitions
    parquet.sweep(spark, table, zones)  # what the run after a dead one does, and `etl unlock`
    assert not leftover.exists()
    assert rows(spark, table) == [(1, "old", D1), (2, "old", D2), (3, "next", D3)]
    assert parquet_folders(zones, table) == set(locations(spark, table).values())


def test_a_crash_in_the_middle_of_the_switch_leaves_each_partition_old_or_new(  # type: ignore[no-untyped-def]
    spark: SparkSession, make_ctx, zones, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = "unit_crash.middle"
    days = [D1 + timedelta(days=i) for i in range(6)]
    target = TargetConfig(table=table, mode="overwrite_partitions", partition_by=["d"])
    parquet.write(spark, spark.createDataFrame([(i, "old", d) for i, d in enumerate(days)], SCHEMA), target, make_ctx(D1))

    move = catalog.move_partitions

    def two_then_crash(spark: SparkSession, current: catalog.Partitions, moves: dict, progress: Callable[[int], None]) -> None:
        move(spark, current, dict(list(moves.items())[:2]), progress)
        crash()

    with monkeypatch.context() as patch:
        patch.setattr(catalog, "PARTITION_BATCH", 2)
        patch.setattr(catalog, "move_partitions", two_then_crash)
        with pytest.raises(RuntimeError):
            parquet.write(spark, spark.createDataFrame([(i, "new", d) for i, d in enumerate(days)], SCHEMA), target, make_ctx(D2))
    spark.catalog.refreshTable(table)
    by_day = {d: v for _, v, d in rows(spark, table)}
    assert len(rows(spark, table)) == len(days) and sorted(by_day) == days  # no partition missing, none doubled
    assert sorted(by_day.values()) == ["new", "new", "old", "old", "old", "old"]

    # the sweep deletes the crashed run's unregistered folders and the two old ones it superseded
    parquet.write(spark, spark.createDataFrame([(9, "next", D1 + timedelta(days=9))], SCHEMA), target, make_ctx(D3))
    assert len(parquet_folders(zones, table)) == 2 * len(days) + 1  # the old run's 6, the crashed run's 6, the next one
    parquet.sweep(spark, table, zones)
    assert parquet_folders(zones, table) == set(locations(spark, table).values())
    assert len(rows(spark, table)) == len(days) + 1


# --- metastore requests --------------------------------------------------------------------------------


def metastore_requests(env: EnvConfig) -> list[str]:
    """The requests the embedded metastore logged (its audit log lands in <local_state>/logs/spark.log)."""
    log = Path(str(env.local_state)) / "logs" / "spark.log"
    return [line.split("cmd=", 1)[1].split(" ")[0].strip() for line in log.read_text().splitlines() if "cmd=" in line]


def test_partitions_are_added_and_switched_in_batches(  # type: ignore[no-untyped-def]
    spark: SparkSession, make_ctx, env, zones, monkeypatch: pytest.MonkeyPatch, partition_calls: str
) -> None:
    table = f"unit_batch.t_{partition_calls}"
    root = f"{zones.curated}/unit_batch.db/t_{partition_calls}"
    days = [D1 + timedelta(days=i) for i in range(50)]
    data = spark.createDataFrame([(i, "x", d) for i, d in enumerate(days)], SCHEMA)
    target = TargetConfig(table=table, mode="overwrite_partitions", partition_by=["d"])
    monkeypatch.setattr(catalog, "PARTITION_BATCH", 20)

    seen = len(metastore_requests(env))
    first = make_ctx(D1)
    parquet.write(spark, data, target, first)  # 50 new partitions
    requests = metastore_requests(env)[seen:]
    # one listing of the (new) table's partitions, then one request per batch of 20, 20 and 10
    assert [r for r in requests if "partition" in r] == ["get_partitions_ps_with_auth", *["add_partitions"] * 3]
    assert sorted(locations(spark, table).values()) == [f"{root}/run-{first.run_id}/etl_rows=loaded/d={day}" for day in days]

    seen = len(metastore_requests(env))
    second = make_ctx(D2)
    parquet.write(spark, data, target, second)  # the same 50 partitions, replaced
    requests = metastore_requests(env)[seen:]
    # one listing of the table's partitions, then one request per batch of 20, 20 and 10
    assert [r for r in requests if "partition" in r] == ["get_partitions_ps_with_auth", *["alter_partitions"] * 3]
    assert len(requests) < len(days)  # fewer metastore requests in all than partitions
    assert sorted(locations(spark, table).values()) == [f"{root}/run-{second.run_id}/etl_rows=loaded/d={day}" for day in days]

    seen = len(metastore_requests(env))
    third = make_ctx(D3)
    parquet.write(spark, data.where(data.d.isin(days[:2])), target, third)  # two of the 50 partitions, as a nightly run
    requests = metastore_requests(env)[seen:]
    # the two partitions asked for by name (a lookup each), not the table's 50 listed; one request switches both
    assert [r for r in requests if "partition" in r] == ["get_partitions_ps_with_auth"] * 2 + ["alter_partitions"]
    expected = {day: f"{root}/run-{(third if day in days[:2] else second).run_id}/etl_rows=loaded/d={day}" for day in days}
    assert locations(spark, table) == {f"d={day}": location for day, location in expected.items()}


@pytest.mark.parametrize("partition_by", [[], ["d"]])
def test_a_cached_frame_that_read_the_table_is_not_computed_again_after_its_overwrite(  # type: ignore[no-untyped-def]
    spark: SparkSession, make_ctx, partition_by: list[str]
) -> None:
    """A run's outputs are cached before the load; one built from a table the run overwrites (a dimension
    rebuilt from itself) must not be thrown away and computed again when the table switches: swapped
    whole, or (partitioned) with one partition dropped, one replaced and one added."""
    table = f"unit_cache.t{len(partition_by)}"
    target = TargetConfig(table=table, mode="overwrite", partition_by=partition_by)
    parquet.write(spark, spark.createDataFrame([(1, "a", D1), (2, "b", D2)], SCHEMA), target, make_ctx(D1))
    derived = spark.table(table).selectExpr("k * 10 AS k", "v", "d").persist()
    assert derived.count() == 2
    cache = spark._jsparkSession.sharedState().cacheManager()

    def still_cached() -> bool:
        found = cache.lookupCachedData(derived._jdf)
        return bool(found.isDefined() and found.get().cachedRepresentation().cacheBuilder().isCachedColumnBuffersLoaded())

    assert still_cached()
    parquet.write(spark, spark.createDataFrame([(3, "c", D2), (4, "d", D3)], SCHEMA), target, make_ctx(D2))
    assert still_cached()
    assert sorted(tuple(r) for r in derived.collect()) == [(10, "a", D1), (20, "b", D2)]
    assert rows(spark, table) == [(3, "c", D2), (4, "d", D3)]  # a new read sees the new data
    derived.unpersist()


def test_partition_values_are_unescaped_as_spark_does(spark: SparkSession) -> None:
    utils = spark.sparkContext._jvm.org.apache.spark.sql.catalyst.catalog.ExternalCatalogUtils  # type: ignore[union-attr]
    values = ["it's/a %2F = 'b'\\c", "plain", "100%", "a%zz", "%", "%4", "é ü", "x\ny", "%25%2", "\x01:*?{}[]"]
    for value in values:
        for name in (str(utils.escapePathName(value)), value):  # as Spark names the folder; and unescaped text
            assert parquet.unescape_path_name(name) == str(utils.unescapePathName(name)), name
    assert parquet.unescape_path_name(str(utils.escapePathName(values[0]))) == values[0]
