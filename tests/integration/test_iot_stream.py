"""iot_telemetry end to end, two nights. Night one is the README's stream tour, run as written (the
fleet smaller): `etl demo-data iot` lands the first day's Firehose files, `etl run` takes them
uninterrupted, `etl stream` finds nothing new and stops cleanly on Ctrl-C, `etl sql` shows the first
anomalous windows. Night two: the second day's deliveries arrive; that night's `etl run` is killed in the
middle of its micro-batches and run again; `etl stream` picks up a file that lands later, and only it,
and stops cleanly on Ctrl-C.

The expected values are computed here from the raw files, in plain Python, by replaying what the job
documents: files in the order they arrived, files_per_batch of them per micro-batch; a reading is
late when its event time is not after the watermark, the latest event time of the earlier micro-batches
less 10 minutes; a reading sent again (same device, event id and time) counts once.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from statistics import fmean

import pytest
import yaml

from tests.integration.conftest import ETL, REPO, Lake, unexpected_lines
from tests.readme import Ran, blocks_run_by

pytestmark = pytest.mark.integration

DAYS = ("2024-06-01", "2024-06-02")
JOB = yaml.safe_load((REPO / "conf" / "jobs" / "iot_telemetry.yaml").read_text())
WATERMARK = timedelta(minutes=JOB["params"]["watermark_minutes"])
WINDOW = timedelta(minutes=JOB["params"]["window_minutes"])
TABLE_SQL = "SELECT * FROM analytics.iot_device_5min ORDER BY device_id, window_start"
AUDIT_SQL = (
    "SELECT status, rows_read['telemetry'] AS read, rows_malformed['telemetry'] AS malformed, "
    "rows_dropped['iot_device_5min.late'] AS late, rows_dropped['iot_device_5min.duplicate'] AS duplicates "
    "FROM etl_audit.job_runs ORDER BY started_at"
)
QUARANTINE_SQL = "SELECT record, source_file FROM quarantine.iot_telemetry_telemetry ORDER BY source_file, record"
METRICS = ["temperature", "humidity", "battery"]
KEYS = {"device_id", "event_id", "event_time", *METRICS}


@dataclass
class Batch:
    lines: int = 0
    malformed: list[tuple[str, str]] = field(default_factory=list)  # (record, file)
    late: int = 0
    duplicates: int = 0


@dataclass
class Replay:
    batches: list[Batch]
    kept: list[dict]  # readings counted, with their parsed event time ("at") and whether newer ones came first
    dropped_late: list[dict] = field(default_factory=list)


def _parse(line: str) -> dict | None:
    """A reading, or None when it does not parse with the declared columns."""
    try:
        record = json.loads(line)
        at = datetime.strptime(record["event_time"], "%Y-%m-%dT%H:%M:%S.%fZ")
        if not isinstance(record, dict) or set(record) != KEYS or not all(isinstance(record[m], int | float) for m in METRICS):
            return None
    except (ValueError, KeyError, TypeError):
        return None
    return {**record, "at": at}


def replay(raw: Path) -> Replay:
    files = sorted((f for f in raw.rglob("iot-telemetry-*") if f.is_file()), key=lambda f: (f.stat().st_mtime, str(f)))
    batches, kept, seen, dropped_late = [], [], set(), []
    per_batch = JOB["sources"]["telemetry"]["files_per_batch"]
    # Spark (3.5) filters late rows with the watermark of the micro-batch before: the latest event time of
    # the micro-batches before that one, less the delay
    watermark: datetime | None = None
    latest: datetime | None = None
    for first in range(0, len(files), per_batch):
        batch, latest_before = Batch(), latest
        lines = [(line, file) for file in files[first : first + per_batch] for line in file.read_text().splitlines()]
        for line, file in lines:
            if not line.strip():
                continue
            batch.lines += 1
            reading = _parse(line)
            if reading is None:
                batch.malformed.append((line, file.as_uri()))
                continue
            latest = max(latest or reading["at"], reading["at"])
            if watermark is not None and reading["at"] <= watermark:
                batch.late += 1
                dropped_late.append(reading)
                continue
            key = (reading["device_id"], reading["event_id"], reading["at"])
            if key in seen:
                batch.duplicates += 1
                continue
            seen.add(key)
            kept.append(reading | {"arrived_late": latest_before is not None and reading["at"] < latest_before})
        batches.append(batch)
        if latest_before is not None:
            watermark = max(watermark or latest_before - WATERMARK, latest_before - WATERMARK)
    return Replay(batches, kept, dropped_late)


def expected_windows(kept: list[dict]) -> list[dict]:
    thresholds = JOB["params"]["thresholds"]
    groups: dict[tuple[str, datetime], list[dict]] = defaultdict(list)
    for reading in kept:
        start = datetime.min + ((reading["at"] - datetime.min) // WINDOW) * WINDOW
        groups[(reading["device_id"], start)].append(reading)
    rows = []
    for (device, start), readings in sorted(groups.items()):
        row = {
            "device_id": device,
            "window_start": start.isoformat(),
            "window_end": (start + WINDOW).isoformat(),
            "readings": len(readings),
        }
        flags = []
        for metric in METRICS:
            values = [float(r[metric]) for r in readings]
            row |= {f"{metric}_min": min(values), f"{metric}_max": max(values), f"{metric}_avg": fmean(values)}
            if "max" in thresholds.get(metric, {}) and max(values) > thresholds[metric]["max"]:
                flags.append(f"{metric}_high")
            if "min" in thresholds.get(metric, {}) and min(values) < thresholds[metric]["min"]:
                flags.append(f"{metric}_low")
        rows.append(row | {"anomalies": flags, "date": start.date().isoformat()})
    return rows


def loaded_windows(lake: Lake) -> list[dict]:
    rows = []
    for row in lake.sql(TABLE_SQL):
        typed: dict = {key: float(value) if key.endswith(("_min", "_max", "_avg")) else value for key, value in row.items()}
        rows.append(typed | {"readings": int(row["readings"]), "anomalies": json.loads(row["anomalies"])})
    return rows


def assert_same_windows(loaded: list[dict], expected: list[dict]) -> None:
    assert len(loaded) == len(expected)
    for got, want in zip(loaded, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-12) if key.endswith("_avg") else got[key] == value, (key, got, want)


def committed(lake: Lake, query: str) -> int:
    """How many micro-batches of a query its checkpoint holds as committed."""
    folder = lake.root / "checkpoints" / "iot_telemetry" / query / "commits"
    return len([f for f in folder.iterdir() if re.fullmatch(r"\d+", f.name)]) if folder.is_dir() else 0


def start(lake: Lake, *args: str) -> subprocess.Popen:
    env = {**os.environ, "ETL_LAKE_ROOT": str(lake.root), "ETL_CONF_DIR": str(REPO / "conf")}
    return subprocess.Popen(
        [str(ETL), *args],
        env=env,
        cwd=lake.root.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(condition, what: str, seconds: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


class SparkLog:
    """Whether the lake's Spark log (lake/logs/spark.log) has said something since this was made."""

    def __init__(self, lake: Lake, text: str) -> None:
        self.file, self.text = lake.root / "logs" / "spark.log", text.encode()
        self.read, self.tail = (self.file.stat().st_size if self.file.exists() else 0), b""

    def __call__(self) -> bool:
        if not self.file.exists():
            return False
        with self.file.open("rb") as log:
            log.seek(self.read)
            new = log.read()
        self.read += len(new)
        self.tail = self.tail[-len(self.text) :] + new  # a line written in two parts is still found
        return self.text in self.tail


