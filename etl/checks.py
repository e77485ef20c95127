"""`etl check-config`: load every env, job, suite and pipeline the way a run would, and list every problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from etl.config import ConfigDir
from etl.errors import ConfigError
from etl.quality.suite import build_expectations
from etl.registry import job_class

Loaded = TypeVar("Loaded")


def check_config(root: Path, env: str | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes). Without an env every env is checked, and ${VARS} they need but this
    machine lacks become notes rather than problems (emr's ETL_BUCKET on a laptop)."""
    unset: list[str] = []
    conf = ConfigDir(root, unset=None if env else unset)
    problems: list[str] = []

    def attempt(load: Callable[[str], Loaded], name: str) -> Loaded | None:
        try:
            return load(name)
        except ConfigError as error:
            problems.append(str(error))
            return None

    for env_name in [env] if env else conf.names("env"):
        attempt(conf.env, env_name)

    for suite_name in conf.names("expectations"):
        suite = attempt(conf.suite, suite_name)
        if suite is not None:
            try:
                build_expectations(suite)
            except ConfigError as error:
                problems.append(str(error))

    for job_name in conf.names("jobs"):
        job = attempt(conf.job, job_name)
        if job is None:
            continue
        try:
            job_class(job).params_of(job)
        except ConfigError as error:
            problems.append(str(error))
        for target_name, target in job.targets.items():
            if target.suite and target.suite not in conf.names("expectations"):
                problems.append(f"conf/jobs/{job_name}.yaml: targets.{target_name}.suite: no conf/expectations/{target.suite}.yaml")
    for pipeline_name in conf.names("pipelines"):
        attempt(conf.pipeline, pipeline_name)
    return problems, sorted(set(unset))
