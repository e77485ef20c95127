"""What a failed `etl` command prints: its whole stderr, not only the last line.

A failure the product understands prints no Java stack trace, and the `etl: error:` line is the last line
(Spark is stopped before it is printed); the traces go to <lake>/logs/spark.log. An error raised in a job's
own code keeps its Python traceback in <lake>/logs/etl.log, and the error line says so.
"""

from __future__ import annotations

import inspect
import re
import shutil
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from pyspark.sql import DataFrame

from etl.context import RunContext
from etl.job import Job
from tests.integration.conftest import REPO, Lake, Result

pytestmark = pytest.mark.integration

DAY = "1992-01-01"
BUG = "no price list for segment 'MACHINERY'"
# The lines the etl command itself logs on the console while it works (etl/cli.py's handler).
PROGRESS = re.compile(r"^\d\d:\d\d:\d\d INFO etl(\.\w+)*: ")


class Broken(Job):
    """A job whose transform has a bug: it raises before it returns anything."""

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        raise ValueError(BUG)


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Result]:
    """One day of the TPC-H demo landed (by `etl -v demo-data`), and a conf dir that also declares the job `broken`."""
    home = tmp_path_factory.mktemp("console")
    shutil.copytree(REPO / "conf", home / "conf")
    job = {
        "description": "a transform that raises (tests/integration/test_console.py)",
        "class": "tests.integration.test_console:Broken",
        "targets": {"out": {"table": "console.out", "mode": "overwrite", "format": "parquet"}},
    }
    (home / "conf" / "jobs" / "broken.yaml").write_text(yaml.safe_dump(job))
    environ = {"ETL_CONF_DIR": str(home / "conf"), "PYTHONPATH": str(REPO), "ETL_DRIVER_MEMORY": "1g", "ETL_TABLE_FORMAT": "parquet"}
    lake = Lake(home / "lake", environ=environ)
    landing = lake.etl("-v", "demo-data", "--env", "test", "--scale", "0.01", "--from", DAY, "--to", DAY)
    assert landing.code == 0, landing.stderr[-3000:]
    return lake, landing


@pytest.fixture(scope="module")
def lake(landed: tuple[Lake, Result]) -> Lake:
    return landed[0]


def test_dash_v_brings_sparks_lines_back_to_the_console(landed: tuple[Lake, Result]) -> None:
    lake, landing = landed
    version = re.compile(r"^\d\d:\d\d:\d\d INFO SparkContext: Running Spark version \d+\.\d+\.\d+$", re.MULTILINE)
    assert version.search(landing.stderr)
    assert re.search(rf"^landed .+ under file://{lake.root}/raw/tpch$", landing.stderr, re.MULTILINE)
    # without -v, every other etl command of the tests shows only the project's own lines (Lake.etl_ok)


def stale_crc(file: Path) -> tuple[int, int]:
    """Write a Hadoop checksum file beside `file` that fits other content (its first byte changed, as
    when a tool edits a file that Hadoop wrote and leaves the .crc); returns the checksum the .crc holds
    for the first 512-byte chunk and the one the file's chunk has, as Hadoop prints them (signed)."""
    data = file.read_bytes()
    assert len(data) <= 512 * 64
    other = bytes([data[0] ^ 1]) + data[1:]
    chunks = [other[at : at + 512] for at in range(0, len(other), 512)]
    (file.parent / f".{file.name}.crc").write_bytes(
        b"crc\0" + struct.pack(">i", 512) + b"".join(struct.pack(">I", zlib.crc32(c)) for c in chunks)
    )

    def signed(value: int) -> int:
        return struct.unpack(">i", struct.pack(">I", value))[0]

    return signed(zlib.crc32(other[:512])), signed(zlib.crc32(data[:512]))


def test_a_stale_crc_file_fails_the_run_in_one_line_without_a_java_stack_trace(lake: Lake) -> None:
    [csv] = (lake.root / "raw" / "tpch" / "orders" / f"dt={DAY}").glob("*.csv")
    expected, found = stale_crc(csv)

    result = lake.etl("run", "sales_warehouse", "--env", "test", "--run-date", DAY)

    lines = result.stderr.splitlines()
    assert result.code == 1
    assert lines[-1] == (
        f"etl: error: ChecksumException: Checksum error: file:{csv} at 0 exp: {expected} got: {found} "
        f"(the file is not what the .crc file beside it says; if it was changed on purpose, delete that .crc file) "
        f"(traceback in {lake.root}/logs/etl.log)"
    )
    # everything before it is the command's own progress: no Spark warning, no trace, no task failure
    assert [line for line in lines[:-1] if not PROGRESS.match(line)] == []
    # the traces are in the logs
    spark_log = (lake.root / "logs" / "spark.log").read_text()
    assert re.search(r"WARN TaskSetManager: Lost task \S+ in stage \S+ \(TID \d+\) \(localhost executor driver\)", spark_log)
    assert f"ChecksumException: Checksum error: file:{csv} at 0 exp: {expected} got: {found}\n\tat org.apache.hadoop.fs" in spark_log


def test_a_bug_in_a_jobs_transform_leaves_its_traceback_in_the_log_and_says_where(lake: Lake) -> None:
    result = lake.etl("run", "broken", "--env", "test", "--run-date", DAY)

    lines = result.stderr.splitlines()
    assert result.code == 1
    assert lines[-1] == f"etl: error: ValueError: {BUG} (traceback in {lake.root}/logs/etl.log)"
    assert [line for line in lines[:-1] if not PROGRESS.match(line)] == []
    source, first = inspect.getsourcelines(Broken.transform)
    raised_at = first + len(source) - 1
    log = (lake.root / "logs" / "etl.log").read_text()
    assert f'  File "{__file__}", line {raised_at}, in transform\n    raise ValueError(BUG)\nValueError: {BUG}\n' in log
    # the audit row records the same error
    [row] = lake.sql("SELECT status, error FROM etl_audit.job_runs WHERE job = 'broken'")
    assert row == {"status": "failed", "error": f"ValueError: {BUG}"}
