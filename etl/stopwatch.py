"""Where a run spends its time, stage by stage, for its log line and the benchmark's chart."""

from __future__ import annotations

import json
import time


class Stopwatch:
    """lap(stage) closes the stage that began at the previous lap (or at the start)."""

    def __init__(self) -> None:
        self._since = time.monotonic()
        self.seconds: dict[str, float] = {}

    def lap(self, stage: str) -> None:
        now = time.monotonic()
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + now - self._since, 3)
        self._since = now

    def __str__(self) -> str:
        return json.dumps(self.seconds)
