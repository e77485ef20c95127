"""Each expectation in plain words, as the report shows it: every type the project's suites use (conf/
expectations/*.yaml), every row-level one (etl/quality/rules.py), the usual aggregates, and the generic
wording of any other. Expected phrases written by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from etl.quality.rules import FAILING
from etl.quality.wording import PHRASES, plain_words

CASES: list[tuple[str, dict[str, Any], str]] = [
    # the project's suites
    ("expect_column_values_to_be_between", {"column": "discount", "min_value": 0, "max_value": 0.1}, "values of discount between 0 and 0.1"),
    ("expect_column_values_to_be_between", {"column": "price", "min_value": 0.0, "max_value": 100.0}, "values of price between 0 and 100"),
    ("expect_column_values_to_be_between", {"column": "page_count", "min_value": 1}, "values of page_count at least 1"),
    ("expect_column_values_to_be_between", {"column": "quantity", "max_value": 10}, "values of quantity at most 10"),
    ("expect_column_values_to_be_between", {"column": "rate", "min_value": 0, "max_value": 1, "strict_min": True},
     "values of rate above 0 and at most 1"),
    ("expect_column_values_to_be_between", {"column": "rate", "min_value": 0, "max_value": 1, "strict_max": True},
     "values of rate at least 0 and below 1"),
    ("expect_column_values_to_not_be_null", {"column": "order_date"}, "values of order_date not null"),
    ("expect_column_values_to_not_be_null", {"column": "session_id", "mostly": 0.95}, "values of session_id not null (at least 95% of rows)"),
    ("expect_column_values_to_be_unique", {"column": "request_id"}, "values of request_id unique"),
    ("expect_compound_columns_to_be_unique", {"column_list": ["order_key", "line_number"]}, "combinations of order_key, line_number unique"),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "valid_to", "column_B": "valid_from"}, "valid_to greater than valid_from"),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "end", "column_B": "start", "or_equal": True}, "end at least start"),
    ("expect_column_values_to_be_in_set", {"column": "market_segment", "value_set": ["AUTOMOBILE", "BUILDING", "FURNITURE"]},
     "values of market_segment one of: AUTOMOBILE, BUILDING, FURNITURE"),
    ("expect_column_values_to_be_in_set", {"column": "code", "value_set": [1, 2.0, "a b", "", "x,y", None]},
     'values of code one of: 1, 2, a b, "", "x,y", null'),
    # the other row-level ones
    ("expect_column_values_to_be_null", {"column": "deleted_at"}, "values of deleted_at null"),
    ("expect_column_values_to_not_be_in_set", {"column": "status", "value_set": ["TEST"]}, "values of status none of: TEST"),
    ("expect_column_values_to_match_regex", {"column": "sku", "regex": "^[A-Z]-\\d+$"}, "values of sku matching the regular expression ^[A-Z]-\\d+$"),
    ("expect_column_values_to_not_match_regex", {"column": "email", "regex": "@test\\."}, "values of email not matching the regular expression @test\\."),
    ("expect_column_value_lengths_to_be_between", {"column": "name", "min_value": 1, "max_value": 40}, "lengths of name between 1 and 40"),
    ("expect_column_value_lengths_to_equal", {"column": "country", "value": 2}, "lengths of country equal to 2"),
    ("expect_column_pair_values_to_be_equal", {"column_A": "a", "column_B": "b", "ignore_row_if": "either_value_is_missing"},
     "a equal to b (rows with a value missing skipped)"),
    # aggregates and the table
    ("expect_table_row_count_to_equal", {"value": 4}, "row count equal to 4"),
    ("expect_table_row_count_to_be_between", {"min_value": 1000, "max_value": 2000}, "row count between 1000 and 2000"),
    ("expect_table_row_count_to_equal_other_table", {"other_table_name": "orders"}, "row count equal to that of orders"),
    ("expect_table_column_count_to_equal", {"value": 9}, "column count equal to 9"),
    ("expect_table_column_count_to_be_between", {"min_value": 3}, "column count at least 3"),
    ("expect_table_columns_to_match_ordered_list", {"column_list": ["a", "b"]}, "columns in this order: a, b"),
    ("expect_table_columns_to_match_set", {"column_set": ["a", "b"]}, "columns: a, b"),
    ("expect_table_columns_to_match_set", {"column_set": ["a", "b"], "exact_match": False}, "columns include: a, b"),
    ("expect_column_to_exist", {"column": "a"}, "column a exists"),
    ("expect_column_min_to_be_between", {"column": "price", "min_value": 0}, "minimum of price at least 0"),
    ("expect_column_max_to_be_between", {"column": "price", "max_value": 100}, "maximum of price at most 100"),
    ("expect_column_mean_to_be_between", {"column": "price", "min_value": 1, "max_value": 10}, "mean of price between 1 and 10"),
    ("expect_column_median_to_be_between", {"column": "price", "min_value": 1, "max_value": 10}, "median of price between 1 and 10"),
    ("expect_column_sum_to_be_between", {"column": "price", "min_value": 1}, "sum of price at least 1"),
    ("expect_column_stdev_to_be_between", {"column": "price", "max_value": 2.5}, "standard deviation of price at most 2.5"),
    ("expect_column_unique_value_count_to_be_between", {"column": "nation", "min_value": 25, "max_value": 25},
     "number of distinct values of nation between 25 and 25"),
    ("expect_column_proportion_of_unique_values_to_be_between", {"column": "id", "min_value": 0.9},
     "share of distinct values of id at least 0.9"),
    ("expect_column_proportion_of_non_null_values_to_be_between", {"column": "id", "min_value": 0.5},
     "share of non-null values of id at least 0.5"),
    ("expect_column_distinct_values_to_be_in_set", {"column": "step", "value_set": ["visit", "purchase"]},
     "distinct values of step among: visit, purchase"),
    ("expect_column_distinct_values_to_contain_set", {"column": "step", "value_set": ["visit"]}, "distinct values of step include: visit"),
    ("expect_column_distinct_values_to_equal_set", {"column": "step", "value_set": ["visit"]}, "distinct values of step exactly: visit"),
    ("expect_column_most_common_value_to_be_in_set", {"column": "page", "value_set": ["/"]}, "most common value of page one of: /"),
    ("expect_column_values_to_match_like_pattern", {"column": "sku", "like_pattern": "A-%"}, "values of sku like A-%"),
    ("expect_column_values_to_not_match_like_pattern", {"column": "sku", "like_pattern": "TEST%"}, "values of sku not like TEST%"),
    ("expect_column_values_to_match_strftime_format", {"column": "day", "strftime_format": "%Y-%m-%d"},
     "values of day dates in the format %Y-%m-%d"),
    ("expect_column_values_to_be_dateutil_parseable", {"column": "day"}, "values of day readable as dates"),
    ("expect_column_values_to_be_json_parseable", {"column": "payload"}, "values of payload valid JSON"),
    ("expect_column_values_to_be_of_type", {"column": "id", "type_": "LongType"}, "values of id of type LongType"),
    ("expect_column_values_to_be_in_type_list", {"column": "id", "type_list": ["IntegerType", "LongType"]},
     "values of id of type IntegerType or LongType"),
    ("expect_column_values_to_be_increasing", {"column": "at"}, "values of at increasing"),
    ("expect_column_values_to_be_decreasing", {"column": "at", "strictly": True}, "values of at strictly decreasing"),
    ("expect_select_column_values_to_be_unique_within_record", {"column_list": ["a", "b"]}, "values of a, b different within each row"),
    ("expect_multicolumn_sum_to_equal", {"column_list": ["a", "b"], "sum_total": 100}, "a + b equal to 100 in each row"),
    # conditions
    ("expect_column_values_to_not_be_null", {"column": "total", "row_condition": 'step=="purchase"', "condition_parser": "great_expectations"},
     'values of total not null, where step=="purchase"'),
    # any other: its name in words and its arguments; a phrase whose argument is missing falls back the same way
    ("expect_column_kl_divergence_to_be_less_than", {"column": "x", "threshold": 0.1, "batch_id": "b1"},
     "column kl divergence to be less than: column=x, threshold=0.1"),
    ("expect_column_values_to_be_between", {"min_value": 1}, "column values to be between: min_value=1"),
    ("expect_table_row_count_to_be_positive", {}, "table row count to be positive"),
]  # fmt: skip


@pytest.mark.parametrize(("expectation", "kwargs", "words"), CASES, ids=[f"{i}-{case[0]}" for i, case in enumerate(CASES)])
def test_each_expectation_reads_in_plain_words(expectation: str, kwargs: dict[str, Any], words: str) -> None:
    assert plain_words(expectation, kwargs) == words


def test_every_type_of_the_projects_suites_and_every_row_level_one_has_a_phrase() -> None:
    suites = Path(__file__).resolve().parents[2] / "conf" / "expectations"
    used = {e["type"] for path in suites.glob("*.yaml") for e in yaml.safe_load(path.read_text())["expectations"]}
    assert used - set(PHRASES) == set()
    assert set(FAILING) - set(PHRASES) == set()
    assert {case[0] for case in CASES} >= set(PHRASES)  # and each phrase is tested above
