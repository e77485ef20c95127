"""The run log: each run's row is one file added to etl_audit.job_runs, whatever the log's length."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl import catalog
from etl.context import DateWindow, RunContext, new_run_id
from etl.state import audit
from etl.zones import Zones, local_path


def record(zones: Zones, job: str, status: str) -> tuple[RunContext, audit.RunRecord]:
    ctx = RunContext(job=job, env="test", window=DateWindow.day(date(2024, 3, 1)), run_id=new_run_id(), zones=zones)
    run = audit.RunRecord.start(ctx, datetime(2024, 3, 2, 1, 0, tzinfo=UTC))
    run.status, run.ended_at, run.rows_read = status, datetime(2024, 3, 2, 1, 5, tzinfo=UTC), {"items": 3}
    return ctx, run


def logged(spark: SparkSession, job: str) -> list[tuple]:
    rows = spark.table(audit.AUDIT_TABLE).where(F.col("job") == job).collect()
    return sorted((r.run_id, r.status, r.rows_read) for r in rows)


def test_rows_are_added_as_files_in_place_and_concurrent_runs_keep_both(spark: SparkSession, zones: Zones) -> None:
    first = record(zones, "unit_audit", "succeeded")
    audit.write_run(spark, *first)  # creates the table when this is the first test to write it
    location = catalog.current_location(spark, audit.AUDIT_TABLE)
    folder = local_path(location)
    assert folder is not None
    files = set(folder.glob("*.parquet"))

    second = record(zones, "unit_audit", "failed")
    audit.write_run(spark, *second)
    assert catalog.current_location(spark, audit.AUDIT_TABLE) == location  # no rewrite of the log
    added = set(folder.glob("*.parquet")) - files
    assert len(added) == 1 and files <= set(folder.glob("*.parquet"))

    # two jobs ending at the same moment: both rows stay (a rewrite of the log by each would lose one)
    others = [record(zones, "unit_audit_a", "succeeded"), record(zones, "unit_audit_b", "succeeded")]
    threads = [threading.Thread(target=audit.write_run, args=(spark, *other)) for other in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert logged(spark, "unit_audit") == sorted([(first[0].run_id, "succeeded", {"items": 3}), (second[0].run_id, "failed", {"items": 3})])
    assert [logged(spark, other[0].job) for other in others] == [[(other[0].run_id, "succeeded", {"items": 3})] for other in others]
