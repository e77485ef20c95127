"""Incremental sources: each run reads the files no run of another date took; a failed run records none,
so its rerun reads the same files; a rerun of a day that succeeded reads that day's files again."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl.config import ConfigDir
from etl.config.models import EnvConfig
from etl.context import RunContext
from etl.errors import SourceError, ValidationFailed
from etl.job import Job
from etl.run import run_batch
from etl.zones import Zones, local_path

D1, D2, D3 = date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3)

JOB_YAML = """
description: Orders landing as files at any time, merged into a table.
class: tests.unit.test_bookmarks:Orders
sources:
  orders:
    format: csv
    path: unit_bookmarks/orders
    incremental: true
    allow_empty: {allow_empty}
    columns: {{order_id: bigint, amount: 'decimal(10,2)'}}
targets:
  orders:
    table: unit_bookmarks.orders
    mode: merge
    merge_keys: [order_id]
    suite: orders
"""
SUITE_YAML = """
expectations:
  - type: expect_column_values_to_be_between
    kwargs: {column: amount, min_value: 0}
    severity: error
"""


class Orders(Job):
    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"orders": sources["orders"].withColumn("loaded_on", F.lit(ctx.run_date))}


def job(spark: SparkSession, env: EnvConfig, tmp_path: Path, allow_empty: bool = False) -> Job:
    conf_dir = tmp_path / f"conf-{allow_empty}"
    (conf_dir / "jobs").mkdir(parents=True, exist_ok=True)
    (conf_dir / "expectations").mkdir(exist_ok=True)
    (conf_dir / "base.yaml").write_text("metastore: {kind: derby}\n")
    (conf_dir / "jobs" / "incremental.yaml").write_text(JOB_YAML.format(allow_empty=str(allow_empty).lower()))
    (conf_dir / "expectations" / "orders.yaml").write_text(SUITE_YAML)
    conf = ConfigDir(conf_dir, environ={})
    return Orders(spark, conf.job("incremental"), env, conf)


def land(zones: Zones, name: str, text: str, modified: int) -> Path:
    root = local_path(zones.raw)
    assert root is not None
    file = root / "unit_bookmarks" / "orders" / name
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    os.utime(file, (modified, modified))
    return file


def loaded(spark: SparkSession) -> list[tuple]:
    return sorted((r.order_id, str(r.amount), r.loaded_on) for r in spark.table("unit_bookmarks.orders").collect())


def bookmarked(spark: SparkSession) -> list[tuple]:
    rows = spark.table("etl_audit.bookmarks").where(F.col("job") == "incremental").collect()
    return sorted((r.run_date, Path(r.file).name) for r in rows)


def test_runs_take_only_new_files_and_reruns_take_their_own_again(
    spark: SparkSession, env: EnvConfig, tmp_path: Path, zones: Zones, make_ctx
) -> None:  # type: ignore[no-untyped-def]
    land(zones, "a.csv", "order_id,amount\n1,10.00\n2,20.00\n", 1_700_000_000)
    land(zones, "b.csv", "order_id,amount\n3,30.00\n", 1_700_000_100)
    run_batch(job(spark, env, tmp_path), make_ctx(D1, job="incremental"))
    assert loaded(spark) == [(1, "10.00", D1), (2, "20.00", D1), (3, "30.00", D1)]

    # a new file, and one bad row in it: the run fails and records nothing
    land(zones, "c.csv", "order_id,amount\n4,40.00\n5,-1.00\n", 1_700_000_200)
    with pytest.raises(ValidationFailed):
        run_batch(job(spark, env, tmp_path), make_ctx(D2, job="incremental"))
    assert bookmarked(spark) == [(D1, "a.csv"), (D1, "b.csv")]

    # the file is fixed in place (a new size and time: a new file): the rerun of D2 takes it, and only it
    land(zones, "c.csv", "order_id,amount\n4,40.00\n5,50.00\n", 1_700_000_300)
    run_batch(job(spark, env, tmp_path), make_ctx(D2, job="incremental"))
    assert loaded(spark) == [(1, "10.00", D1), (2, "20.00", D1), (3, "30.00", D1), (4, "40.00", D2), (5, "50.00", D2)]

    # D3 finds nothing new: an error, or an empty run when the source allows it
    with pytest.raises(SourceError, match=r"source orders: no new files under .*unit_bookmarks/orders since the job's other runs"):
        run_batch(job(spark, env, tmp_path), make_ctx(D3, job="incremental"))
    run_batch(job(spark, env, tmp_path, allow_empty=True), make_ctx(D3, job="incremental"))

    # a rerun of D1 takes D1's files again (and a file that arrived since, which no other day took)
    land(zones, "d.csv", "order_id,amount\n6,60.00\n", 1_700_000_400)
    run_batch(job(spark, env, tmp_path), make_ctx(D1, job="incremental"))
    assert loaded(spark) == [(1, "10.00", D1), (2, "20.00", D1), (3, "30.00", D1), (4, "40.00", D2), (5, "50.00", D2), (6, "60.00", D1)]
    assert bookmarked(spark) == [(D1, "a.csv"), (D1, "b.csv"), (D1, "d.csv"), (D2, "c.csv")]
