"""Run one job over a window of days: config -> session -> context -> Job.run."""

from __future__ import annotations

from pyspark.sql import SparkSession

from etl.config import ConfigDir
from etl.config.models import EnvConfig, TableFormat
from etl.context import DateWindow, RunContext, new_run_id
from etl.job import RunOutcome
from etl.registry import job_class
from etl.zones import Zones


def formats_of(conf: ConfigDir, job_name: str, env: EnvConfig) -> set[TableFormat]:
    return {target.format or env.tables.default_format for target in conf.job(job_name).targets.values()}


def run_job(spark: SparkSession, conf: ConfigDir, env: EnvConfig, job_name: str, window: DateWindow) -> RunOutcome:
    config = conf.job(job_name)
    job = job_class(config)(spark, config, env, conf)
    ctx = RunContext(job=job_name, env=env.name, window=window, run_id=new_run_id(), zones=Zones.from_env(env))
    return job.run(ctx)