# What Spark's stream logs once a query has found nothing new for 10 s: it waits (etl stream's own line
# comes after a minute). By then etl stream has started its queries and takes Ctrl-C as a stop.
IDLE = "Streaming query has been idle and waiting for new data"


@dataclass
class Nights:
    lake: Lake
    tour: list[Ran]  # the README's commands: demo-data, run, stream, sql
    first: Replay  # the first night's files
    first_table: list[dict]  # the table after the first night
    first_stored: int  # rows in the table's storage after the first night (read with DuckDB)
    both: Replay  # every file
    resumed_at: int  # the first micro-batch the second night's rerun ran (its quarantine query's)


@pytest.fixture(scope="module")
def nights(lake: Lake) -> Nights:
    """Night one: the README's tour (the first day landed, one uninterrupted run, a stream with nothing
    new, the anomalous windows). Night two: the second day's deliveries arrive; the run is killed once 2
    of its micro-batches are committed, then run again to the end."""
    [block] = blocks_run_by(__file__)
    smaller = {"etl demo-data iot --env local": "etl demo-data iot --env local --scale 0.002"}
    tour = lake.readme(block, replace=smaller, interrupt_when=SparkLog(lake, IDLE))
    raw = lake.root / "raw" / "iot"
    lake.prefetch(TABLE_SQL)
    first, first_table, first_stored = replay(raw), loaded_windows(lake), len(lake.storage("analytics.iot_device_5min"))

    landed = {file: (file.stat().st_mtime, file.read_bytes()) for file in raw.rglob("iot-telemetry-*")}
    lake.etl_ok("demo-data", "iot", "--env", "local", "--scale", "0.002", "--to", DAYS[1])
    # the first day's files land again as they were (a stream never reads a file it has seen again), the
    # second day's are new
    assert {file: (file.stat().st_mtime, file.read_bytes()) for file in landed} == landed
    assert {day.name for day in (raw / "2024" / "06").iterdir()} == {"01", "02"}

    run = start(lake, "run", "iot_telemetry", "--env", "local", "--run-date", DAYS[1])
    night_one = len(first.batches)
    try:
        wait_for(lambda: committed(lake, "iot_device_5min") >= night_one + 2 or run.poll() is not None, "2 committed micro-batches")
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    assert run.returncode == -signal.SIGKILL
    resumed_at = committed(lake, "quarantine_telemetry")
    both = replay(raw)
    assert night_one + 2 <= committed(lake, "iot_device_5min") < len(both.batches)
    lake.etl_ok("run", "iot_telemetry", "--env", "local", "--run-date", DAYS[1])
    lake.prefetch(TABLE_SQL, AUDIT_SQL, QUARANTINE_SQL)
    return Nights(lake, tour, first, first_table, first_stored, both, resumed_at)


