"""What a run knows about itself, passed explicitly to every stage."""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from etl.zones import Zones


def parse_day(text: str) -> date:
    """A YYYY-MM-DD day from the command line (an argparse type)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date of the form YYYY-MM-DD") from None


@dataclass(frozen=True)
class DateWindow:
    """The days a run loads, first to last inclusive: one day for `etl run`, a range for `etl backfill`."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ValueError(f"the window's first day {self.first} is after its last day {self.last}")

    @classmethod
    def day(cls, day: date) -> DateWindow:
        return cls(day, day)

    def days(self) -> Iterator[date]:
        for offset in range((self.last - self.first).days + 1):
            yield self.first + timedelta(days=offset)

    def __str__(self) -> str:
        return str(self.first) if self.first == self.last else f"{self.first}..{self.last}"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: 20260101T020000Z-1a2b3c4d."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class RunContext:
    job: str
    env: str
    window: DateWindow
    run_id: str
    zones: Zones

    @property
    def run_date(self) -> date:
        """The business date of the run: the last day of its window."""
        return self.window.last
