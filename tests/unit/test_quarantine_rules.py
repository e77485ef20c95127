"""The quarantine predicates pick exactly the rows Great Expectations counts as unexpected.

Each supported expectation runs through Great Expectations (severity warn, on the same rows) and through
our predicate; the counts must be equal. The rows include nulls, bounds and duplicates on purpose.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from etl.config.models import ExpectationConfig, SuiteConfig
from etl.errors import ConfigError
from etl.load.common import FAILED_RULES, LOADED, ROUTE
from etl.quality import Validator
from etl.quality.routing import Rule, Tally, counters, mark, quarantine_rules, routed, row_checks, tally
from etl.quality.rules import FAILING, check_name
from etl.quality.suite import build_expectations
from etl.quality.validate import Counted

ROWS = [
    (1, 0, "ab"),
    (2, 2, None),
    (None, 1, "abc"),
    (5, None, "x1"),
    (None, None, "ab"),
    (5, 3, "zz"),
    (7, 7, ""),
    (2, 9, None),
    (None, None, None),
]

CASES: list[tuple[str, dict[str, Any]]] = [
    ("expect_column_values_to_not_be_null", {"column": "a"}),
    ("expect_column_values_to_be_null", {"column": "s"}),
    ("expect_column_values_to_be_between", {"column": "a", "min_value": 2, "max_value": 5}),
    ("expect_column_values_to_be_between", {"column": "a", "min_value": 2, "strict_min": True}),
    ("expect_column_values_to_be_between", {"column": "a", "max_value": 5, "strict_max": True}),
    ("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["ab", "abc"]}),
    ("expect_column_values_to_not_be_in_set", {"column": "s", "value_set": ["ab"]}),
    ("expect_column_values_to_match_regex", {"column": "s", "regex": "^a"}),
    ("expect_column_values_to_not_match_regex", {"column": "s", "regex": "[0-9]"}),
    ("expect_column_value_lengths_to_be_between", {"column": "s", "min_value": 1, "max_value": 2}),
    ("expect_column_value_lengths_to_equal", {"column": "s", "value": 2}),
    ("expect_column_values_to_be_unique", {"column": "a"}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["a", "s"]}),
    ("expect_compound_columns_to_be_unique", {"column_list": ["a", "s"], "ignore_row_if": "any_value_is_missing"}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "a", "column_B": "b"}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "a", "column_B": "b", "or_equal": True}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "a", "column_B": "b", "ignore_row_if": "either_value_is_missing"}),
    ("expect_column_pair_values_to_be_equal", {"column_A": "a", "column_B": "b"}),
]

# The unexpected rows of each case, counted by hand from ROWS.
BY_HAND = [3, 6, 2, 3, 3, 3, 2, 3, 1, 2, 2, 4, 2, 0, 3, 1, 3, 5]


def counted_while_written(marked: DataFrame, rules: list[Rule], checks: list[Rule] | None = None) -> Tally:
    """What the run counts of a marked output while its staged write writes it (here to Spark's noop sink)."""
    observation = Observation()
    routed(marked.observe(observation, *counters(marked, rules, checks or []))).write.format("noop").mode("overwrite").save()
    return tally(observation.get, marked, rules, checks or [])


def loaded_rows(marked: DataFrame) -> DataFrame:
    return routed(marked).where(F.col(ROUTE) == LOADED).drop(ROUTE, FAILED_RULES)


def test_every_supported_expectation_has_a_case() -> None:
    assert {kind for kind, _ in CASES} == set(FAILING)


def test_predicates_agree_with_great_expectations(spark: SparkSession) -> None:
    frame = spark.createDataFrame(ROWS, "a int, b int, s string").cache()
    configs = [ExpectationConfig(type=kind, kwargs=kwargs, severity="warn", name=f"case{i}") for i, (kind, kwargs) in enumerate(CASES)]
    result = Validator().validate(frame, SuiteConfig(name="agree", expectations=configs), "rows")
    # Great Expectations orders its results its own way: match them to the cases by the rule names.
    by_case = {item["expectation_config"]["meta"]["rule"]: item["result"]["unexpected_count"] for item in result.ge_result["results"]}
    theirs = [(config.type, by_case[f"case{i}"]) for i, config in enumerate(configs)]
    rules = [config.model_copy(update={"severity": "quarantine"}) for config in configs]
    found = quarantine_rules(SuiteConfig(name="agree", expectations=rules))
    counted = counted_while_written(mark(frame, found), found).per_rule
    ours = [(config.type, counted[f"case{i}"]) for i, config in enumerate(configs)]
    assert ours == theirs
    assert [count for _, count in ours] == BY_HAND


def test_checks_counted_in_the_one_pass_equal_great_expectations_on_the_rows_that_load(spark: SparkSession) -> None:
    """Row-level error/warn expectations are counted with the quarantine rules, among the rows that load;
    Great Expectations itself, given those rows, finds the same; an aggregate goes to Great Expectations."""
    frame = spark.createDataFrame(ROWS, "a int, b int, s string").cache()
    quarantine = ExpectationConfig(type="expect_column_values_to_not_be_null", kwargs={"column": "s"}, severity="quarantine")
    checked = [ExpectationConfig(type=kind, kwargs=kwargs, severity="warn") for kind, kwargs in CASES]
    aggregate = ExpectationConfig(
        type="expect_column_mean_to_be_between", kwargs={"column": "a", "min_value": 0, "max_value": 3}, severity="warn"
    )
    suite = SuiteConfig(name="one_pass", expectations=[quarantine, *checked, aggregate])
    rules, checks = quarantine_rules(suite), row_checks(suite)
    assert len(checks) == len(CASES)  # the aggregate is not a check
    marked = mark(frame, rules, checks).cache()
    counts = counted_while_written(marked, rules, checks)
    assert (counts.loaded, counts.quarantined) == (6, 3)  # three rows of ROWS have no s
    counted = Counted(counts.loaded + counts.quarantined, counts.loaded, counts.per_rule, counts.per_check)
    ours = Validator().validate(loaded_rows(marked), suite, "rows", counted).ge_result["results"]
    plain = SuiteConfig(name="plain", expectations=[*checked, aggregate])
    theirs = Validator().validate(loaded_rows(marked), plain, "rows").ge_result["results"]  # Great Expectations for all of them

    def by_expectation(items: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
        """(type, kwargs, unexpected count or observed value); Great Expectations adds a batch_id and writes 2 as 2.0."""
        found = []
        for item in items:
            kwargs = {k: v for k, v in item["expectation_config"]["kwargs"].items() if k != "batch_id"}
            spelled = json.dumps(json.loads(json.dumps(kwargs), parse_int=float), sort_keys=True)
            found.append(
                (item["expectation_config"]["type"], spelled, item["result"].get("unexpected_count", item["result"].get("observed_value")))
            )
        return sorted(found)

    assert by_expectation([item for item in ours if item["expectation_config"]["meta"]["severity"] != "quarantine"]) == by_expectation(
        theirs
    )
    # by hand: the rows without s are quarantined, so a (1, 5, 7, 5 and two nulls) has the duplicate 5 only
    assert counts.per_check[check_name(1 + CASES.index(("expect_column_values_to_be_unique", {"column": "a"})))] == 2
    assert [item["result"]["observed_value"] for item in ours if item["expectation_config"]["type"] == aggregate.type] == [4.5]


def test_an_aggregate_expectation_cannot_quarantine() -> None:
    suite = SuiteConfig(
        name="bad",
        expectations=[
            ExpectationConfig(type="expect_column_mean_to_be_between", kwargs={"column": "a", "min_value": 0}, severity="quarantine")
        ],
    )
    with pytest.raises(
        ConfigError, match=r"^conf/expectations/bad.yaml: expectations\[0\]: expect_column_mean_to_be_between is not a row-level"
    ):
        build_expectations(suite)


def test_mostly_is_refused_with_quarantine() -> None:
    suite = SuiteConfig(
        name="bad",
        expectations=[
            ExpectationConfig(type="expect_column_values_to_not_be_null", kwargs={"column": "a", "mostly": 0.9}, severity="quarantine")
        ],
    )
    with pytest.raises(ConfigError, match="mostly has no meaning with severity quarantine"):
        build_expectations(suite)


def test_two_rules_with_one_name_are_refused() -> None:
    rule = ExpectationConfig(type="expect_column_values_to_not_be_null", kwargs={"column": "a"}, severity="quarantine")
    with pytest.raises(ConfigError, match="two quarantine rules named 'expect_column_values_to_not_be_null\\(a\\)'; give one a `name`"):
        build_expectations(SuiteConfig(name="twice", expectations=[rule, rule]))
