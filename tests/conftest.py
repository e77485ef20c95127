"""One SparkSession for the whole suite, built by the project's own session code in the `test` env,
with its lake (Derby metastore, warehouse, zones) in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl.config import ConfigDir
from etl.config.models import EnvConfig
from etl.context import DateWindow, RunContext
from etl.session import build_session
from etl.zones import Zones

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def conf(tmp_path_factory: pytest.TempPathFactory) -> ConfigDir:
    lake = tmp_path_factory.mktemp("lake")
    return ConfigDir(REPO / "conf", environ={"ETL_LAKE_ROOT": str(lake)})


@pytest.fixture(scope="session")
def env(conf: ConfigDir) -> EnvConfig:
    return conf.env("test")


@pytest.fixture(scope="session")
def spark(env: EnvConfig) -> Iterator[SparkSession]:
    session = build_session(env, "etl-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def zones(env: EnvConfig) -> Zones:
    return Zones.from_env(env)


@pytest.fixture
def make_ctx(zones: Zones):  # type: ignore[no-untyped-def]
    counter = iter(range(1_000_000))

    def make(first: date, last: date | None = None, job: str = "unit") -> RunContext:
        return RunContext(job=job, env="test", window=DateWindow(first, last or first), run_id=f"run{next(counter):04d}", zones=zones)

    return make
