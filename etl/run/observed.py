"""Rows read and malformed per source, counted by the query that reads the source first (Spark's
DataFrame.observe): no Spark job of their own."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import Observation, SparkSession

from etl import spark_internals

log = logging.getLogger(__name__)


def observations(sources: Iterable[str]) -> dict[str, Observation]:
    return {name: Observation(_observation_name(name)) for name in sources}


def counts(spark: SparkSession, observed: Mapping[str, Observation]) -> dict[str, dict[str, int]]:
    """Rows read (and malformed) per source, from the observations the outputs' materialization filled in.

    Spark delivers a metric through its listener bus, after the action; once the bus is drained, a metric
    that has not arrived never will: no query read the source (no target uses it, or adaptive execution
    skipped the scan of a join side it knew to be empty), and it read no rows.
    """
    spark_internals.wait_for_listeners(spark)
    found: dict[str, dict[str, int]] = {}
    for name, observation in observed.items():
        result = _metrics(observation)
        if "rows" not in result:
            log.info("source %s: Spark did not read it (no target needed its rows)", name)
        found[name] = {"rows": int(result.get("rows", 0)), "malformed": int(result.get("malformed", 0))}
    return found


def metrics(spark: SparkSession, observation: Observation) -> dict[str, Any]:
    """An observation's metrics once the action that filled it in has finished; {} when Spark never ran
    the node that counts (adaptive execution skipped it: no rows)."""
    spark_internals.wait_for_listeners(spark)
    return _metrics(observation)


def _metrics(observation: Observation) -> dict[str, Any]:
    """The observation's metrics, or {} when Spark never delivered them. Observation.get waits forever
    for metrics that never come, so whether they came is asked first; where that cannot be known, a
    thread waits two seconds, and stays blocked until exit."""
    if spark_internals.observation_delivered(observation) is False:
        return {}
    result: dict[str, Any] = {}
    reader = threading.Thread(target=_collect, args=(observation, result), daemon=True)
    reader.start()
    reader.join(timeout=2)
    return result


def _collect(observation: Observation, into: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):  # the gateway closed at exit: nothing left to tell, logging may be gone too
        into.update(observation.get)


def _observation_name(source: str) -> str:
    return f"read_{source}"
