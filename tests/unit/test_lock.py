"""Two runs of a job at once: one wins, the other fails clearly; locks of dead runs do not block for ever."""

from __future__ import annotations

import subprocess
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from etl import catalog
from etl.cli import main
from etl.config.models import EnvConfig
from etl.context import DateWindow, RunContext, new_run_id
from etl.errors import JobLocked
from etl.run import run_batch
from etl.state import lock
from etl.zones import Zones, join, local_path
from tests.unit.test_job import D1, land, make_job

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
ONE_RUN = [(1, Decimal("10.00")), (2, Decimal("20.50")), (3, Decimal("99.99"))]  # D1's items, by hand


@pytest.fixture(scope="module", autouse=True)
def raw_items(zones: Zones) -> None:
    land(zones, "items", D1, "item,price\n1,10.00\n2,20.50\n3,99.99\n")  # as tests/unit/test_job.py lands it


def new_ctx(zones: Zones, job: str) -> RunContext:
    return RunContext(job=job, env="test", window=DateWindow.day(D1), run_id=new_run_id(), zones=zones)


def rows(spark: SparkSession, table: str) -> list[tuple]:
    return sorted((r.item, r.price) for r in spark.table(table).collect())


def test_two_runs_started_at_once_one_wins_the_other_fails_clearly(
    spark: SparkSession, env: EnvConfig, tmp_path: Path, zones: Zones
) -> None:
    contexts = [new_ctx(zones, "tinylock"), new_ctx(zones, "tinylock")]
    outcomes: dict[str, object] = {}
    start = threading.Barrier(2)

    def run(number: int) -> None:
        job = make_job(spark, env, tmp_path / str(number), "locked_once")
        start.wait()
        try:
            outcomes[contexts[number].run_id] = run_batch(job, contexts[number]).record.status
        except Exception as error:  # the loser's error, kept for the asserts
            outcomes[contexts[number].run_id] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(type(status).__name__ for status in outcomes.values()) == ["JobLocked", "str"]
    [winner] = [run_id for run_id, status in outcomes.items() if status == "succeeded"]
    [loser] = [run_id for run_id, status in outcomes.items() if isinstance(status, JobLocked)]
    assert str(outcomes[loser]).startswith(f"tinylock is already running: run {winner} (pid ")
    assert str(outcomes[loser]).endswith("holds its lock; if that run is dead, remove the lock with `etl unlock tinylock`")
    assert rows(spark, "unit_job.locked_once") == ONE_RUN
    audit = {r.run_id: (r.status, r.error) for r in spark.table("etl_audit.job_runs").where(F.col("job") == "tinylock").collect()}
    assert audit == {winner: ("succeeded", None), loser: ("failed", str(outcomes[loser]))}
    assert lock.holder_of(spark, "tinylock") is None  # the winner released it


def plant_lock(spark: SparkSession, zones: Zones, job: str, holder: lock.Holder) -> None:
    lock.ensure_table(spark, zones)
    location = join(catalog.table_location(zones, lock.LOCK_TABLE), f"job={job}", holder.folder)
    catalog.add_partitions(spark, lock.LOCK_TABLE, ["job"], {(job,): location})


def test_the_lock_of_a_killed_run_on_this_host_is_taken_over(spark: SparkSession, env: EnvConfig, tmp_path: Path, zones: Zones) -> None:
    import socket

    job = make_job(spark, env, tmp_path, "after_stale")
    assert run_batch(job, new_ctx(zones, "tinystale")).record.status == "succeeded"
    # the dead run had staged its rows: a run folder that nothing registered refers to
    table = local_path(catalog.table_location(zones, "unit_job.after_stale"))
    assert table is not None
    staged = table / "run-20240101T000000Z-deadbeef" / "etl_rows=loaded" / "dt=2024-01-01"
    staged.mkdir(parents=True)
    (staged / "part-00000.parquet").write_bytes(b"PAR1")
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid names no process now
    plant_lock(spark, zones, "tinystale", lock.Holder("20240101T000000Z-deadbeef", gone.pid, socket.gethostname()))

    outcome = run_batch(job, new_ctx(zones, "tinystale"))
    assert outcome.record.status == "succeeded"
    assert rows(spark, "unit_job.after_stale") == ONE_RUN
    assert lock.holder_of(spark, "tinystale") is None
    assert not staged.parent.parent.exists()  # swept before the run staged anything


def test_a_lock_that_is_already_the_runs_own_is_taken(spark: SparkSession, zones: Zones) -> None:
    """The metastore client retries an add whose answer a dropped connection lost: the retry finds the lock."""
    import os
    import socket

    mine = lock.Holder(new_run_id(), os.getpid(), socket.gethostname())
    plant_lock(spark, zones, "tinyretried", mine)
    lock.acquire(spark, zones, "tinyretried", mine.run_id)
    assert lock.holder_of(spark, "tinyretried") == mine
    assert lock.release(spark, "tinyretried", mine.run_id)


def test_a_lock_held_elsewhere_blocks_until_etl_unlock(  # type: ignore[no-untyped-def]
    spark: SparkSession, env: EnvConfig, tmp_path: Path, zones: Zones, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    plant_lock(spark, zones, "tinyq", lock.Holder("20240101T000000Z-0badc0de", 4242, "emr-core-node-7"))
    with pytest.raises(JobLocked, match=r"^tinyq is already running: run 20240101T000000Z-0badc0de \(pid 4242 on emr-core-node-7\)"):
        run_batch(make_job(spark, env, tmp_path, "blocked"), new_ctx(zones, "tinyq"))
    assert not spark.catalog.tableExists("unit_job.blocked")

    conf = tmp_path / "cli_conf"
    (conf / "jobs").mkdir(parents=True)
    (conf / "env").symlink_to(REPO_CONF / "env")
    (conf / "base.yaml").symlink_to(REPO_CONF / "base.yaml")
    (conf / "jobs" / "tinyq.yaml").write_text("description: any job named tinyq\nclass: tests.unit.test_job:Doubling\n")
    monkeypatch.setenv("ETL_LAKE_ROOT", str(local_path(zones.lake_root)))
    assert main(["--conf-dir", str(conf), "unlock", "tinyq", "--env", "test"]) == 0
    assert (
        capsys.readouterr().err.strip().endswith("tinyq: removed the lock of run 20240101T000000Z-0badc0de (pid 4242 on emr-core-node-7)")
    )
    assert run_batch(make_job(spark, env, tmp_path / "again", "blocked"), new_ctx(zones, "tinyq")).record.status == "succeeded"
