"""Route each output row: loaded, quarantined (failed rules named), or dropped by a business rule; and
find the loaded rows that fail a row-level check of severity error or warn.

One pass over the (cached) output counts all of it, per rule, per check and per drop reason, so
accounting, the quarantine report and every row-level expectation cost one aggregation, not one scan
(or several Spark jobs of Great Expectations) per expectation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.config.models import ExpectationConfig, SuiteConfig
from etl.quality.rules import check_name, failing, is_row_level, rule_name
from etl.transform.rules import DROPPED_BY

FAILED_RULES = "_etl_failed_rules"
FAILED_CHECKS = "_etl_failed_checks"


@dataclass(frozen=True)
class Rule:
    """A row-level expectation: `name` is what quarantined rows carry (checks: `check<position in the suite>`)."""

    name: str
    config: ExpectationConfig

    def failing(self, among: Column) -> Column:
        return failing(self.config, among)


@dataclass(frozen=True)
class Tally:
    """What became of a target's rows."""

    loaded: int = 0
    quarantined: int = 0
    per_rule: dict[str, int] = field(default_factory=dict)  # rows failing each quarantine rule (a row may fail several)
    per_check: dict[str, int] = field(default_factory=dict)  # loaded rows failing each row-level error/warn check
    dropped: dict[str, int] = field(default_factory=dict)  # rows dropped per business rule


def quarantine_rules(suite: SuiteConfig | None) -> list[Rule]:
    if suite is None:
        return []
    return [Rule(rule_name(e), e) for e in suite.expectations if e.severity == "quarantine"]


def row_checks(suite: SuiteConfig | None) -> list[Rule]:
    """The suite's error and warn expectations that a predicate per row decides (the rest go to Great Expectations)."""
    if suite is None:
        return []
    return [Rule(check_name(i), e) for i, e in enumerate(suite.expectations) if e.severity != "quarantine" and is_row_level(e)]


def _names_failing(rules: list[Rule], among: Column) -> Column:
    """The names of the rules a row of `among` fails (empty for other rows)."""
    names = F.array_compact(F.array(*[F.when(rule.failing(among), F.lit(rule.name)) for rule in rules])) if rules else F.array()
    return F.when(among, names).otherwise(F.array()).cast("array<string>")


def mark(frame: DataFrame, rules: list[Rule], checks: list[Rule] | None = None) -> DataFrame:
    """The output with three columns: the business rule that dropped the row (or null), the names of the
    quarantine rules the row fails (among the rows no business rule dropped), and the checks it fails
    (among the rows that load: what Great Expectations would be given)."""
    if DROPPED_BY not in frame.columns:
        frame = frame.withColumn(DROPPED_BY, F.lit(None).cast("string"))
    frame = frame.withColumn(FAILED_RULES, _names_failing(rules, F.col(DROPPED_BY).isNull()))
    return frame.withColumn(FAILED_CHECKS, _names_failing(checks or [], _loads()))


def _loads() -> Column:
    return F.col(DROPPED_BY).isNull() & (F.size(F.col(FAILED_RULES)) == 0)


def _count_each(column: str, rules: list[Rule], prefix: str) -> list[Column]:
    return [F.count_if(F.array_contains(F.col(column), rule.name)).alias(f"{prefix}{i}") for i, rule in enumerate(rules)]


def tally(marked: DataFrame, rules: list[Rule], checks: list[Rule] | None = None) -> Tally:
    """One aggregation over the marked output."""
    checks = checks or []
    failed = F.size(F.col(FAILED_RULES)) > 0
    counts = [*_count_each(FAILED_RULES, rules, "rule"), *_count_each(FAILED_CHECKS, checks, "check")]
    groups = marked.groupBy(DROPPED_BY).agg(F.count(F.lit(1)).alias("rows"), F.count_if(failed).alias("failed"), *counts).collect()
    loaded = quarantined = 0
    dropped: dict[str, int] = {}
    per_rule = {rule.name: 0 for rule in rules}
    per_check = {check.name: 0 for check in checks}
    for group in groups:
        if group[DROPPED_BY] is not None:
            dropped[group[DROPPED_BY]] = group["rows"]
            continue
        quarantined, loaded = group["failed"], group["rows"] - group["failed"]
        per_rule = {rule.name: group[f"rule{i}"] for i, rule in enumerate(rules)}
        per_check = {check.name: group[f"check{i}"] for i, check in enumerate(checks)}
    return Tally(loaded=loaded, quarantined=quarantined, per_rule=per_rule, per_check=per_check, dropped=dict(sorted(dropped.items())))


MARKS = (DROPPED_BY, FAILED_RULES, FAILED_CHECKS)


def loaded_rows(marked: DataFrame) -> DataFrame:
    return marked.where(_loads()).drop(*MARKS)


def quarantined_rows(marked: DataFrame, day: Column) -> DataFrame:
    """record (the row as JSON, nulls kept), rules, reason, source_file, day (the row's own day, or null):
    the quarantine table's columns (the rules say why; reason is for raw lines)."""
    columns = [c for c in marked.columns if c not in MARKS]
    return marked.where(F.col(DROPPED_BY).isNull() & (F.size(F.col(FAILED_RULES)) > 0)).select(
        F.to_json(F.struct(*columns), {"ignoreNullFields": "false"}).alias("record"),
        F.col(FAILED_RULES).alias("rules"),
        F.lit(None).cast("string").alias("reason"),
        F.lit(None).cast("string").alias("source_file"),
        day.alias("day"),
    )


def samples(marked: DataFrame, column: str, rules: list[Rule], failures: Mapping[str, int], few: int = 5) -> dict[str, list[Any]]:
    """A few values of each single-column rule that rows failed (only then: no pass otherwise); `column`
    is FAILED_RULES for quarantine rules, FAILED_CHECKS for checks."""
    found: dict[str, list[Any]] = {}
    for rule in rules:
        if failures.get(rule.name) and "column" in rule.config.kwargs:
            rows = marked.where(F.array_contains(F.col(column), rule.name)).select(rule.config.kwargs["column"]).limit(few).collect()
            found[rule.name] = [row[0] for row in rows]
    return found
