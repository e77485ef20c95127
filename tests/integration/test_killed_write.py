"""A run SIGKILLed in the middle of its commit: readers see each partition's old or new data, never a mix,
no partition goes missing, no registered partition lacks data, and the next run completes correctly.

The job is this module's own `Generations` (a temporary conf dir declares it; the `etl` subprocess imports
it through PYTHONPATH): every row carries the run's generation, so old and new data differ in every row,
and a partition holding both, or neither, shows. It needs no input, so the runs are short.

When to kill: a run replacing 250 partitions switches them in batches of 100 (etl.catalog.PARTITION_BATCH),
one metastore transaction each, and logs after each batch. The test kills the run's whole process group
(the etl process and Spark's JVM) as soon as "100 of 250" appears in <lake>/logs/etl.log: the first batch
is then committed, the third cannot be (it starts only after the second, which takes about a second),
and the second is committed or rolled back whole, so the kill deterministically lands mid-commit.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import yaml
from pydantic import BaseModel, ConfigDict
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl.context import RunContext
from etl.job import Job
from tests.integration.conftest import ETL, REPO, Lake

pytestmark = pytest.mark.integration

FIRST = date(1992, 1, 1)
DAYS = 250  # three batches of partitions: 100, 100, 50
ROWS_PER_DAY = 4
LAST = FIRST + timedelta(days=DAYS - 1)
BACKFILL = ("backfill", "generations", "--env", "local", "--from", str(FIRST), "--to", str(LAST))
READS = ("SELECT day, key, generation FROM killed.by_day", "SELECT day, key, generation FROM killed.snapshot")
FILES = "SELECT DISTINCT day, input_file_name() AS file FROM killed.by_day"
# The first and last partition of each batch of 100 the commit switches.
SAMPLE = [str(FIRST + timedelta(days=d)) for d in (0, 99, 100, 199, 200, DAYS - 1)]
KILL_AT = f"killed.by_day: 100 of {DAYS} replaced partition(s) switched"


class Generations(Job):
    """ROWS_PER_DAY rows for every day of the window, each tagged with the generation the config names."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        generation: int
        rows_per_day: int

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        per_day = self.params.rows_per_day
        days = (ctx.window.last - ctx.window.first).days + 1
        rows = self.spark.range(days * per_day).select(
            (F.col("id") % per_day).alias("key"),
            F.lit(self.params.generation).alias("generation"),
            F.date_add(F.lit(ctx.window.first), (F.col("id") / per_day).cast("int")).alias("day"),
        )
        return {"by_day": rows, "snapshot": rows}


def expected(generation: int) -> list[tuple[str, int, int]]:
    """(day, key, generation) of every row a complete run of that generation loads."""
    return sorted((str(FIRST + timedelta(days=d)), k, generation) for d in range(DAYS) for k in range(ROWS_PER_DAY))


def configure(conf: Path, generation: int) -> None:
    job = {
        "description": "rows tagged with a generation, one partition per day (tests/integration/test_killed_write.py)",
        "class": "tests.integration.test_killed_write:Generations",
        "targets": {
            "by_day": {"table": "killed.by_day", "mode": "overwrite_partitions", "partition_by": ["day"], "format": "parquet"},
            "snapshot": {"table": "killed.snapshot", "mode": "overwrite", "format": "parquet"},
        },
        "params": {"generation": generation, "rows_per_day": ROWS_PER_DAY},
    }
    (conf / "jobs" / "generations.yaml").write_text(yaml.safe_dump(job))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    home = tmp_path_factory.mktemp("killed")
    shutil.copytree(REPO / "conf", home / "conf")
    environ = {"ETL_CONF_DIR": str(home / "conf"), "PYTHONPATH": str(REPO), "ETL_DRIVER_MEMORY": "1g", "ETL_TABLE_FORMAT": "parquet"}
    return Lake(home / "lake", environ=environ)


