"""Row-level expectations as Spark predicates.

To route rows to quarantine we need a predicate per row, and counting the failures of every row-level
expectation in one aggregation is far cheaper than Great Expectations' own metric queries (several Spark
jobs per expectation). Each supported expectation becomes a Column that is true where a row fails it,
with Great Expectations' semantics (nulls are not "unexpected" except for the null checks; strict bounds;
a regex matches anywhere), so that the rows counted are exactly the rows Great Expectations would count
as unexpected. tests/unit/test_quarantine_rules.py checks that against Great Expectations itself.

A predicate judges a row among the rows of `among` only (uniqueness counts duplicates within them):
quarantine rules among the rows no business rule dropped, error and warn checks among the rows that load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from etl.config.models import ExpectationConfig

_NOT_ROW_LEVEL = ("mostly", "row_condition", "condition_parser")


def _between(value: Column, kwargs: dict[str, Any]) -> Column:
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    below = F.lit(False) if low is None else (value <= low if kwargs.get("strict_min") else value < low)
    above = F.lit(False) if high is None else (value >= high if kwargs.get("strict_max") else value > high)
    return below | above


Predicate = Callable[[dict[str, Any], Column], Column]  # (kwargs, among) -> true where the row fails


def _not_null(predicate: Callable[[Column, dict[str, Any]], Column]) -> Predicate:
    """A column map expectation: nulls are skipped, as Great Expectations skips them."""

    def failing(kwargs: dict[str, Any], among: Column) -> Column:
        column = F.col(kwargs["column"])
        return column.isNotNull() & predicate(column, kwargs)

    return failing


def _duplicated(columns: list[str], skip: Column, among: Column) -> Column:
    """More than one row of `among` with these values (nulls compare equal, as in Great Expectations' group by)."""
    return ~skip & (F.count(F.when(among, 1)).over(Window.partitionBy(*columns)) > 1)


def _pair(kwargs: dict[str, Any]) -> tuple[Column, Column, Column]:
    """Column A, column B, and the rows Great Expectations ignores (default: both values missing)."""
    a, b = F.col(kwargs["column_A"]), F.col(kwargs["column_B"])
    ignore = kwargs.get("ignore_row_if", "both_values_are_missing")
    skip = {"both_values_are_missing": a.isNull() & b.isNull(), "either_value_is_missing": a.isNull() | b.isNull()}.get(ignore)
    if skip is None:
        raise ValueError(f"ignore_row_if {ignore!r} is not supported with severity quarantine")
    return a, b, skip


def _greater(kwargs: dict[str, Any], among: Column) -> Column:
    a, b, skip = _pair(kwargs)
    passes = a >= b if kwargs.get("or_equal") else a > b
    return ~skip & ~F.coalesce(passes, F.lit(True))  # with one value missing the comparison is null: not unexpected


def _equal(kwargs: dict[str, Any], among: Column) -> Column:
    a, b, skip = _pair(kwargs)
    return ~skip & ~F.coalesce(a == b, F.lit(False))  # unlike the comparison above: one value missing is unequal


def _compound_unique(kwargs: dict[str, Any], among: Column) -> Column:
    columns = list(kwargs["column_list"])
    ignore = kwargs.get("ignore_row_if", "all_values_are_missing")
    nulls = [F.col(c).isNull() for c in columns]
    skip = {"all_values_are_missing": _all(nulls), "any_value_is_missing": _any(nulls), "never": F.lit(False)}.get(ignore)
    if skip is None:
        raise ValueError(f"ignore_row_if {ignore!r} is not supported with severity quarantine")
    return _duplicated(columns, skip, among)


def _all(columns: list[Column]) -> Column:
    result = columns[0]
    for column in columns[1:]:
        result = result & column
    return result


def _any(columns: list[Column]) -> Column:
    result = columns[0]
    for column in columns[1:]:
        result = result | column
    return result


# expectation type -> (kwargs, among) -> a Column true where the row fails the expectation
FAILING: dict[str, Predicate] = {
    "expect_column_values_to_not_be_null": lambda kw, among: F.col(kw["column"]).isNull(),
    "expect_column_values_to_be_null": lambda kw, among: F.col(kw["column"]).isNotNull(),
    "expect_column_values_to_be_between": _not_null(_between),
    "expect_column_values_to_be_in_set": _not_null(lambda c, kw: ~c.isin(list(kw["value_set"]))),
    "expect_column_values_to_not_be_in_set": _not_null(lambda c, kw: c.isin(list(kw["value_set"]))),
    "expect_column_values_to_match_regex": _not_null(lambda c, kw: ~c.rlike(kw["regex"])),
    "expect_column_values_to_not_match_regex": _not_null(lambda c, kw: c.rlike(kw["regex"])),
    "expect_column_value_lengths_to_be_between": _not_null(lambda c, kw: _between(F.length(c), kw)),
    "expect_column_value_lengths_to_equal": _not_null(lambda c, kw: F.length(c) != kw["value"]),
    "expect_column_values_to_be_unique": lambda kw, among: _duplicated([kw["column"]], F.col(kw["column"]).isNull(), among),
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_pair_values_a_to_be_greater_than_b": _greater,
    "expect_column_pair_values_to_be_equal": _equal,
}


def rule_name(config: ExpectationConfig) -> str:
    """The name rows carry in quarantine: the configured one, or the type with its columns."""
    if config.name:
        return config.name
    kwargs = config.kwargs
    columns = kwargs.get("column_list") or [kwargs[key] for key in ("column", "column_A", "column_B") if key in kwargs]
    return f"{config.type}({', '.join(str(c) for c in columns)})"


def check_name(position: int) -> str:
    """The name a row-level error or warn check goes by inside a run: its position in the suite."""
    return f"check{position}"


def is_row_level(config: ExpectationConfig) -> bool:
    """Whether a predicate per row decides the expectation (else Great Expectations itself evaluates it)."""
    try:
        failing(config)
    except (ValueError, KeyError):
        return False
    return True


def failing(config: ExpectationConfig, among: Column | None = None) -> Column:
    """The predicate of a row-level rule; ValueError when the expectation cannot quarantine rows."""
    build = FAILING.get(config.type)
    if build is None:
        raise ValueError(
            f"{config.type} is not a row-level expectation, so it cannot quarantine rows (severity quarantine works with: "
            + ", ".join(sorted(FAILING))
            + ")"
        )
    given = [key for key in _NOT_ROW_LEVEL if key in config.kwargs]
    if given:
        raise ValueError(f"{', '.join(given)} has no meaning with severity quarantine: every failing row is quarantined")
    return build(config.kwargs, F.lit(True) if among is None else among)
