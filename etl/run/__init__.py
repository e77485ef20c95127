"""Running a job: config -> session -> context -> the batch run (etl/run/batch.py) or the stream run
(etl/run/stream.py)."""

from __future__ import annotations

from pyspark.sql import SparkSession

from etl.config import ConfigDir
from etl.config.models import EnvConfig, TableFormat
from etl.context import DateWindow, RunContext, new_run_id
from etl.errors import EtlError
from etl.registry import job_class
from etl.run.batch import RunOutcome, run_batch
from etl.run.stream import run_stream
from etl.zones import Zones

__all__ = ["RunOutcome", "formats_of", "is_stream", "run_batch", "run_job", "run_stream"]


def formats_of(conf: ConfigDir, job_name: str, env: EnvConfig) -> set[TableFormat]:
    return {target.format or env.tables.default_format for target in conf.job(job_name).targets.values()}


def run_job(
    spark: SparkSession,
    conf: ConfigDir,
    env: EnvConfig,
    job_name: str,
    window: DateWindow,
    every_seconds: int | None = None,
    run_id: str | None = None,
) -> RunOutcome:
    """A batch job's run; a stream job's queries until what has arrived is processed, or, every_seconds
    given, until interrupted (etl stream). `run_id`: the id its audit row gets (default: a new one)."""
    config = conf.job(job_name)
    job = job_class(config)(spark, config, env, conf)
    ctx = RunContext(job=job_name, env=env.name, window=window, run_id=run_id or new_run_id(), zones=Zones.from_env(env))
    if is_stream(conf, job_name):
        return RunOutcome(run_stream(job, ctx, every_seconds), [])
    if every_seconds is not None:
        raise EtlError(f"{job_name} reads no stream: run it with `etl run` or `etl backfill`")
    return run_batch(job, ctx)


def is_stream(conf: ConfigDir, job_name: str) -> bool:
    return any(source.stream for source in conf.job(job_name).sources.values())
