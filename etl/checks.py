"""`etl check-config`: load every env, job, suite and pipeline the way a run would, and list every problem."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from etl.config import ConfigDir
from etl.config.models import JobConfig, SuiteConfig, TargetConfig
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
            suite = attempt_quietly(conf.suite, target.suite) if target.suite and target.columns else None
            problems += [
                f"conf/jobs/{job_name}.yaml: targets.{target_name}.columns: {problem}"
                for problem in description_problems(job, target, suite)
            ]
    for pipeline_name in conf.names("pipelines"):
        attempt(conf.pipeline, pipeline_name)
    return problems, sorted(set(unset))


def attempt_quietly(load: Callable[[str], Loaded], name: str) -> Loaded | None:
    """load(name), or None where that fails (a problem reported already)."""
    try:
        return load(name)
    except ConfigError:
        return None


def description_problems(job: JobConfig, target: TargetConfig, suite: SuiteConfig | None) -> list[str]:
    """What a target's column descriptions contradict, when it has them: the columns the job declares for
    the table (a table source reading it, with columns) and the columns its suite checks."""
    if not target.columns:
        return []
    problems = []
    for name, source in job.sources.items():
        if source.format == "table" and source.table == target.table and source.columns:
            unknown = [column for column in target.columns if column not in source.columns]
            if unknown:
                problems.append(f"describes {', '.join(unknown)}, which the table's declared columns (sources.{name}.columns) do not have")
            missing = [column for column in source.columns if column not in target.columns]
            if missing:
                problems.append(f"no description of {', '.join(missing)} (declared in sources.{name}.columns)")
    checked = [column for expectation in (suite.expectations if suite else []) for column in checked_columns(expectation.kwargs)]
    unchecked = [column for column in dict.fromkeys(checked) if column not in target.columns]
    if unchecked:
        problems.append(f"no description of {', '.join(unchecked)} (checked by its suite {target.suite})")
    return problems


def checked_columns(kwargs: Mapping[str, Any]) -> list[str]:
    """The columns an expectation's arguments name (column, column_A, column_B, column_list)."""
    named = [kwargs.get(key) for key in ("column", "column_A", "column_B")]
    listed = kwargs.get("column_list") or []
    return [str(column) for column in [*named, *listed] if isinstance(column, str)]
