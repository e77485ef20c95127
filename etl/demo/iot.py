"""Demo raw landing data: a device fleet's telemetry as Kinesis Data Firehose delivers it to S3.

Layout, under <raw>/iot/:
  YYYY/MM/DD/HH/iot-telemetry-1-YYYY-MM-DD-HH-MM-SS-<id>   one file per hour of arrival
One JSON reading per line: device_id, event_id, event_time (UTC, milliseconds), temperature, humidity,
battery. Each device reads every minute; now and then a device loses its connection for one to three
hours and sends its backlog when it is back (late readings, some later than a 10-minute watermark),
sends a reading twice, or sends a broken one. A file's modification time is its delivery time, so a
stream reads the files in the order they arrived (on S3, which keeps upload times, the order they were
uploaded in: by name, which is by hour).
"""

from __future__ import annotations

import json
import random
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pyspark.sql import SparkSession

from etl.context import DateWindow
from etl.spark_internals import fs
from etl.zones import Zones

FIRST_DAY = LAST_DAY = date(2024, 6, 1)
DEVICES_AT_SCALE_1 = 5_000


@dataclass(frozen=True)
class IotSummary:
    days: int
    files: int
    readings: int
    malformed: int

    def __str__(self) -> str:
        return f"{self.readings} readings ({self.malformed} malformed) in {self.files} files over {self.days} days"


def generate(
    spark: SparkSession, zones: Zones, scale: float, window: DateWindow, seed: int = 7, say: Callable[[str], None] = print
) -> IotSummary:
    root = zones.uri("raw", "iot")
    devices = [f"dev-{n:05d}" for n in range(1, max(2, round(DEVICES_AT_SCALE_1 * scale)) + 1)]
    arrivals: dict[datetime, list[str]] = {}  # delivery hour -> lines
    malformed = 0
    for day in window.days():
        say(f"telemetry of {day}")
        for device in devices:
            rng = random.Random(f"{seed}:iot:{device}:{day}")
            outage = _outage(day, rng, all_morning=device == devices[0])
            battery = rng.uniform(30, 100)  # drains through the day; recharged overnight
            for minute in range(24 * 60):
                at = datetime.combine(day, time()) + timedelta(minutes=minute, milliseconds=rng.randrange(60_000))
                arrives = outage[1] if outage and outage[0] <= at < outage[1] else at + timedelta(milliseconds=rng.randrange(5_000))
                line = _reading(device, at, battery - minute * 0.02, rng)
                if rng.random() < 0.002:
                    line, malformed = _broken(line, rng), malformed + 1
                copies = 2 if rng.random() < 0.01 else 1  # sent again: same event id and time
                arrivals.setdefault(arrives.replace(minute=0, second=0, microsecond=0), []).extend([line] * copies)
    delivered: dict[str, datetime] = {}  # file -> when Firehose delivered it: the end of its hour
    with tempfile.TemporaryDirectory(prefix="etl-demo-") as scratch:
        landing = Path(scratch)
        for hour, lines in sorted(arrivals.items()):
            name = f"{hour:%Y/%m/%d/%H}/iot-telemetry-1-{hour:%Y-%m-%d-%H-%M-%S}-{uuid.UUID(int=random.Random(f'{seed}:{hour}').getrandbits(128))}"
            (landing / name).parent.mkdir(parents=True, exist_ok=True)
            (landing / name).write_text("\n".join(lines) + "\n")
            delivered[name] = hour + timedelta(hours=1)
        fs.delete(spark, root)
        fs.copy_from_local(spark, landing, root)
    for name, at in delivered.items():
        fs.set_modified(spark, f"{root}/{name}", int(at.replace(tzinfo=UTC).timestamp() * 1000))
    readings = sum(len(lines) for lines in arrivals.values())
    return IotSummary(days=sum(1 for _ in window.days()), files=len(arrivals), readings=readings, malformed=malformed)


def _outage(day: date, rng: random.Random, all_morning: bool) -> tuple[datetime, datetime] | None:
    """About one device-day in four: offline for one to five hours, the backlog sent when back. The
    fleet's first device loses its connection every morning, 06:00 to 12:00 (readings later than any
    watermark of a few hours' micro-batches)."""
    if all_morning:
        return datetime.combine(day, time(6)), datetime.combine(day, time(12))
    if rng.random() > 0.25:
        return None
    start = datetime.combine(day, time()) + timedelta(minutes=rng.randrange(60, 20 * 60))
    return start, start + timedelta(minutes=rng.randrange(60, 300))


def _reading(device: str, at: datetime, battery: float, rng: random.Random) -> str:
    hot = rng.random() < 0.003  # a fault: the sensor overheats
    return json.dumps(
        {
            "device_id": device,
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "event_time": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "temperature": round(rng.uniform(61, 75) if hot else rng.gauss(22, 3), 2),
            "humidity": round(min(100.0, max(0.0, rng.gauss(45, 12))), 2),
            "battery": round(battery, 1),
        }
    )


def _broken(line: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return line[: rng.randrange(5, len(line) - 5)]  # cut short
    record = json.loads(line)
    record["temperature"] = "hot"  # a value of the wrong type
    return json.dumps(record)
