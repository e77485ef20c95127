"""Each target's expectation suite: row-level results from the run's counts, the rest by Great
Expectations over the staged rows; one JSON result per target, the run's row counts and its report page
under the dq zone."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pyspark.sql import SparkSession

from etl.accounting import RunRows
from etl.config.models import JobConfig, SuiteConfig
from etl.context import RunContext
from etl.load import Staged, read_staged
from etl.load.common import LOADED, QUARANTINED
from etl.quality import ValidationResult, Validator
from etl.quality.report import ROWS_NAME, run_folder, write_report
from etl.quality.routing import Rule, Tally, samples
from etl.quality.validate import Counted
from etl.spark_internals import fs
from etl.zones import join

log = logging.getLogger(__name__)


def validate(
    spark: SparkSession,
    config: JobConfig,
    ctx: RunContext,
    suites: Mapping[str, SuiteConfig],
    staged: Mapping[str, Staged],
    tallies: Mapping[str, Tally],
    rules: Mapping[str, list[Rule]],
    checks: Mapping[str, list[Rule]],
    rows: RunRows,
) -> tuple[list[ValidationResult], str | None]:
    """The results of every target's suite, and the URI of the run's report page."""
    if not suites:
        return [], None
    folder = run_folder(ctx)
    fs.write_text(spark, join(folder, ROWS_NAME), rows.to_json())
    validator = Validator()
    results = []
    for name, suite in suites.items():
        counts = tallies[name]
        loaded = read_staged(spark, staged[name], LOADED)
        counted = Counted(
            judged=counts.loaded + counts.quarantined,
            loaded=counts.loaded,
            per_rule=counts.per_rule,
            per_check=counts.per_check,
            rule_samples=samples(read_staged(spark, staged[name], QUARANTINED), rules[name], counts.per_rule),
            check_samples=samples(loaded, checks[name], counts.per_check),
        )
        result = validator.validate(loaded, suite, name, counted)
        fs.write_text(spark, join(folder, f"{name}.json"), result.to_json())
        for outcome in result.failures("warn"):
            log.warning("%s: expectation failed (warn): %s", name, outcome.describe())
        for outcome in result.failures("quarantine"):
            log.info("%s: %s rows quarantined: %s", name, outcome.unexpected_count, outcome.describe())
        results.append(result)
    report = write_report(spark, ctx, config, results, rows)  # report.html next to the JSON; never fails the run
    if report:
        log.info("validation report: %s", report)
    return results, report


def failure_line(failed: list[ValidationResult], report: str | None) -> str:
    parts = []
    for result in failed:
        errors = result.failures("error")
        parts.append(f"{result.target}: {len(errors)} expectation(s) of severity error failed: " + "; ".join(o.describe() for o in errors))
    return "validation failed, nothing was written: " + " | ".join(parts) + (f" (report: {report})" if report else "")
