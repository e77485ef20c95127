"""Real-time IoT telemetry: devices -> Kinesis (or Firehose files) -> Spark Structured Streaming -> S3.

iot_device_5min  per device and event-time window (5 minutes): readings, min / max / avg of each
                 metric, and the thresholds crossed; partitioned by the window's date

Late data: a reading counts when it arrives before the watermark (the latest event time seen, less
`watermark_minutes`) passes it; a later one is dropped and counted (rows_dropped iot_device_5min.late),
and a reading sent twice (same device, event id and time) counts once (iot_device_5min.duplicate).
A window that late readings change is written again (the target merges on device and window).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.context import RunContext
from etl.job import Job

METRICS = ["temperature", "humidity", "battery"]


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min: float | None = Field(None, description="flag <metric>_low when a reading of the window is below it")
    max: float | None = Field(None, description="flag <metric>_high when a reading of the window is above it")


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    window_minutes: int = Field(5, gt=0)
    watermark_minutes: int = Field(10, ge=0)
    thresholds: dict[str, Threshold] = Field(default_factory=dict, description="metric -> the range its readings should stay in")


def anomalies(thresholds: Mapping[str, Threshold]) -> Column:
    """The names of the thresholds a window's readings crossed, e.g. ["temperature_high"] (empty: none)."""
    flags = []
    for metric, threshold in thresholds.items():
        if threshold.max is not None:
            flags.append(F.when(F.col(f"{metric}_max") > threshold.max, F.lit(f"{metric}_high")))
        if threshold.min is not None:
            flags.append(F.when(F.col(f"{metric}_min") < threshold.min, F.lit(f"{metric}_low")))
    return F.array_compact(F.array(*flags)) if flags else F.array().cast("array<string>")


def device_windows(readings: DataFrame, params: Params) -> DataFrame:
    """Readings (a stream or not) -> one row per device and window, duplicates and late readings dropped."""
    unique = readings.withWatermark("event_time", f"{params.watermark_minutes} minutes").dropDuplicates(
        ["device_id", "event_id", "event_time"]
    )
    window = F.window("event_time", f"{params.window_minutes} minutes")
    stats = [
        agg(F.col(metric)).alias(f"{metric}_{name}") for metric in METRICS for name, agg in (("min", F.min), ("max", F.max), ("avg", F.avg))
    ]
    windows = unique.groupBy(window.alias("window"), "device_id").agg(F.count(F.lit(1)).alias("readings"), *stats)
    return windows.select(
        F.to_date(F.col("window.start")).alias("date"),
        F.col("window.start").alias("window_start"),
        F.col("window.end").alias("window_end"),
        "device_id",
        "readings",
        *(f"{metric}_{name}" for metric in METRICS for name in ("min", "max", "avg")),
    ).withColumn("anomalies", anomalies(params.thresholds))


class IotTelemetry(Job):
    Params = Params

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"iot_device_5min": device_windows(sources["telemetry"], self.params)}
