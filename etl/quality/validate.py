"""Run a suite against a DataFrame with Great Expectations and judge it by severity."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pyspark.sql import DataFrame

from etl.config.models import SuiteConfig
from etl.quality.rules import check_name, is_row_level, rule_name
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


def import_in_background() -> None:
    """Start importing Great Expectations on a thread of its own: it takes seconds (3 s alone, 5 s beside a
    busy JVM on 2 cores), which a run otherwise spends waiting on Spark. validate()'s own import then finds
    the module loaded, or waits for the thread to finish it."""
    threading.Thread(target=_import_great_expectations, name="import-great-expectations", daemon=True).start()


def _import_great_expectations() -> None:
    with contextlib.suppress(Exception):  # the run's own import raises it again, in its thread, with its message
        import great_expectations  # noqa: F401


class Validator:
    """One ephemeral Great Expectations context per run, shared by the run's suites, made when a suite
    first needs Great Expectations to evaluate something."""

    def __init__(self) -> None:
        self._batch_definition: Any = None

    def _batch(self, df: DataFrame) -> Any:
        if self._batch_definition is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            asset = context.data_sources.add_spark(name="etl").add_dataframe_asset(name="output")
            self._batch_definition = asset.add_batch_definition_whole_dataframe("whole")
        return self._batch_definition.get_batch(batch_parameters={"dataframe": df})

    def validate(self, df: DataFrame, suite: SuiteConfig, target: str, counted: Counted | None = None) -> ValidationResult:
        """The suite's results over the rows that will load (`df`). With `counted` (the counting pass's
        figures), quarantine rules and row-level checks come from it, in Great Expectations' shape, and
        Great Expectations itself evaluates only the rest (aggregates, `mostly`); without it, everything
        but the quarantine rules."""
        import great_expectations as gx

        built = zip(suite.expectations, build_expectations(suite), strict=True)  # checks every expectation's arguments
        evaluated = [e for config, e in built if config.severity != "quarantine" and not (counted and is_row_level(config))]
        name = f"{suite.name}:{target}"
        if evaluated:
            result = self._batch(df).validate(gx.ExpectationSuite(name=name, expectations=evaluated)).to_json_dict()
        else:
            result = {"success": True, "results": [], "suite_name": name, "meta": {"great_expectations_version": gx.__version__}}
        if counted is not None:
            result = with_counted(result, suite, counted)
        outcomes = [outcome_of(item) for item in result["results"]]
        return ValidationResult(target=target, suite=suite.name, outcomes=outcomes, ge_result=result)


@dataclass(frozen=True)
class Counted:
    """What the counting pass found for a target: rows the quarantine rules judged, rows that load,
    rows failing each quarantine rule (by rule name) and each row-level check (by check name), a few
    failing values of each."""

    judged: int
    loaded: int
    per_rule: Mapping[str, int]
    per_check: Mapping[str, int] = field(default_factory=dict)
    rule_samples: Mapping[str, list[Any]] = field(default_factory=dict)
    check_samples: Mapping[str, list[Any]] = field(default_factory=dict)


def with_counted(result: dict[str, Any], suite: SuiteConfig, counted: Counted) -> dict[str, Any]:
    """The result with one item per quarantine rule and row-level check, shaped like Great Expectations'
    own, and the statistics redone."""
    items = list(result["results"])
    for position, config in enumerate(suite.expectations):
        if config.severity == "quarantine":
            name, total, found = rule_name(config), counted.judged, counted.rule_samples
            unexpected = counted.per_rule.get(name, 0)
        elif is_row_level(config):
            name, total, found = check_name(position), counted.loaded, counted.check_samples
            unexpected = counted.per_check.get(name, 0)
        else:
            continue
        items.append(
            {
                "success": unexpected == 0,
                "expectation_config": {
                    "type": config.type,
                    "kwargs": dict(config.kwargs),
                    "meta": meta(config),
                    "severity": GE_SEVERITY[config.severity],
                },
                "result": {
                    "element_count": total,
                    "unexpected_count": unexpected,
                    "unexpected_percent": 100.0 * unexpected / total if total else None,
                    "partial_unexpected_list": found.get(name, []),
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
