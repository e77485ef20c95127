"""An expectation in plain words, for the report: expect_column_values_to_be_between(column=discount,
min_value=0, max_value=0.1) -> "values of discount between 0 and 0.1".

Every expectation the project's suites use and the usual ones of Great Expectations have a phrase of
their own; any other reads as its name in words with its arguments, which is still more than nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

LISTED = 10  # values of a set named before "and N more"
# Arguments a phrase leaves to the suffixes (mostly, row_condition) or that say nothing to a reader.
_SUFFIXES = ("mostly", "row_condition", "condition_parser")
_UNSAID = ("batch_id", "result_format", "include_config", "catch_exceptions", "meta")


def plain_words(expectation: str, kwargs: Mapping[str, Any]) -> str:
    """What the expectation asks, in words; with `mostly` and `row_condition` when given."""
    phrase = PHRASES.get(expectation)
    try:
        words = phrase(kwargs) if phrase else _generic(expectation, kwargs)
    except KeyError:  # an argument a phrase needs is missing: the result holds what Great Expectations was given
        words = _generic(expectation, kwargs)
    return words + _suffixes(kwargs)


def _generic(expectation: str, kwargs: Mapping[str, Any]) -> str:
    """expect_column_kl_divergence_to_be_less_than -> "column kl divergence to be less than: column=x, threshold=0.1"."""
    words = expectation.removeprefix("expect_").replace("_", " ")
    given = [f"{key}={value_text(value)}" for key, value in kwargs.items() if key not in (*_SUFFIXES, *_UNSAID)]
    return f"{words}: {', '.join(given)}" if given else words


def _suffixes(kwargs: Mapping[str, Any]) -> str:
    text = ""
    mostly = kwargs.get("mostly")
    if mostly is not None and float(mostly) < 1:
        text += f" (at least {float(mostly) * 100:g}% of rows)"
    if kwargs.get("row_condition"):
        text += f", where {kwargs['row_condition']}"
    return text


def value_text(value: Any) -> str:
    """A number as a person writes it (0.0 -> 0), a plain string as it is, anything else as JSON."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value and value == value.strip() and "," not in value:
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _listed(values: Any) -> str:
    values = list(values)
    shown = ", ".join(value_text(v) for v in values[:LISTED])
    return shown + (f" and {len(values) - LISTED} more" if len(values) > LISTED else "")


def _bounds(kwargs: Mapping[str, Any], low: str = "min_value", high: str = "max_value") -> str:
    """between 0 and 1 / at least 0 / above 0 and at most 1 / below 1 (strict_min, strict_max: the bound excluded)."""
    lowest, highest = kwargs.get(low), kwargs.get(high)
    strict_min, strict_max = bool(kwargs.get("strict_min")), bool(kwargs.get("strict_max"))
    if lowest is not None and highest is not None and not strict_min and not strict_max:
        return f"between {value_text(lowest)} and {value_text(highest)}"
    parts = []
    if lowest is not None:
        parts.append(f"{'above' if strict_min else 'at least'} {value_text(lowest)}")
    if highest is not None:
        parts.append(f"{'below' if strict_max else 'at most'} {value_text(highest)}")
    return " and ".join(parts) or "of any value"


def _columns(kwargs: Mapping[str, Any], key: str = "column_list") -> str:
    return ", ".join(str(column) for column in kwargs[key])


def _pair(relation: str) -> Callable[[Mapping[str, Any]], str]:
    def phrase(kwargs: Mapping[str, Any]) -> str:
        skipped = {"either_value_is_missing": " (rows with a value missing skipped)", "neither": " (no row skipped)"}
        return f"{kwargs['column_A']} {relation} {kwargs['column_B']}" + skipped.get(str(kwargs.get("ignore_row_if")), "")

    return phrase


def _of_column(what: str) -> Callable[[Mapping[str, Any]], str]:
    """An aggregate of a column within bounds: "mean of price between 1 and 10"."""
    return lambda kw: f"{what} of {kw['column']} {_bounds(kw)}"


def _greater(kwargs: Mapping[str, Any]) -> str:
    return _pair("at least" if kwargs.get("or_equal") else "greater than")(kwargs)


