"""Input sensors: a source with `wait_for` waits, before the run reads it, until each day of the window
has landed (its marker file, or enough data files), looking every poll_seconds, up to timeout_minutes."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pyspark.sql import SparkSession

from etl.config.models import SourceConfig, WaitFor
from etl.context import RunContext
from etl.errors import SourceError
from etl.spark_internals import fs

log = logging.getLogger(__name__)


def wait_for_input(
    spark: SparkSession,
    name: str,
    source: SourceConfig,
    ctx: RunContext,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Return once every day of the window has landed; raise SourceError naming the missing days on timeout."""
    wait = source.wait_for
    if wait is None:
        return
    base = ctx.zones.uri(source.zone, str(source.path))
    days = [f"{source.date_partition}={day.isoformat()}" for day in ctx.window.days()]
    deadline = clock() + wait.timeout_minutes * 60
    waited = False
    while True:
        missing = [day for day in days if not _landed(spark, f"{base}/{day}", wait)]
        if not missing:
            if waited:
                log.info("source %s: the input has landed", name)
            return
        left = deadline - clock()
        if left <= 0:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise SourceError(f"source {name}: {_what(wait)} not in {shown} under {base} after waiting {wait.timeout_minutes:g} minute(s)")
        if not waited:
            log.info(
                "source %s: waiting for %s in %s under %s (a look every %gs, for up to %g minute(s))",
                name, _what(wait), ", ".join(missing[:5]), base, wait.poll_seconds, wait.timeout_minutes,
            )  # fmt: skip
            waited = True
        sleep(min(wait.poll_seconds, left))


def _landed(spark: SparkSession, folder: str, wait: WaitFor) -> bool:
    if wait.marker is not None:
        return fs.exists(spark, f"{folder}/{wait.marker}")
    return len(fs.list_files(spark, folder)) >= (wait.min_files or 1)


def _what(wait: WaitFor) -> str:
    return str(wait.marker) if wait.marker is not None else f"{wait.min_files} file(s)"
