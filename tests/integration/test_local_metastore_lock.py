"""Two `etl` commands on one lake's embedded (Derby) metastore: the second fails at once with one line
naming the command that holds it, or, with --wait, says it waits and runs once the holder is done.

The holder is a small process that takes the lock through the project's own function
(etl.metastore_lock.take, as `etl` does before it starts Spark) and keeps it until the test closes its
stdin: the test decides when the holder ends, so nothing here depends on timing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import ETL, REPO, Lake

pytestmark = pytest.mark.integration

HOLDER_COMMAND = "etl run sales_warehouse --env local --run-date 1992-01-01"
HOLD = f"""
import sys
from pathlib import Path
from etl.config import ConfigDir
from etl.metastore_lock import lock_path, take
take(lock_path(ConfigDir(Path(sys.argv[1])).env("local")), {HOLDER_COMMAND!r})
print("held", flush=True)
sys.stdin.read()  # until the test closes it
"""


def environ(lake: Lake) -> dict[str, str]:
    return {**os.environ, "ETL_LAKE_ROOT": str(lake.root), "ETL_CONF_DIR": str(REPO / "conf"), "PYTHONPATH": str(REPO)}


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Lake, subprocess.Popen[str]]]:
    lake = Lake(tmp_path / "lake")
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(REPO / "conf")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environ(lake)
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        yield lake, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)


def in_use(lake: Lake, pid: int) -> str:
    """The line naming the holder, its start time as a pattern (the holder's clock, not the test's)."""
    return (
        re.escape(f"the local metastore under {lake.root} is in use by `{HOLDER_COMMAND}` (pid {pid}, since ")
        + r"\d\d:\d\d:\d\d"
        + re.escape(")")
    )


def test_a_second_command_fails_at_once_in_one_line_naming_the_holder(holder: tuple[Lake, subprocess.Popen[str]]) -> None:
    lake, process = holder
    expected = "etl: error: " + in_use(lake, process.pid) + re.escape("; wait for it, or pass --wait")
    (lake.root / "raw" / "tpch" / "orders").mkdir(parents=True)  # something landed: else the run says that first
    for command in (("sql", "--env", "local", "SELECT 1"), ("run", "sales_warehouse", "--env", "local", "--run-date", "1992-01-02")):
        result = lake.etl(*command)
        assert result.code == 1
        [line] = result.stderr.splitlines()  # nothing else: Spark never started
        assert re.fullmatch(expected, line), line
        assert result.stdout == ""
    assert not (lake.root / "metastore_db").exists()


def test_with_wait_it_says_so_and_runs_when_the_holder_is_done(holder: tuple[Lake, subprocess.Popen[str]]) -> None:
    lake, process = holder
    waiting = subprocess.Popen(
        [str(ETL), "sql", "--env", "local", "--wait", "SELECT 1 AS one"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ(lake),
        cwd=lake.root.parent,
    )
    try:
        assert waiting.stderr is not None
        first = waiting.stderr.readline()  # printed while the holder still holds the lock
        assert re.fullmatch("etl: " + in_use(lake, process.pid) + re.escape("; waiting for it") + "\n", first), first
        assert waiting.poll() is None  # still waiting: the holder has not let go
        assert process.stdin is not None
        process.stdin.close()
        assert process.wait(timeout=60) == 0
        out, rest = waiting.communicate(timeout=600)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.wait(timeout=60)
    assert waiting.returncode == 0, rest
    assert out == "one\n1\n"
    # then Spark ran as usual: nothing but the progress bar (redrawn with carriage returns) if a stage was slow
    assert [line for line in rest.splitlines() if line.strip() and not line.startswith("[Stage ")] == []
