"""Route each output row: loaded, quarantined (failed rules named), or dropped by a business rule.

One pass over the (cached) output counts all three, per rule and per drop reason, so accounting and
the quarantine report cost one aggregation, not one scan per rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.config.models import SuiteConfig
from etl.quality.rules import failing, rule_name
from etl.transform.rules import DROPPED_BY

FAILED_RULES = "_etl_failed_rules"


@dataclass(frozen=True)
class Rule:
    name: str
    failing: Column


@dataclass(frozen=True)
class Tally:
    """What became of a target's rows."""

    loaded: int = 0
    quarantined: int = 0
    per_rule: dict[str, int] = field(default_factory=dict)  # rows failing each quarantine rule (a row may fail several)
    dropped: dict[str, int] = field(default_factory=dict)  # rows dropped per business rule


def quarantine_rules(suite: SuiteConfig | None) -> list[Rule]:
    if suite is None:
        return []
    return [Rule(rule_name(e), failing(e)) for e in suite.expectations if e.severity == "quarantine"]


def mark(frame: DataFrame, rules: list[Rule]) -> DataFrame:
    """The output with two columns: the business rule that dropped the row (or null), and the names of
    the quarantine rules the row fails (empty for a row that loads; rules are not checked on dropped rows)."""
    if DROPPED_BY not in frame.columns:
        frame = frame.withColumn(DROPPED_BY, F.lit(None).cast("string"))
    names = F.array_compact(F.array(*[F.when(rule.failing, F.lit(rule.name)) for rule in rules])) if rules else F.array()
    kept = F.col(DROPPED_BY).isNull()
    return frame.withColumn(FAILED_RULES, F.when(kept, names).otherwise(F.array()).cast("array<string>"))


def tally(marked: DataFrame, rules: list[Rule]) -> Tally:
    """One aggregation over the marked output."""
    failed = F.size(F.col(FAILED_RULES)) > 0
    per_rule = [F.count_if(F.array_contains(F.col(FAILED_RULES), rule.name)).alias(f"rule{i}") for i, rule in enumerate(rules)]
    groups = marked.groupBy(DROPPED_BY).agg(F.count(F.lit(1)).alias("rows"), F.count_if(failed).alias("failed"), *per_rule).collect()
    loaded = quarantined = 0
    dropped: dict[str, int] = {}
    counts = {rule.name: 0 for rule in rules}
    for group in groups:
        if group[DROPPED_BY] is not None:
            dropped[group[DROPPED_BY]] = group["rows"]
            continue
        quarantined, loaded = group["failed"], group["rows"] - group["failed"]
        counts = {rule.name: group[f"rule{i}"] for i, rule in enumerate(rules)}
    return Tally(loaded=loaded, quarantined=quarantined, per_rule=counts, dropped=dict(sorted(dropped.items())))


def loaded_rows(marked: DataFrame) -> DataFrame:
    return marked.where(F.col(DROPPED_BY).isNull() & (F.size(F.col(FAILED_RULES)) == 0)).drop(DROPPED_BY, FAILED_RULES)


def quarantined_rows(marked: DataFrame) -> DataFrame:
    """record (the row as JSON, nulls kept), rules, source_file: the quarantine table's columns."""
    columns = [c for c in marked.columns if c not in (DROPPED_BY, FAILED_RULES)]
    return marked.where(F.col(DROPPED_BY).isNull() & (F.size(F.col(FAILED_RULES)) > 0)).select(
        F.to_json(F.struct(*columns), {"ignoreNullFields": "false"}).alias("record"),
        F.col(FAILED_RULES).alias("rules"),
        F.lit(None).cast("string").alias("source_file"),
    )


def samples(marked: DataFrame, suite: SuiteConfig | None, tally: Tally, few: int = 5) -> dict[str, list[Any]]:
    """A few values of each single-column quarantine rule that quarantined rows (only then: no pass otherwise)."""
    found: dict[str, list[Any]] = {}
    for config in suite.expectations if suite else []:
        name = rule_name(config)
        if config.severity == "quarantine" and tally.per_rule.get(name) and "column" in config.kwargs:
            column = config.kwargs["column"]
            rows = marked.where(F.array_contains(F.col(FAILED_RULES), name)).select(column).limit(few).collect()
            found[name] = [row[0] for row in rows]
    return found
