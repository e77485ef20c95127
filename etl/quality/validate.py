"""Run a suite against a DataFrame with Great Expectations and judge it by severity."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pyspark.sql import DataFrame

from etl.config.models import SuiteConfig
from etl.quality.suite import build_expectations

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

    def validate(self, df: DataFrame, suite: SuiteConfig, target: str) -> ValidationResult:
        import great_expectations as gx

        ge_suite = gx.ExpectationSuite(name=f"{suite.name}:{target}", expectations=build_expectations(suite))
        batch = self._batch_definition.get_batch(batch_parameters={"dataframe": df})
        result = batch.validate(ge_suite).to_json_dict()
        outcomes = [outcome_of(item) for item in result["results"]]
        return ValidationResult(target=target, suite=suite.name, outcomes=outcomes, ge_result=result)


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
