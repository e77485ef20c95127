"""One SparkSession for the whole suite, built by the project's own session code in the `test` env,
with its lake (Derby metastore, warehouse, zones) in a temporary folder."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.config import ConfigDir
from etl.config.models import EnvConfig
from etl.context import DateWindow, RunContext, new_run_id
from etl.session import build_session, stop_session
from etl.zones import Zones
from tests.lanes import ICEBERG
from tests.leaks import OUTPUTS, SECRETS, leaks, record_output

REPO = Path(__file__).resolve().parents[1]

# Every JVM the tests start through spark-submit (the suite's session, each `etl` command) is short and
# works on little data: C1-only compilation and the serial collector halve its CPU (a one-day demo run
# measured 52 -> 28 s of CPU, 30 -> 23 s wall), and the suite is CPU-bound on two cores. Not the
# product's default: long runs on real data want the C2 compiler.
os.environ.setdefault("SPARK_SUBMIT_OPTS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture(scope="session")
def conf(tmp_path_factory: pytest.TempPathFactory) -> ConfigDir:
    lake = tmp_path_factory.mktemp("lake")
    return ConfigDir(REPO / "conf", environ={"ETL_LAKE_ROOT": str(lake)})


@pytest.fixture(scope="session")
def env(conf: ConfigDir) -> EnvConfig:
    return conf.env("test")


# Delta's jars cannot be fetched on the project's CI machine; where they exist, point this at them
# (comma-separated paths) and the Delta tests run instead of skipping.
DELTA_JARS = os.environ.get("ETL_TEST_DELTA_JARS", "")


@pytest.fixture(scope="session")
def spark(env: EnvConfig) -> Iterator[SparkSession]:
    if DELTA_JARS:
        env = env.model_copy(update={"spark": env.spark.model_copy(update={"conf": {**env.spark.conf, "spark.jars": DELTA_JARS}})})
    session = build_session(env, "etl-tests", {"delta"} if DELTA_JARS else ({"iceberg"} if ICEBERG else set()))
    yield session
    stop_session(session)


@pytest.fixture(params=[False, True], ids=["ansi-off", "ansi-on"])
def ansi(request: pytest.FixtureRequest, spark: SparkSession) -> Iterator[bool]:
    """The test once with ANSI SQL off (Spark 3.5's default) and once on (Spark 4.0's, so EMR 8's): a job
    must give the same values either way (`pytestmark = pytest.mark.usefixtures("ansi")`)."""
    before = spark.conf.get("spark.sql.ansi.enabled")
    spark.conf.set("spark.sql.ansi.enabled", str(request.param).lower())
    yield request.param
    spark.conf.set("spark.sql.ansi.enabled", before)


@pytest.fixture(scope="session")
def zones(env: EnvConfig) -> Zones:
    return Zones.from_env(env)


@pytest.fixture
def make_ctx(zones: Zones):  # type: ignore[no-untyped-def]
    def make(first: date, last: date | None = None, job: str = "unit") -> RunContext:
        return RunContext(job=job, env="test", window=DateWindow(first, last or first), run_id=new_run_id(), zones=zones)

    return make


# --- the secrets check over the whole run (tests/leaks.py) ----------------------------------------------


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for section, text in report.sections:
        record_output(f"{report.nodeid}: {section}", text)
    if report.longrepr:
        record_output(f"{report.nodeid}: failure", report.longreprtext)


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_output(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Set up first, so torn down last: after every server has stopped and left its logs."""
    yield
    base = tmp_path_factory.getbasetemp()
    found = leaks(SECRETS, OUTPUTS, [base])
    assert found == [], f"a test secret was printed or written: {found}"


@pytest.fixture
def emr_endpoint() -> Iterator[str]:
    """moto's server on 127.0.0.1 (EMR, EMR Serverless, S3, SNS, Scheduler...), its state reset first:
    moto keeps one state per process."""
    from moto.server import ThreadedMotoServer

    from etl.dev.ports import free_port

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
    try:
        yield endpoint
    finally:
        server.stop()
