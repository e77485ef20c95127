"""A restart of the Hive metastore service in the middle of a run (env local-hms): the run waits for the
service to come back and completes, and its tables hold what DuckDB computes from the raw extracts.

The order of events is forced, not timed. The run is a rerun (a first day is loaded before), so its load
lists, adds and moves partitions. As soon as it logs that it is publishing its first table, its whole process
group is frozen (SIGSTOP), the service is stopped, and the run goes on (SIGCONT) against a stopped service:
its load has metastore calls left (every partition of three tables, the audit row, the lock), so it must
meet the stopped service, and the test waits until spark.log shows a connection refused. Only then is the
service started again, on the same port and database.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from etl.dev.metastore import HiveMetastore
from tests.integration.conftest import ETL, REPO, Lake, Result
from tests.integration.expected import (
    WAREHOUSE_SQL,
    aggregate_rows,
    dimension_rows,
    expected_aggregates,
    expected_dimension,
    expected_fact_keys,
    fact_keys,
)
from tests.leaks import record_output

pytestmark = pytest.mark.integration

FIRST, LAST = "1992-01-01", "1992-01-04"
BACKFILL = ("backfill", "sales_warehouse", "--env", "local-hms", "--from", FIRST, "--to", LAST)
LOADING = "publishing fact_sales into warehouse.fact_sales"
REFUSED = "java.net.ConnectException: Connection refused"
AUDIT_SQL = "SELECT run_date, status, error FROM etl_audit.job_runs ORDER BY started_at"
JAVA_FRAME = re.compile(r"^\s+at [\w$.<>]+\(.*\)$", re.MULTILINE)


@pytest.fixture(scope="module")
def service(plain_metastore: HiveMetastore) -> HiveMetastore:
    return plain_metastore


def wait_for(text: str, path: Path, offset: int, run: subprocess.Popen[bytes], what: str) -> None:
    """Until `text` appears in `path` after `offset`; fails if the run ends first (generous timeout)."""
    deadline = time.monotonic() + 300
    while not (path.is_file() and text in path.read_bytes()[offset:].decode(errors="replace")):
        assert run.poll() is None, f"the run ended (exit {run.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within 300 s"
        time.sleep(0.05)


def backfill_through_a_restart(lake: Lake, service: HiveMetastore, work: Path) -> tuple[Result, str]:
    """The backfill in a subprocess, the service restarted under it; returns its result and what spark.log
    says about the time the service was down."""
    etl_log, spark_log = lake.root / "logs" / "etl.log", lake.root / "logs" / "spark.log"
    offset = etl_log.stat().st_size
    env = {**os.environ, "ETL_LAKE_ROOT": str(lake.root), "ETL_CONF_DIR": str(REPO / "conf"), **lake.environ}
    port = service.port
    with (work / "stdout").open("wb") as stdout, (work / "stderr").open("wb") as stderr:
        run = subprocess.Popen([str(ETL), *BACKFILL], env=env, cwd=lake.root.parent, stdout=stdout, stderr=stderr, start_new_session=True)
        try:
            wait_for(LOADING, etl_log, offset, run, "its load")
            os.killpg(run.pid, signal.SIGSTOP)
            try:
                service.stop()
                down = spark_log.stat().st_size
            finally:
                os.killpg(run.pid, signal.SIGCONT)
            wait_for(REFUSED, spark_log, down, run, "a connection refused by the stopped service")
            service.start(port=port)
            run.wait(timeout=600)
        finally:
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
                run.wait(timeout=60)
            if service.running_pid() is None:  # for the fixture's other users, whatever happened
                service.start(port=port)
    result = Result(run.returncode, (work / "stdout").read_text(), (work / "stderr").read_text())
    record_output(f"etl {' '.join(BACKFILL)}", result.stdout + result.stderr)
    outage = spark_log.read_bytes()[down:].decode(errors="replace")
    return result, outage


def test_a_run_survives_a_restart_of_the_metastore_service(service: HiveMetastore, tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake", env="local-hms", environ={"ETL_METASTORE_URIS": service.uris, "ETL_DRIVER_MEMORY": "1g"})
    lake.etl_ok("demo-data", "--env", "local-hms", "--scale", "0.01", "--from", FIRST, "--to", LAST)
    lake.etl_ok("run", "sales_warehouse", "--env", "local-hms", "--run-date", FIRST)

    result, outage = backfill_through_a_restart(lake, service, tmp_path)

    assert result.code == 0, f"the run failed across the restart:\n{result.stderr[-3000:]}"
    assert service.uris == lake.environ["ETL_METASTORE_URIS"]  # the same service, back on its port
    # It met the stopped service and retried, saying so in one line per attempt, without a stack trace
    assert REFUSED in outage and "MetaStoreClient lost connection. Attempting to reconnect" in outage
    assert "MetaStoreClient lost connection. Attempting to reconnect (1 of 15)" in result.stderr
    assert not JAVA_FRAME.search(result.stderr), result.stderr[-3000:]
    # Nor did Hive close the client for a change of its settings (HIVE-24404: setting up Hive's SQL-standard
    # authorizer on the first partition listing of a rerun did, then "lost connection ... null outputStream")
    spark_log = (lake.root / "logs" / "spark.log").read_text()
    assert "Mestastore configuration hive.metastore.filter.hook changed" not in spark_log  # sic: Hive's spelling
    assert "Cannot write to null outputStream" not in spark_log

    lake.prefetch(*WAREHOUSE_SQL, AUDIT_SQL)
    facts = expected_fact_keys(lake, FIRST, LAST)
    assert fact_keys(lake) == facts and len(facts) > 100
    assert dimension_rows(lake) == expected_dimension(lake, FIRST, LAST)
    assert aggregate_rows(lake) == expected_aggregates(lake, FIRST, LAST)
    assert lake.sql(AUDIT_SQL) == [
        {"run_date": FIRST, "status": "succeeded", "error": ""},
        {"run_date": LAST, "status": "succeeded", "error": ""},
    ]
