"""`etl check-config`: load every env, job and suite the way a run would, and list every problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from etl.config import ConfigDir
from etl.errors import ConfigError


def check_config(root: Path, env: str | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes). Without an env every env is checked, and ${VARS} they need but this
    machine lacks become notes rather than problems (emr's ETL_BUCKET on a laptop)."""
    unset: list[str] = []
    conf = ConfigDir(root, unset=None if env else unset)
    problems: list[str] = []

    def attempt(load: Callable[[], Any]) -> Any:
        try:
            return load()
        except ConfigError as error:
            problems.append(str(error))
            return None

    for name in [env] if env else conf.names("env"):
        attempt(lambda name=name: conf.env(name))

    suites = {name: attempt(lambda name=name: conf.suite(name)) for name in conf.names("expectations")}
    for name, suite in suites.items():
        if suite is not None:
            from etl.quality.suite import build_expectations

            attempt(lambda suite=suite: build_expectations(suite))

    for name in conf.names("jobs"):
        job = attempt(lambda name=name: conf.job(name))
        if job is None:
            continue
        from etl.registry import job_class

        found = attempt(lambda job=job: job_class(job))
        if found is not None:
            attempt(lambda job=job, found=found: found.params_of(job))
        for target_name, target in job.targets.items():
            if target.suite and target.suite not in suites:
                problems.append(f"conf/jobs/{name}.yaml: targets.{target_name}.suite: no conf/expectations/{target.suite}.yaml")
    return problems, sorted(set(unset))