def test_late_readings_within_the_watermark_are_counted_later_ones_dropped_and_counted(nights: Nights) -> None:
    """An uninterrupted run: every window, and the audit's counts, equal the replay's exactly."""
    expected = nights.first
    assert_same_windows(nights.first_table, expected_windows(expected.kept))
    audit = nights.lake.sql(AUDIT_SQL)[0]
    assert audit == {
        "status": "succeeded",
        "read": str(sum(b.lines for b in expected.batches)),
        "malformed": str(sum(len(b.malformed) for b in expected.batches)),
        "late": str(sum(b.late for b in expected.batches)),
        "duplicates": str(sum(b.duplicates for b in expected.batches)),
    }
    # the demo has both kinds: readings that arrived after newer ones yet within the watermark, and later ones
    assert sum(1 for r in expected.kept if r["arrived_late"]) > 100 and len(expected.dropped_late) > 100


def test_the_readme_stream_with_nothing_new_waits_stops_on_ctrl_c_and_changes_nothing(nights: Nights) -> None:
    assert [ran.command.argv[:2] for ran in nights.tour] == [["etl", "demo-data"], ["etl", "run"], ["etl", "stream"], ["etl", "sql"]]
    assert "stopping after the micro-batch in progress" in nights.tour[2].stderr  # Ctrl-C: a clean stop, exit 0
    # it read nothing and wrote nothing: the table is night one's run's, exactly (the test above), and its
    # storage holds no row besides
    assert nights.lake.sql(AUDIT_SQL)[1] == {"status": "succeeded", "read": "0", "malformed": "0", "late": "0", "duplicates": "0"}
    assert nights.first_stored == len(nights.first_table)


def test_the_readme_query_shows_the_first_anomalous_windows(nights: Nights) -> None:
    printed = list(csv.DictReader(io.StringIO(nights.tour[3].stdout)))
    expected = {(w["device_id"], w["window_start"]): w for w in expected_windows(nights.first.kept) if w["anomalies"]}
    first = sorted(start for _, start in expected)[:10]  # by window_start, LIMIT 10 (a tie may take either device)
    assert [row["window_start"] for row in printed] == first
    for row in printed:
        want = expected[(row["device_id"], row["window_start"])]
        got = (int(row["readings"]), float(row["temperature_max"]), json.loads(row["anomalies"]))
        assert got == (want["readings"], want["temperature_max"], want["anomalies"]), row


