"""The iot_telemetry transform on readings written by hand (a static DataFrame: the same code runs on
the stream, whose watermark and late data tests/integration/test_iot_stream.py covers)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.sql import SparkSession

from jobs.iot_telemetry import Params, Threshold, device_windows

# The job's transform gives the same values with ANSI SQL off and on (the ansi fixture, tests/conftest.py).
pytestmark = pytest.mark.usefixtures("ansi")

READINGS = "device_id string, event_id string, event_time timestamp, temperature double, humidity double, battery double"
PARAMS = Params(thresholds={"temperature": Threshold(max=60), "battery": Threshold(min=15)})


def at(text: str) -> datetime:
    return datetime.fromisoformat(f"2024-06-01 {text}") if len(text) == 8 else datetime.fromisoformat(text)


def test_readings_make_one_row_per_device_and_five_minute_window(spark: SparkSession) -> None:
    readings = [
        ("d1", "e1", at("10:00:00"), 20.0, 50.0, 90.0),
        ("d1", "e2", at("10:04:59"), 24.0, 40.0, 80.0),
        ("d1", "e2", at("10:04:59"), 24.0, 40.0, 80.0),  # sent twice: counts once
        ("d1", "e3", at("10:05:00"), 61.0, 45.0, 14.0),  # the next window's first instant; crosses both thresholds
        ("d2", "e1", at("10:01:00"), 30.0, None, 50.0),  # no humidity reading
        ("d2", "e9", at("2024-06-01 23:58:00"), 10.0, 10.0, 10.0),  # the window that ends at midnight: its start's date
    ]
    rows = device_windows(spark.createDataFrame(readings, READINGS), PARAMS).orderBy("device_id", "window_start").collect()
    found = [
        (r.date, r.window_start, r.window_end, r.device_id, r.readings, r.temperature_min, r.temperature_max, r.temperature_avg,
         r.humidity_min, r.humidity_avg, r.battery_min, r.anomalies)
        for r in rows
    ]  # fmt: skip
    assert found == [
        (date(2024, 6, 1), at("10:00:00"), at("10:05:00"), "d1", 2, 20.0, 24.0, 22.0, 40.0, 45.0, 80.0, []),
        (
            date(2024, 6, 1),
            at("10:05:00"),
            at("10:10:00"),
            "d1",
            1,
            61.0,
            61.0,
            61.0,
            45.0,
            45.0,
            14.0,
            ["temperature_high", "battery_low"],
        ),
        (date(2024, 6, 1), at("10:00:00"), at("10:05:00"), "d2", 1, 30.0, 30.0, 30.0, None, None, 50.0, []),
        (date(2024, 6, 1), at("23:55:00"), at("2024-06-02 00:00:00"), "d2", 1, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, ["battery_low"]),
    ]


def test_without_thresholds_no_window_is_flagged(spark: SparkSession) -> None:
    readings = spark.createDataFrame([("d1", "e1", at("10:00:00"), 99.0, 99.0, 1.0)], READINGS)
    [row] = device_windows(readings, Params()).collect()
    assert (row.readings, row.anomalies) == (1, [])


def test_a_longer_window_takes_every_reading_in_it(spark: SparkSession) -> None:
    readings = [("d1", f"e{minute}", at(f"10:{minute:02d}:00"), float(minute), 50.0, 50.0) for minute in range(0, 15)]
    rows = device_windows(spark.createDataFrame(readings, READINGS), Params(window_minutes=10)).orderBy("window_start").collect()
    # minutes 0..9 (mean 4.5), then 10..14 (mean 12.0)
    assert [(r.window_start, r.readings, r.temperature_avg) for r in rows] == [(at("10:00:00"), 10, 4.5), (at("10:10:00"), 5, 12.0)]
