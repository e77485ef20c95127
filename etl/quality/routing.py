"""Route each output row: loaded, quarantined (failed rules named), or dropped by a business rule; and
find the loaded rows that fail a row-level check of severity error or warn.

The staged write of the output counts all of it while it writes (DataFrame.observe), per rule, per
check and per drop reason, so accounting, the quarantine report and every row-level expectation cost
no pass of their own (Great Expectations would run several Spark jobs per expectation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl.config.models import ExpectationConfig, SuiteConfig
from etl.load.common import FAILED_RULES, LOADED, QUARANTINED, ROUTE
from etl.quality.rules import check_name, failing, is_row_level, rule_name
from etl.transform.rules import DROPPED_BY, QUARANTINED_BY, drop_rules, marked_quarantine_rules

UNNAMED = "unnamed"  # rows marked dropped by a rule whose name the run could not learn

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
    per_rule: dict[str, int] = field(
        default_factory=dict
    )  # rows quarantined by each rule, the transform's and the suite's (a row may fail several)
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
    rules that quarantine the row (the transform's, then the suite's quarantine rules it fails; among the
    rows no business rule dropped), and the checks it fails (among the rows that load: what Great
    Expectations would be given). The transform's quarantine rules' names stay in FAILED_RULES' metadata."""
    if DROPPED_BY not in frame.columns:
        frame = frame.withColumn(DROPPED_BY, F.lit(None).cast("string"))
    kept = F.col(DROPPED_BY).isNull()
    failing = _names_failing(rules, kept)
    marked_by = marked_quarantine_rules(frame)
    if marked_by:
        failing = F.when(kept, F.concat(F.col(QUARANTINED_BY), failing)).otherwise(failing)
    frame = frame.withColumn(FAILED_RULES, failing.alias(FAILED_RULES, metadata={_MARKED_BY: marked_by})).drop(QUARANTINED_BY)
    return frame.withColumn(FAILED_CHECKS, _names_failing(checks or [], _loads()))


_MARKED_BY = "etl.quarantined_by_transform"


def _marked_by(marked: DataFrame) -> list[str]:
    """The transform's quarantine rules (quarantine_where) of a marked output."""
    return list(marked.schema[FAILED_RULES].metadata.get(_MARKED_BY, []))


def _loads() -> Column:
    return F.col(DROPPED_BY).isNull() & (F.size(F.col(FAILED_RULES)) == 0)


def counters(marked: DataFrame, rules: list[Rule], checks: list[Rule]) -> list[Column]:
    """What the run counts of a marked output, as aggregates for DataFrame.observe: the staged write
    counts them while it writes, with no Spark job of its own."""
    failed = F.size(F.col(FAILED_RULES)) > 0
    kept = F.col(DROPPED_BY).isNull()
    return [
        F.count_if(kept & ~failed).alias("loaded"),
        F.count_if(kept & failed).alias("quarantined"),
        *[F.count_if(F.array_contains(F.col(FAILED_RULES), rule.name)).alias(f"rule{i}") for i, rule in enumerate(rules)],
        *[F.count_if(F.array_contains(F.col(FAILED_RULES), name)).alias(f"marked{i}") for i, name in enumerate(_marked_by(marked))],
        *[F.count_if(F.array_contains(F.col(FAILED_CHECKS), check.name)).alias(f"check{i}") for i, check in enumerate(checks)],
        *[F.count_if(F.col(DROPPED_BY) == name).alias(f"dropped{i}") for i, name in enumerate(drop_rules(marked))],
        F.count_if(~kept & ~F.col(DROPPED_BY).isin(*drop_rules(marked))).alias("dropped_unnamed"),
    ]


def tally(metrics: Mapping[str, Any], marked: DataFrame, rules: list[Rule], checks: list[Rule]) -> Tally:
    """The counts of counters(), as the run records them; none (Spark skipped the write's input: it knew
    it empty) are zeros."""

    def count(name: str) -> int:
        return int(metrics.get(name) or 0)

    dropped = {name: count(f"dropped{i}") for i, name in enumerate(drop_rules(marked)) if count(f"dropped{i}")}
    if count("dropped_unnamed"):
        dropped[UNNAMED] = count("dropped_unnamed")
    return Tally(
        loaded=count("loaded"),
        quarantined=count("quarantined"),
        per_rule={
            **{name: count(f"marked{i}") for i, name in enumerate(_marked_by(marked))},
            **{rule.name: count(f"rule{i}") for i, rule in enumerate(rules)},
        },
        per_check={check.name: count(f"check{i}") for i, check in enumerate(checks)},
        dropped=dict(sorted(dropped.items())),
    )


MARKS = (DROPPED_BY, FAILED_RULES, FAILED_CHECKS)


def routed(marked: DataFrame) -> DataFrame:
    """The rows no business rule dropped, each with ROUTE (loaded or quarantined) and, for a quarantined
    row, FAILED_RULES (null for a loaded row): what the staged write writes, in one pass."""
    columns = [c for c in marked.columns if c not in MARKS]
    failed = F.size(F.col(FAILED_RULES)) > 0
    return marked.where(F.col(DROPPED_BY).isNull()).select(
        *columns,
        F.when(failed, F.lit(QUARANTINED)).otherwise(F.lit(LOADED)).alias(ROUTE),
        F.when(failed, F.col(FAILED_RULES)).alias(FAILED_RULES),
    )


def quarantined_rows(staged: DataFrame, day: Column) -> DataFrame:
    """record (the row as JSON, nulls kept), rules, reason, source_file, day (the row's own day, or null):
    the quarantine table's columns, from the staged quarantined rows (the rules say why; reason is for raw lines)."""
    columns = [c for c in staged.columns if c not in (*MARKS, ROUTE)]
    return staged.select(
        F.to_json(F.struct(*columns), {"ignoreNullFields": "false"}).alias("record"),
        F.col(FAILED_RULES).alias("rules"),
        F.lit(None).cast("string").alias("reason"),
        F.lit(None).cast("string").alias("source_file"),
        day.alias("day"),
    )


def samples(staged: DataFrame, rules: list[Rule], failures: Mapping[str, int], few: int = 5) -> dict[str, list[Any]]:
    """A few values of each single-column rule that rows failed (only then: no read otherwise), from the
    staged rows: the quarantined ones for quarantine rules (they carry FAILED_RULES), the loaded ones for
    checks (judged again: a check judges a row among the rows that load, which the loaded files are)."""
    found: dict[str, list[Any]] = {}
    for rule in rules:
        if failures.get(rule.name) and "column" in rule.config.kwargs:
            failing = F.array_contains(F.col(FAILED_RULES), rule.name) if FAILED_RULES in staged.columns else rule.failing(F.lit(True))
            rows = staged.where(failing).select(rule.config.kwargs["column"]).limit(few).collect()
            found[rule.name] = [row[0] for row in rows]
    return found
