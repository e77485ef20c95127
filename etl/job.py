"""The Job base class: a run is extract -> transform -> validate -> load, then the audit row.

A job subclass names nothing but its business logic: `transform` maps the sources (by the names in
conf/jobs/<job>.yaml) to one DataFrame per target. Reading, validating, loading, row counts and the
audit log are the framework's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from etl import audit, fs
from etl.config import ConfigDir
from etl.config.loader import describe
from etl.config.models import EnvConfig, JobConfig
from etl.context import RunContext
from etl.errors import ConfigError, EtlError, ValidationFailed
from etl.extract import read_source
from etl.load import write_table
from etl.quality import ValidationResult, Validator
from etl.quality.report import write_report
from etl.quality.validate import overall_status
from etl.secrets import mask

log = logging.getLogger(__name__)


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class RunOutcome:
    record: audit.RunRecord
    validations: list[ValidationResult]


class Job:
    """Subclass it, set Params if the job has settings, and implement transform()."""

    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, spark: SparkSession, config: JobConfig, env: EnvConfig, conf: ConfigDir) -> None:
        self.spark = spark
        self.config = config
        self.env = env
        self.conf = conf
        self.params: Any = self.params_of(config)
        # Loaded now: a broken suite fails the run before Spark does any work.
        self.suites = {name: conf.suite(target.suite) for name, target in config.targets.items() if target.suite}

    @classmethod
    def params_of(cls, config: JobConfig) -> BaseModel:
        try:
            return cls.Params.model_validate(config.params)
        except ValidationError as error:
            raise ConfigError(describe(error, {(): f"conf/jobs/{config.name}.yaml"}).replace(": ", ": params.", 1)) from None

    # --- the stages a job may override --------------------------------------------------------------

    def extract(self, ctx: RunContext) -> dict[str, DataFrame]:
        return {name: read_source(self.spark, name, source, ctx) for name, source in self.config.sources.items()}

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        raise NotImplementedError(f"{type(self).__name__} must implement transform()")

    # --- the orchestration ----------------------------------------------------------------------------

    def run(self, ctx: RunContext) -> RunOutcome:
        record = audit.RunRecord.start(ctx, datetime.now(UTC))
        validations: list[ValidationResult] = []
        outputs: dict[str, DataFrame] = {}
        try:
            observations = {name: Observation(_observation_name(name)) for name in self.config.sources}
            sources = {
                name: frame.observe(observations[name], F.count(F.lit(1)).alias("rows")) for name, frame in self.extract(ctx).items()
            }
            outputs = self._outputs(ctx, sources)
            # Materialize each output once: validation and the write both read the cache, and the
            # full count makes the source observations report every row read.
            output_rows = {name: frame.persist(StorageLevel.MEMORY_AND_DISK).count() for name, frame in outputs.items()}
            record.rows_read = _observed_rows(observations, outputs)
            validations = self._validate(ctx, outputs)
            record.validation = overall_status(validations)
            failed = [v for v in validations if v.status == "failed"]
            if failed:
                raise ValidationFailed(_failure_line(failed))
            self._load(ctx, outputs, on_loaded=lambda name: record.rows_written.update({name: output_rows[name]}))
            record.rows_rejected = {name: 0 for name in outputs}
            record.status = "succeeded"
        except Exception as error:
            record.status = "failed"
            record.error = one_line(error)
            raise
        finally:
            record.ended_at = datetime.now(UTC)
            for frame in outputs.values():
                frame.unpersist()
            self._audit(ctx, record)
        return RunOutcome(record, validations)

    def _outputs(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        outputs = self.transform(ctx, sources)
        if set(outputs) != set(self.config.targets):
            raise EtlError(
                f"{self.config.name}: transform() returned outputs {sorted(outputs)} but conf/jobs/{self.config.name}.yaml "
                f"declares targets {sorted(self.config.targets)}"
            )
        return {name: outputs[name] for name in self.config.targets}

    def _validate(self, ctx: RunContext, outputs: Mapping[str, DataFrame]) -> list[ValidationResult]:
        if not self.suites:
            return []
        validator = Validator()
        results = []
        for name, suite in self.suites.items():
            result = validator.validate(outputs[name], suite, name)
            fs.write_text(
                self.spark, ctx.zones.uri("dq", ctx.job, f"run_date={ctx.run_date}", ctx.run_id, f"{name}.json"), result.to_json()
            )
            for outcome in result.failures("warn"):
                log.warning("%s: expectation failed (warn): %s", name, outcome.describe())
            results.append(result)
        write_report(self.spark, ctx, self.config, results)  # report.html next to the JSON; never fails the run
        return results

    def _load(self, ctx: RunContext, outputs: Mapping[str, DataFrame], on_loaded: Callable[[str], None]) -> None:
        superseded: list[str] = []
        for name, target in self.config.targets.items():
            table_format = target.format or self.env.tables.default_format
            log.info("loading %s into %s (%s, %s)", name, target.table, table_format, target.mode)
            superseded += write_table(self.spark, outputs[name], target, table_format, ctx)
            on_loaded(name)
        # Old table folders go only now: until every target is loaded, cached outputs may still read them.
        for folder in superseded:
            fs.delete(self.spark, folder)

    def _audit(self, ctx: RunContext, record: audit.RunRecord) -> None:
        try:
            audit.write_run(self.spark, ctx, record)
        except Exception as error:  # the run's own error matters more than the audit's
            log.error("could not write the audit row of run %s: %s", ctx.run_id, one_line(error))


def one_line(error: BaseException) -> str:
    """An error as one line: our own messages as they are; for a JVM error its innermost cause
    (where Spark says what was wrong with the data), without the stack trace."""
    java = getattr(error, "java_exception", None)
    if java is not None:
        while java.getCause() is not None:
            java = java.getCause()
        return mask(" ".join(f"{java.getClass().getSimpleName()}: {java.getMessage()}".split())[:1000])
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0].strip()
    return mask(first if isinstance(error, EtlError) else f"{type(error).__name__}: {first}")


def _observed_rows(observations: Mapping[str, Observation], outputs: Mapping[str, DataFrame]) -> dict[str, int]:
    """Rows read per source, from the observations the outputs' materialization filled in.

    A source no output uses was never read: 0. For a used one, Spark delivers the metric through its
    listener bus, a moment after the action; adaptive execution may also skip an input entirely
    (a join with an empty side), so the wait is bounded rather than endless.
    """
    plans = [frame._jdf.queryExecution().analyzed().treeString() for frame in outputs.values()]
    rows: dict[str, int] = {}
    for name, observation in observations.items():
        if not any(f"CollectMetrics {_observation_name(name)}," in plan for plan in plans):
            log.warning("source %s is declared but no target uses it", name)
            rows[name] = 0
            continue
        result: dict[str, Any] = {}
        reader = threading.Thread(target=lambda o=observation, into=result: into.update(o.get), daemon=True)
        reader.start()
        reader.join(timeout=60)
        if "rows" not in result:
            log.warning("source %s: no row count arrived from Spark within 60 s", name)
        rows[name] = int(result.get("rows", 0))
    return rows


def _observation_name(source: str) -> str:
    return f"read_{source}"


def _failure_line(failed: list[ValidationResult]) -> str:
    parts = []
    for result in failed:
        errors = result.failures("error")
        parts.append(f"{result.target}: {len(errors)} expectation(s) of severity error failed: " + "; ".join(o.describe() for o in errors))
    return "validation failed, nothing was written: " + " | ".join(parts)
