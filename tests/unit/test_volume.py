"""An input far smaller or larger than usual stops the run, judged against the audit log's earlier runs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl.config.models import EnvConfig, VolumeCheck
from etl.context import DateWindow, RunContext, new_run_id
from etl.errors import VolumeAnomaly
from etl.run import run_batch
from etl.state import audit
from etl.state.volume import judge
from etl.zones import Zones
from tests.unit.test_job import D1, land, make_job

CHECK = VolumeCheck(history=7, min_runs=3, min_ratio=0.5, max_ratio=2.0)


def test_usual_volume_passes_and_bounds_are_inclusive() -> None:
    assert judge("items", 11, 1, [10, 12, 11], CHECK) is None
    assert judge("items", 11, 2, [10, 12, 11], CHECK) is None  # 5.5 per day: the lower bound itself
    assert judge("items", 22, 1, [10, 12, 11], CHECK) is None  # the upper bound itself


def test_too_little_history_is_not_judged() -> None:
    assert judge("items", 1000, 1, [10, 12], CHECK) is None


def test_far_below_and_far_above_name_the_numbers() -> None:
    assert judge("items", 5, 1, [10, 12, 11], CHECK) == (
        "source items: 5 rows per day, below the usual range 5.5..22 (0.5x..2x the median 11 of the last 3 successful runs); "
        "if this volume is right, rerun with the bounds of the source's `volume` changed"
    )
    # median of 10, 11, 12, 40 is 11.5: range 5.75..23, and 48 rows over two days is 24 per day
    assert judge("items", 48, 2, [10, 12, 11, 40], CHECK) == (
        "source items: 24 rows per day, above the usual range 5.75..23 (0.5x..2x the median 11.5 of the last 4 successful runs); "
        "if this volume is right, rerun with the bounds of the source's `volume` changed"
    )


@pytest.fixture(scope="module", autouse=True)
def raw_items(zones: Zones) -> None:
    land(zones, "items", D1, "item,price\n1,10.00\n2,20.50\n3,99.99\n")  # as tests/unit/test_job.py lands it


def log_run(spark: SparkSession, zones: Zones, job: str, first: date, last: date, rows: int, status: str, started: datetime) -> None:
    """An earlier run's audit row, as the job would have written it."""
    ctx = RunContext(job=job, env="test", window=DateWindow(first, last), run_id=new_run_id(started), zones=zones)
    run = audit.RunRecord.start(ctx, started)
    run.rows_read, run.status, run.ended_at = {"items": rows}, status, started
    audit.write_run(spark, ctx, run)


def test_a_run_reading_far_fewer_rows_than_usual_fails_before_writing(
    spark: SparkSession, env: EnvConfig, tmp_path: Path, zones: Zones
) -> None:
    # The log's history, by hand: 10, 12 and 22 rows over two days -> 10, 12, 11 per day, median 11.
    # A failed run with 1000 rows does not count, nor do other jobs' runs.
    start = datetime(2024, 4, 1, 2, 0, tzinfo=UTC)
    history = [
        ("tinyvol", 10, "succeeded", date(2024, 4, 1), date(2024, 4, 1)),
        ("tinyvol", 12, "succeeded", date(2024, 4, 2), date(2024, 4, 2)),
        ("tinyvol", 22, "succeeded", date(2024, 4, 3), date(2024, 4, 4)),
        ("tinyvol", 1000, "failed", date(2024, 4, 5), date(2024, 4, 5)),
        ("someother", 3, "succeeded", date(2024, 4, 5), date(2024, 4, 5)),
    ]
    for number, (job, rows, status, first, last) in enumerate(history):
        log_run(spark, zones, job, first, last, rows, status, start + timedelta(days=number))

    job = make_job(spark, env, tmp_path, "volume_checked")
    items = job.config.sources["items"].model_copy(update={"volume": CHECK})
    job.config = job.config.model_copy(update={"sources": {"items": items}})
    ctx = RunContext(job="tinyvol", env="test", window=DateWindow.day(D1), run_id=new_run_id(), zones=zones)
    with pytest.raises(VolumeAnomaly) as error:
        run_batch(job, ctx)  # D1 holds 3 items
    assert str(error.value) == (
        "unusual input volume, nothing was written: source items: 3 rows per day, below the usual range 5.5..22 "
        "(0.5x..2x the median 11 of the last 3 successful runs); if this volume is right, rerun with the bounds of the "
        "source's `volume` changed"
    )
    assert not spark.catalog.tableExists("unit_job.volume_checked")
    [row] = spark.table("etl_audit.job_runs").where(F.col("run_id") == ctx.run_id).collect()
    assert (row.status, row.error) == ("failed", str(error.value))

    wider = items.model_copy(update={"volume": VolumeCheck(min_ratio=0.25)})  # 2.75..22: 3 is usual now
    job.config = job.config.model_copy(update={"sources": {"items": wider}})
    assert (
        run_batch(job, RunContext(job="tinyvol", env="test", window=DateWindow.day(D1), run_id=new_run_id(), zones=zones)).record.status
        == "succeeded"
    )
