"""Rows read and malformed per source, counted by the query that reads the source first (Spark's
DataFrame.observe): no Spark job of their own."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from pyspark.sql import DataFrame, Observation, SparkSession

log = logging.getLogger(__name__)


def observations(sources: Iterable[str]) -> dict[str, Observation]:
    return {name: Observation(_observation_name(name)) for name in sources}


def counts(spark: SparkSession, observed: Mapping[str, Observation], outputs: Mapping[str, DataFrame]) -> dict[str, dict[str, int]]:
    """Rows read (and malformed) per source, from the observations the outputs' materialization filled in.

    A source no output uses was never read: 0. Spark delivers a metric through its listener bus, after
    the action; once the bus is drained, a metric that has not arrived never will (adaptive execution
    skips the scan of a join side it knows to be empty), and that source read no rows.
    """
    plans = [frame._jdf.queryExecution().analyzed().treeString() for frame in outputs.values()]
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()  # type: ignore[union-attr]
    found: dict[str, dict[str, int]] = {}
    for name, observation in observed.items():
        found[name] = {"rows": 0, "malformed": 0}
        if not any(f"CollectMetrics {_observation_name(name)}," in plan for plan in plans):
            log.warning("source %s is declared but no target uses it", name)
            continue
        result = _metrics(observation)
        if "rows" not in result:
            log.info("source %s: Spark skipped reading it (nothing to join it with)", name)
        found[name] = {"rows": int(result.get("rows", 0)), "malformed": int(result.get("malformed", 0))}
    return found


def metrics(spark: SparkSession, observation: Observation) -> dict[str, Any]:
    """An observation's metrics once the action that filled it in has finished; {} when Spark never ran
    the node that counts (adaptive execution skipped it: no rows)."""
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()  # type: ignore[union-attr]
    return _metrics(observation)


def _metrics(observation: Observation) -> dict[str, Any]:
    """The observation's metrics, or {} when Spark never delivered them. Spark 3.5's Observation.get
    waits forever for metrics that never come, so its `metrics` field is looked at first (a JVM
    internal; where it is not there, a thread waits two seconds, and stays blocked until exit)."""
    java: Any = observation._jo
    if java is None:  # never attached to a query
        return {}
    try:
        field = java.getClass().getDeclaredField("metrics")
        field.setAccessible(True)
        if field.get(java).isEmpty():
            return {}
    except Exception:  # another Spark's Observation: wait in a thread
        pass
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