def test_a_run_killed_in_the_middle_then_rerun_loses_and_repeats_nothing(nights: Nights) -> None:
    """Where the run was killed shifts Spark's watermark after the restart (a micro-batch's late rows are
    judged by a watermark that lags one or two micro-batches), so a reading that arrived late may count
    or not. Every window no late reading touches equals the replay's exactly; the others never count a
    reading twice or one that did not arrive."""
    expected = nights.both
    loaded = loaded_windows(nights.lake)
    by_key = {(w["device_id"], w["window_start"]): w for w in loaded}
    assert len(by_key) == len(loaded)  # one row per device and window
    touched = {key(r) for r in expected.dropped_late + [r for r in expected.kept if r["arrived_late"]]}
    exact = [w for w in expected_windows(expected.kept) if (w["device_id"], w["window_start"]) not in touched]
    assert_same_windows([by_key[(w["device_id"], w["window_start"])] for w in exact], exact)
    possible = {(w["device_id"], w["window_start"]): w for w in expected_windows(expected.kept + expected.dropped_late)}
    assert set(by_key) <= set(possible)
    assert all(w["readings"] <= possible[k]["readings"] for k, w in by_key.items())
    assert len(exact) > 4000 and len(touched) > 20  # most windows are exact; the demo has late readings
    # the killed run wrote no audit row (after night one's run and stream); the rerun counts the
    # micro-batches it ran
    audit = nights.lake.sql(AUDIT_SQL)
    rest = expected.batches[nights.resumed_at :]
    assert len(audit) == 3
    assert (audit[2]["status"], audit[2]["read"], audit[2]["malformed"]) == (
        "succeeded", str(sum(b.lines for b in rest)), str(sum(len(b.malformed) for b in rest))
    )  # fmt: skip
    assert int(audit[2]["duplicates"]) > 0  # every hour's file has some; late ones need not be in the rerun's part


def key(reading: dict) -> tuple[str, str]:
    start = datetime.min + ((reading["at"] - datetime.min) // WINDOW) * WINDOW
    return reading["device_id"], start.isoformat()


def test_malformed_records_are_quarantined_once_with_their_file(nights: Nights) -> None:
    lake, expected = nights.lake, nights.both
    held = [(row["record"], row["source_file"]) for row in lake.sql(QUARANTINE_SQL)]
    want = sorted((record, file) for batch in expected.batches for record, file in batch.malformed)
    assert sorted(held) == want and len(want) > 0


def test_etl_stream_takes_new_files_until_ctrl_c_then_stops_cleanly(nights: Nights) -> None:
    lake = nights.lake
    readings = [
        {"device_id": "dev-09999", "event_id": f"e{n}", "event_time": f"2024-06-04T00:0{n}:00.000Z", "temperature": 70.0 + n,
         "humidity": 50.0, "battery": 80.0}
        for n in range(3)
    ]  # fmt: skip
    new_file = lake.root / "raw" / "iot" / "2024" / "06" / "04" / "00" / "iot-telemetry-1-2024-06-04-00-00-00-late-arrival"
    new_file.parent.mkdir(parents=True)
    new_file.write_text("".join(json.dumps(r) + "\n" for r in readings))
    before = committed(lake, "iot_device_5min")
    stream = start(lake, "stream", "iot_telemetry", "--env", "local", "--every", "1")
    try:
        wait_for(lambda: committed(lake, "iot_device_5min") > before or stream.poll() is not None, "a micro-batch of the new file")
        os.killpg(stream.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group (PySpark starts its JVM ignoring it)
        _, stderr = stream.communicate(timeout=120)
    finally:
        if stream.poll() is None:
            os.killpg(stream.pid, signal.SIGKILL)
    assert stream.returncode == 0, stderr[-2000:]
    assert unexpected_lines(stderr) == []  # as of every successful command (Lake.etl_ok)
    lake.prefetch(
        "SELECT window_start, readings, temperature_max, anomalies FROM analytics.iot_device_5min WHERE device_id = 'dev-09999'", AUDIT_SQL
    )
    windows = lake.sql(
        "SELECT window_start, readings, temperature_max, anomalies FROM analytics.iot_device_5min WHERE device_id = 'dev-09999'"
    )
    assert windows == [
        {"window_start": "2024-06-04T00:00:00", "readings": "3", "temperature_max": "72.0", "anomalies": '["temperature_high"]'}
    ]
    # it read the new file only: after the killed night and its rerun, nothing else was left to do
    assert lake.sql(AUDIT_SQL)[-1] == {"status": "succeeded", "read": "3", "malformed": "0", "late": "0", "duplicates": "0"}
