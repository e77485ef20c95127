"""Expectation suites from YAML -> Great Expectations 1.x expectation objects."""

from __future__ import annotations

from typing import Any

from etl.config.models import ExpectationConfig, SuiteConfig
from etl.errors import ConfigError
from etl.quality.rules import failing, rule_name

# Our severities as Great Expectations names them (both are kept in the result).
GE_SEVERITY = {"error": "critical", "warn": "warning", "quarantine": "warning"}


def class_name(expectation_type: str) -> str:
    """expect_column_values_to_not_be_null -> ExpectColumnValuesToNotBeNull."""
    return "".join(part.capitalize() for part in expectation_type.split("_"))


def build_expectation(suite: SuiteConfig, index: int, config: ExpectationConfig) -> Any:
    import great_expectations as gx  # slow to import: only when a suite is used

    where = f"conf/expectations/{suite.name}.yaml: expectations[{index}]"
    expectation_class = getattr(gx.expectations, class_name(config.type), None)
    if expectation_class is None:
        raise ConfigError(f"{where}.type: {config.type!r} is not a Great Expectations expectation")
    try:
        expectation = expectation_class(**config.kwargs, severity=GE_SEVERITY[config.severity], meta=meta(config))
    except Exception as error:  # GE raises pydantic (v1 API) validation errors
        raise ConfigError(f"{where}.kwargs: {_first_problem(error)}") from None
    if config.severity == "quarantine":
        try:
            failing(config)
        except ValueError as error:
            raise ConfigError(f"{where}: {error}") from None
    return expectation


def meta(config: ExpectationConfig) -> dict[str, Any]:
    """What the stored result keeps of our config: the severity and the rule's name."""
    return {"severity": config.severity, "rule": rule_name(config)}


def build_expectations(suite: SuiteConfig) -> list[Any]:
    """Every expectation of the suite (quarantine rules too: Great Expectations checks their arguments)."""
    expectations = [build_expectation(suite, index, config) for index, config in enumerate(suite.expectations)]
    rules = [rule_name(config) for config in suite.expectations if config.severity == "quarantine"]
    repeated = sorted({name for name in rules if rules.count(name) > 1})
    if repeated:
        raise ConfigError(f"conf/expectations/{suite.name}.yaml: two quarantine rules named {repeated[0]!r}; give one a `name`")
    return expectations


def _first_problem(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        key = ".".join(str(part) for part in first.get("loc", ()))
        return f"{key}: {first.get('msg', '')}"
    return str(error).splitlines()[0]