def _ordered(direction: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda kw: f"values of {kw['column']} {'strictly ' if kw.get('strictly') else ''}{direction}"


PHRASES: dict[str, Callable[[Mapping[str, Any]], str]] = {
    # each value of a column
    "expect_column_values_to_not_be_null": lambda kw: f"values of {kw['column']} not null",
    "expect_column_values_to_be_null": lambda kw: f"values of {kw['column']} null",
    "expect_column_values_to_be_between": lambda kw: f"values of {kw['column']} {_bounds(kw)}",
    "expect_column_values_to_be_in_set": lambda kw: f"values of {kw['column']} one of: {_listed(kw['value_set'])}",
    "expect_column_values_to_not_be_in_set": lambda kw: f"values of {kw['column']} none of: {_listed(kw['value_set'])}",
    "expect_column_values_to_be_unique": lambda kw: f"values of {kw['column']} unique",
    "expect_column_values_to_match_regex": lambda kw: f"values of {kw['column']} matching the regular expression {kw['regex']}",
    "expect_column_values_to_not_match_regex": lambda kw: f"values of {kw['column']} not matching the regular expression {kw['regex']}",
    "expect_column_values_to_match_like_pattern": lambda kw: f"values of {kw['column']} like {kw['like_pattern']}",
    "expect_column_values_to_not_match_like_pattern": lambda kw: f"values of {kw['column']} not like {kw['like_pattern']}",
    "expect_column_values_to_match_strftime_format": lambda kw: f"values of {kw['column']} dates in the format {kw['strftime_format']}",
    "expect_column_values_to_be_dateutil_parseable": lambda kw: f"values of {kw['column']} readable as dates",
    "expect_column_values_to_be_json_parseable": lambda kw: f"values of {kw['column']} valid JSON",
    "expect_column_values_to_be_of_type": lambda kw: f"values of {kw['column']} of type {kw['type_']}",
    "expect_column_values_to_be_in_type_list": lambda kw: f"values of {kw['column']} of type {' or '.join(map(str, kw['type_list']))}",
    "expect_column_values_to_be_increasing": _ordered("increasing"),
    "expect_column_values_to_be_decreasing": _ordered("decreasing"),
    "expect_column_value_lengths_to_be_between": lambda kw: f"lengths of {kw['column']} {_bounds(kw)}",
    "expect_column_value_lengths_to_equal": lambda kw: f"lengths of {kw['column']} equal to {value_text(kw['value'])}",
    # rows: several columns
    "expect_compound_columns_to_be_unique": lambda kw: f"combinations of {_columns(kw)} unique",
    "expect_select_column_values_to_be_unique_within_record": lambda kw: f"values of {_columns(kw)} different within each row",
    "expect_multicolumn_sum_to_equal": lambda kw: (
        f"{' + '.join(map(str, kw['column_list']))} equal to {value_text(kw['sum_total'])} in each row"
    ),
    "expect_column_pair_values_a_to_be_greater_than_b": _greater,
    "expect_column_pair_values_to_be_equal": _pair("equal to"),
    # a column as a whole
    "expect_column_to_exist": lambda kw: f"column {kw['column']} exists",
    "expect_column_min_to_be_between": _of_column("minimum"),
    "expect_column_max_to_be_between": _of_column("maximum"),
    "expect_column_mean_to_be_between": _of_column("mean"),
    "expect_column_median_to_be_between": _of_column("median"),
    "expect_column_sum_to_be_between": _of_column("sum"),
    "expect_column_stdev_to_be_between": _of_column("standard deviation"),
    "expect_column_unique_value_count_to_be_between": _of_column("number of distinct values"),
    "expect_column_proportion_of_unique_values_to_be_between": _of_column("share of distinct values"),
    "expect_column_proportion_of_non_null_values_to_be_between": _of_column("share of non-null values"),
    "expect_column_distinct_values_to_be_in_set": lambda kw: f"distinct values of {kw['column']} among: {_listed(kw['value_set'])}",
    "expect_column_distinct_values_to_contain_set": lambda kw: f"distinct values of {kw['column']} include: {_listed(kw['value_set'])}",
    "expect_column_distinct_values_to_equal_set": lambda kw: f"distinct values of {kw['column']} exactly: {_listed(kw['value_set'])}",
    "expect_column_most_common_value_to_be_in_set": lambda kw: f"most common value of {kw['column']} one of: {_listed(kw['value_set'])}",
    # the table
    "expect_table_row_count_to_equal": lambda kw: f"row count equal to {value_text(kw['value'])}",
    "expect_table_row_count_to_be_between": lambda kw: f"row count {_bounds(kw)}",
    "expect_table_row_count_to_equal_other_table": lambda kw: f"row count equal to that of {kw['other_table_name']}",
    "expect_table_column_count_to_equal": lambda kw: f"column count equal to {value_text(kw['value'])}",
    "expect_table_column_count_to_be_between": lambda kw: f"column count {_bounds(kw)}",
    "expect_table_columns_to_match_ordered_list": lambda kw: f"columns in this order: {_columns(kw)}",
    "expect_table_columns_to_match_set": lambda kw: (
        f"columns{'' if kw.get('exact_match', True) else ' include'}: {_listed(kw['column_set'])}"
    ),
}
