"""etl stream, while nothing arrives: one line a minute that says what it waits for (etl/run/stream.py)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from etl.run.stream import Counts, _wait

FOLDER = "file:///lake/raw/iot"


class Query:
    """A stand-in for a StreamingQuery: its progress reports are appended by the test."""

    def __init__(self) -> None:
        self.recentProgress: list[dict[str, Any]] = []
        self.isActive = True
        self.status = {"isTriggerActive": False}

    def exception(self) -> None:
        return None

    def stop(self) -> None:
        self.isActive = False


def test_a_stream_with_nothing_new_says_so_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    query, now, said = Query(), [0.0], []

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] == 150:  # a micro-batch of 5 rows at 2.5 min
            query.recentProgress.append({"batchId": 1, "numInputRows": 5})
        if now[0] == 360:  # 3.5 min after it
            query.stop()

    class At(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            said.append((now[0], record.getMessage()))

    handler = At()
    logging.getLogger("etl.run.stream").addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="etl.run.stream"):
            _wait({"out": query}, {"out": Counts()}, True, f"new files under {FOLDER}", sleep=sleep, clock=lambda: now[0])  # type: ignore[dict-item]
    finally:
        logging.getLogger("etl.run.stream").removeHandler(handler)
    assert said == [
        (60.0, f"waiting for new files under {FOLDER} (nothing new for 1 min)"),
        (120.0, f"waiting for new files under {FOLDER} (nothing new for 2 min)"),
        (150.0 + 60, f"waiting for new files under {FOLDER} (nothing new for 1 min)"),
        (150.0 + 120, f"waiting for new files under {FOLDER} (nothing new for 2 min)"),
        (150.0 + 180, f"waiting for new files under {FOLDER} (nothing new for 3 min)"),
    ]


def test_a_run_that_stops_when_all_is_processed_says_nothing_while_it_waits(caplog: pytest.LogCaptureFixture) -> None:
    query, now = Query(), [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        if now[0] == 300:
            query.stop()

    with caplog.at_level(logging.INFO, logger="etl.run.stream"):
        _wait({"out": query}, {"out": Counts()}, False, f"new files under {FOLDER}", sleep=sleep, clock=lambda: now[0])  # type: ignore[dict-item]
    assert caplog.records == []
