"""Run a suite against a DataFrame with Great Expectations and judge it by severity."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pyspark.sql import DataFrame

from etl.config.models import SuiteConfig
from etl.quality.rules import rule_name
from etl.quality.suite import GE_SEVERITY, build_expectations, meta

Status = Literal["passed", "warned", "failed", "skipped"]


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, as the audit log and the error message need it."""

    expectation: str
    kwargs: dict[str, Any]
    severity: str
    success: bool
    unexpected_count: int | None
    observed_value: Any

    def describe(self) -> str:
        arguments = ", ".join(f"{k}={v}" for k, v in self.kwargs.items() if k != "batch_id")
        found = f"{self.unexpected_count} unexpected" if self.unexpected_count is not None else f"observed {self.observed_value}"
        return f"{self.expectation}({arguments}): {found}"


@dataclass(frozen=True)
class ValidationResult:
    target: str
    suite: str
    outcomes: list[Outcome]
    ge_result: dict[str, Any]

    @property
    def status(self) -> Status:
        failed = [o for o in self.outcomes if not o.success]
        if any(o.severity == "error" for o in failed):
            return "failed"
        return "warned" if failed else "passed"

    def failures(self, severity: str) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success and o.severity == severity]

    def to_json(self) -> str:
        return json.dumps(self.ge_result, indent=2, sort_keys=True, default=str)


class Validator:
    """One ephemeral Great Expectations context per run, shared by the run's suites."""

    def __init__(self) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        self._asset = self._context.data_sources.add_spark(name="etl").add_dataframe_asset(name="output")
        self._batch_definition = self._asset.add_batch_definition_whole_dataframe("whole")

    def validate(self, df: DataFrame, suite: SuiteConfig, target: str, quarantine: QuarantineOutcome | None = None) -> ValidationResult:
        """Great Expectations checks the rows that will load (error and warn); the quarantine rules were
        applied before, and their counts join the result in Great Expectations' shape."""
        import great_expectations as gx

        built = zip(suite.expectations, build_expectations(suite), strict=True)
        checked = [expectation for config, expectation in built if config.severity != "quarantine"]
        name = f"{suite.name}:{target}"
        if checked:
            batch = self._batch_definition.get_batch(batch_parameters={"dataframe": df})
            result = batch.validate(gx.ExpectationSuite(name=name, expectations=checked)).to_json_dict()
        else:
            result = {"success": True, "results": [], "suite_name": name, "meta": {"great_expectations_version": gx.__version__}}
        if quarantine is not None:
            result = with_quarantine(result, suite, quarantine)
        outcomes = [outcome_of(item) for item in result["results"]]
        return ValidationResult(target=target, suite=suite.name, outcomes=outcomes, ge_result=result)


@dataclass(frozen=True)
class QuarantineOutcome:
    """What the quarantine rules of a target found: rows checked, rows failing each rule, a few of their values."""

    element_count: int
    per_rule: Mapping[str, int]
    samples: Mapping[str, list[Any]]


def with_quarantine(result: dict[str, Any], suite: SuiteConfig, quarantine: QuarantineOutcome) -> dict[str, Any]:
    """The result with one item per quarantine rule, shaped like Great Expectations' own, and the statistics redone."""
    items = list(result["results"])
    total = quarantine.element_count
    for config in suite.expectations:
        if config.severity != "quarantine":
            continue
        rule = rule_name(config)
        unexpected = quarantine.per_rule.get(rule, 0)
        items.append(
            {
                "success": unexpected == 0,
                "expectation_config": {
                    "type": config.type,
                    "kwargs": dict(config.kwargs),
                    "meta": meta(config),
                    "severity": GE_SEVERITY["quarantine"],
                },
                "result": {
                    "element_count": total,
                    "unexpected_count": unexpected,
                    "unexpected_percent": 100.0 * unexpected / total if total else None,
                    "partial_unexpected_list": quarantine.samples.get(rule, []),
                },
                "exception_info": {"raised_exception": False, "exception_message": None, "exception_traceback": None},
            }
        )
    met = sum(1 for item in items if item["success"])
    statistics = {
        "evaluated_expectations": len(items),
        "successful_expectations": met,
        "unsuccessful_expectations": len(items) - met,
        "success_percent": 100.0 * met / len(items) if items else None,
    }
    return {**result, "results": items, "success": met == len(items), "statistics": statistics}


def outcome_of(item: dict[str, Any]) -> Outcome:
    config = item["expectation_config"]
    details = item.get("result") or {}
    raised = item.get("exception_info") or {}
    observed = f"error: {raised.get('exception_message')}" if raised.get("raised_exception") else details.get("observed_value")
    return Outcome(
        expectation=config["type"],
        kwargs=config["kwargs"],
        severity=config["meta"]["severity"],
        success=bool(item["success"]),
        unexpected_count=details.get("unexpected_count"),
        observed_value=observed,
    )


def overall_status(results: Iterable[ValidationResult]) -> str:
    """failed if any target failed, else warned if any warned, else passed; skipped without suites (the audit row's `validation`)."""
    statuses = {result.status for result in results}
    return next((status for status in ("failed", "warned", "passed") if status in statuses), "skipped")
