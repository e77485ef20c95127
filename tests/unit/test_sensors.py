"""Input sensors (a source's wait_for): a run waits for each day of its window to land, a marker file
or enough data files, and fails naming what is missing when it times out."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError
from pyspark.sql import SparkSession

from etl.config.models import SourceConfig
from etl.context import DateWindow, RunContext, new_run_id
from etl.errors import SourceError
from etl.extract.sensors import wait_for_input
from etl.zones import Zones, local_path

D1, D2 = date(2024, 7, 1), date(2024, 7, 2)


def source(**wait_for: object) -> SourceConfig:
    return SourceConfig.model_validate(
        {"format": "csv", "path": "sensed", "date_partition": "dt", "columns": {"id": "int"}, "wait_for": wait_for}
    )


def folder(zones: Zones, name: str, day: date) -> Path:
    path = Path(local_path(zones.uri("raw", name, f"dt={day}")))
    path.mkdir(parents=True, exist_ok=True)
    return path


class Clock:
    """Time that moves only when the sensor sleeps; each sleep may land something."""

    def __init__(self, on_sleep: Callable[[int], None] = lambda n: None) -> None:
        self.now, self.sleeps, self.on_sleep = 0.0, [], on_sleep

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        self.on_sleep(len(self.sleeps))


def ctx(zones: Zones, window: DateWindow) -> RunContext:
    return RunContext(job="sensed", env="test", window=window, run_id=new_run_id(), zones=zones)


def test_a_landed_marker_lets_the_run_go_at_once(spark: SparkSession, zones: Zones) -> None:
    (folder(zones, "sensed", D1) / "_SUCCESS").write_text("")
    clock = Clock()
    wait_for_input(spark, "orders", source(marker="_SUCCESS"), ctx(zones, DateWindow.day(D1)), sleep=clock.sleep, clock=lambda: clock.now)
    assert clock.sleeps == []


def test_the_run_waits_until_each_day_has_its_files(spark: SparkSession, zones: Zones, caplog: pytest.LogCaptureFixture) -> None:
    d1, d2 = folder(zones, "sensed", D1), folder(zones, "sensed", D2)
    for day in (d1, d2):
        for old in day.iterdir():
            old.unlink()
    (d1 / "part-0.csv").write_text("id\n1\n")
    (d1 / "part-1.csv").write_text("id\n2\n")
    (d2 / "part-0.csv").write_text("id\n3\n")
    (d2 / "_SUCCESS").write_text("")  # hidden: not a data file

    def land(sleeps: int) -> None:
        if sleeps == 3:
            (d2 / "part-1.csv").write_text("id\n4\n")

    clock = Clock(land)
    with caplog.at_level("INFO", logger="etl.extract.sensors"):
        wait_for_input(
            spark, "orders", source(min_files=2, poll_seconds=30, timeout_minutes=5), ctx(zones, DateWindow(D1, D2)),
            sleep=clock.sleep, clock=lambda: clock.now,
        )  # fmt: skip
    assert clock.sleeps == [30, 30, 30]
    base = zones.uri("raw", "sensed")
    assert [record.getMessage() for record in caplog.records] == [
        f"source orders: waiting for 2 file(s) in dt=2024-07-02 under {base} (a look every 30s, for up to 5 minute(s))",
        "source orders: the input has landed",
    ]


def test_a_timeout_fails_the_run_naming_the_missing_days(spark: SparkSession, zones: Zones) -> None:
    (folder(zones, "late", D1) / "_SUCCESS").write_text("")
    folder(zones, "late", D2)
    late = source(marker="_SUCCESS", poll_seconds=45, timeout_minutes=2).model_copy(update={"path": "late"})
    clock = Clock()
    with pytest.raises(SourceError) as raised:
        wait_for_input(spark, "orders", late, ctx(zones, DateWindow(D1, D2)), sleep=clock.sleep, clock=lambda: clock.now)
    assert str(raised.value) == f"source orders: _SUCCESS not in dt=2024-07-02 under {zones.uri('raw', 'late')} after waiting 2 minute(s)"
    assert clock.sleeps == [45, 45, 30]  # the last look at the deadline


@pytest.mark.parametrize(
    "wait_for, error",
    [
        ({}, "give one of 'marker' (a file such as _SUCCESS) and 'min_files'"),
        ({"marker": "_SUCCESS", "min_files": 2}, "give one of 'marker' (a file such as _SUCCESS) and 'min_files'"),
        ({"marker": "done/_SUCCESS"}, "'marker' is a file name in the day's folder, not a path"),
    ],
)
def test_a_sensor_needs_one_condition(wait_for: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match="wait_for") as raised:
        source(**wait_for)
    assert error in str(raised.value)
