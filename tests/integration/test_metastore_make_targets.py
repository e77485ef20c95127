"""README's "Running against the local stand-ins yourself", run as written from the checkout: `make
metastore-up` starts MariaDB and a Hive metastore and prints its URI, `etl demo-data` and `etl backfill`
use it (env local-hms), `make metastore-down` stops both. Checked independently of Spark: the metastore
service, asked over Thrift, holds the warehouse's tables and a partition per order date of the raw extracts;
those partitions' files (read with DuckDB) hold one fact row per raw order line; after metastore-down no
process of it remains and its ports are closed."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from etl.dev.errors import ServiceUnavailable
from etl.dev.mariadb import MariaDB
from etl.dev.metastore import HiveMetastore
from etl.spark_internals import SPARK_LINE
from tests.integration.conftest import REPO, Lake, query, watched
from tests.readme import Block, blocks_run_by

# The make targets start the same Hive 2.3 metastore for either Spark line, and the 4.0 lane's clients of
# a metastore service are tested in test_metastore_service.py: run once, in the 3.5 lane (suite time).
pytestmark = [pytest.mark.integration, pytest.mark.skipif(SPARK_LINE != "3.5", reason=f"Spark {SPARK_LINE}: run in the 3.5 lane")]

FIRST, LAST = "1992-01-01", "1992-01-02"  # the README's month, two days of it here
URI = re.compile(r"thrift://127\.0\.0\.1:(\d+)")


@pytest.fixture
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The make targets' METASTORE_DIR: the test's own folder, not the checkout's .cache/metastore.
    Whatever is left running there when the test ends, failed or not, is stopped."""
    state = tmp_path_factory.mktemp("hms")
    try:
        HiveMetastore(state, MariaDB(state))  # java, mariadbd and its JDBC driver, or skip saying which is missing
    except ServiceUnavailable as missing:
        pytest.skip(str(missing))
    yield state
    subprocess.run([sys.executable, "-m", "etl.dev.metastore", "down", "--state-dir", str(state)], cwd=REPO, timeout=120, check=False)


def part(block: Block, commands: slice) -> Block:
    return dataclasses.replace(block, commands=block.commands[commands])


def processes_of(state: Path) -> list[int]:
    """The processes whose command line names the state folder (mariadbd's config, the metastore's classpath)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(state).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue  # ended meanwhile
    return found


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_make_targets_start_and_stop_the_metastore_the_readme_uses(state_dir: Path, tmp_path: Path) -> None:
    # METASTORE_DIR: the Makefile's `?=` takes it from the environment. make's SPARK is a reader's (3.5 unless
    # `make test SPARK=4.0` passes its own down): the metastore is Hive 2.3 from either line's jars.
    lake = Lake(tmp_path / "lake", environ={"METASTORE_DIR": str(state_dir), "ETL_DRIVER_MEMORY": "1g"})
    environ = {**os.environ, **lake.environ}
    planned = subprocess.run(["make", "-n", "metastore-up"], cwd=REPO, env=environ, capture_output=True, text=True, check=True).stdout
    if "pip install" in planned:
        pytest.fail("make metastore-up would first rebuild the venv (setup.py is newer): run `make setup` first")
    [block] = blocks_run_by(__file__)
    assert (block.commands[0].argv, block.commands[-1].argv) == (["make", "metastore-up"], ["make", "metastore-down"])

    [started] = lake.readme(part(block, slice(1)), cwd=REPO)
    # the URI's line (under `make test`, make also says which directory it enters and leaves)
    [uri] = [line for line in started.stdout.splitlines() if URI.fullmatch(line)]
    port = int(URI.fullmatch(uri).group(1))  # type: ignore[union-attr]
    service = watched(HiveMetastore(state_dir, MariaDB(state_dir)))
    assert service.uri_file.read_text().strip() == uri and listening(port)

    lake.readme(part(block, slice(1, -1)), {"thrift://127.0.0.1:PORT": uri, "1992-01-31": LAST}, cwd=REPO)

    from hmsclient.hmsclient import HMSClient  # the dev extra's pure-Python Thrift client

    targets = yaml.safe_load((REPO / "conf" / "jobs" / "sales_warehouse.yaml").read_text())["targets"].values()
    with HMSClient(host="127.0.0.1", port=port) as client:
        assert sorted(client.get_all_tables("warehouse")) == sorted(target["table"].split(".")[1] for target in targets)
        partitions = client.get_partitions("warehouse", "fact_sales", -1)
    order_dates = query(f"SELECT DISTINCT CAST(o_orderdate AS VARCHAR) FROM {lake.raw('orders', FIRST, LAST)} ORDER BY 1")
    assert sorted(partition.values for partition in partitions) == [list(row) for row in order_dates]
    files = [f"{partition.sd.location.removeprefix('file:')}/*.parquet" for partition in partitions]
    with duckdb.connect() as con:
        [(facts,)] = con.sql(f"SELECT count(*) FROM read_parquet({files!r})").fetchall()
    [(lines,)] = query(f"SELECT count(*) FROM {lake.raw('lineitem', FIRST, LAST)}")
    assert facts == lines > 0

    running = processes_of(state_dir)
    assert len(running) >= 2  # mariadbd and the metastore's JVM
    mariadb_port = int(re.search(r"^port=(\d+)$", (state_dir / "mariadb" / "my.cnf").read_text(), re.M).group(1))  # type: ignore[union-attr]
    lake.readme(part(block, slice(-1, None)), cwd=REPO)
    assert processes_of(state_dir) == []
    assert not listening(port) and not listening(mariadb_port)