def kill_mid_commit(lake: Lake) -> None:
    """Start the run in its own process group and SIGKILL the group once the first batch is switched."""
    log = lake.root / "logs" / "etl.log"
    start = log.stat().st_size
    env = {**os.environ, "ETL_LAKE_ROOT": str(lake.root), **lake.environ}
    run = subprocess.Popen(
        [str(ETL), *BACKFILL], env=env, cwd=lake.root.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 300
        while KILL_AT not in log.read_bytes()[start:].decode():
            assert run.poll() is None, f"the run ended (exit {run.returncode}) before its commit could be interrupted"
            assert time.monotonic() < deadline, "the run never reached its commit"
            time.sleep(0.02)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL
    assert "replaced, 0 dropped" not in log.read_bytes()[start:].decode()  # the commit of by_day did not finish


def registered(lake: Lake) -> dict[str, str]:
    """Each partition of killed.by_day -> the local folder it is read from, in one Spark application.

    SHOW PARTITIONS is what the metastore registers; input_file_name() the folder Spark reads each one
    from; DESCRIBE ... PARTITION the location the metastore holds, for the first and last partition of
    each batch (DESCRIBE takes half a second per partition here; the folders Spark reads tell the rest).
    """
    describe = {day: f"DESCRIBE FORMATTED killed.by_day PARTITION (day = DATE '{day}')" for day in SAMPLE}
    lake.prefetch("SHOW PARTITIONS killed.by_day", FILES, *READS, *describe.values())
    partitions = [row["partition"].removeprefix("day=") for row in lake.sql("SHOW PARTITIONS killed.by_day")]
    assert partitions == [str(FIRST + timedelta(days=d)) for d in range(DAYS)]
    folders: dict[str, set[str]] = {}
    for row in lake.sql(FILES):
        folders.setdefault(row["day"], set()).add(local(row["file"].rsplit("/", 1)[0]))
    assert sorted(folders) == partitions  # Spark finds data in every registered partition
    assert all(len(read) == 1 for read in folders.values())  # each partition is read from one folder
    read_from = {day: read.pop() for day, read in folders.items()}
    for day, query in describe.items():
        location = next(row["data_type"] for row in lake.sql(query) if row["col_name"] == "Location")  # the partition's, then the table's
        assert local(location) == read_from[day]
    return read_from


def local(uri: str) -> str:
    """The path of a file: URI however Spark spells it (file:/x, file:///x)."""
    return "/" + uri.removeprefix("file:").lstrip("/")


def rows_in(folders: list[str]) -> dict[str, list[tuple[str, int, int]]]:
    """Each partition folder -> (day, key, generation) of the Parquet files directly in it, read by DuckDB."""
    files = sorted(str(file) for folder in folders for file in Path(folder).glob("*.parquet"))
    found: dict[str, list[tuple[str, int, int]]] = {folder: [] for folder in folders}
    with duckdb.connect() as con:
        for file, key, generation in con.sql(f"SELECT filename, key, generation FROM read_parquet({files}, filename = true)").fetchall():
            folder = str(Path(file).parent)
            found[folder].append((Path(folder).name.removeprefix("day="), key, generation))
    return {folder: sorted(rows) for folder, rows in found.items()}


def spark_rows(lake: Lake, table: str) -> list[tuple[str, int, int]]:
    return sorted((r["day"], int(r["key"]), int(r["generation"])) for r in lake.sql(f"SELECT day, key, generation FROM {table}"))


def test_a_killed_run_leaves_every_partition_old_or_new_and_the_next_run_repairs(lake: Lake) -> None:
    conf = Path(lake.environ["ETL_CONF_DIR"])
    configure(conf, generation=1)
    lake.etl_ok(*BACKFILL)

    configure(conf, generation=2)
    kill_mid_commit(lake)

    # What the metastore registers, read back file by file with DuckDB: every partition is there, with
    # data, and is all generation 1 or all generation 2, complete.
    locations = registered(lake)
    in_folders = rows_in(list(locations.values()))
    by_partition = {day: in_folders[folder] for day, folder in locations.items()}
    generations = {}
    for day, found in by_partition.items():
        assert found, f"{locations[day]}: a registered partition without data"
        [generation] = {g for _, _, g in found}
        assert found == [(day, k, generation) for k in range(ROWS_PER_DAY)]
        generations[day] = generation
    counts = {g: list(generations.values()).count(g) for g in (1, 2)}
    assert counts[2] >= 100 and counts[1] >= 50, counts  # killed in the middle of the commit
    # Spark reads exactly that through the metastore; the unpartitioned table was not reached: still old
    assert spark_rows(lake, "killed.by_day") == sorted(row for found in by_partition.values() for row in found)
    assert spark_rows(lake, "killed.snapshot") == expected(1)

    # The next run completes, and leaves the tables (and their storage) as a clean run of its generation
    configure(conf, generation=3)
    lake.etl_ok(*BACKFILL)
    lake.prefetch(*READS)
    assert spark_rows(lake, "killed.by_day") == expected(3)
    assert spark_rows(lake, "killed.snapshot") == expected(3)
    table = lake.root / "curated" / "killed.db" / "by_day"
    folders = {path.parent for path in table.rglob("*.parquet")}
    assert len(folders) == DAYS and len({folder.parent for folder in folders}) == 1  # one run folder: the killed run's is gone
    assert sorted(row for rows in rows_in([str(folder) for folder in folders]).values() for row in rows) == expected(3)
    assert [path.name for path in table.iterdir()] == [next(iter(folders)).parent.parent.name]  # <run>/etl_rows=loaded/day=.../
