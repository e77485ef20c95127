"""Find a job's class by the `class: module:Class` in its YAML; etl never imports jobs/ by name."""

from __future__ import annotations

import importlib

from etl.config.models import JobConfig
from etl.errors import ConfigError
from etl.job import Job


def job_class(config: JobConfig) -> type[Job]:
    module_name, _, class_name = config.job_class.partition(":")
    where = f"conf/jobs/{config.name}.yaml: class"
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"{where}: cannot import {module_name}: {error}") from None
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, Job)):
        raise ConfigError(f"{where}: {config.job_class} is not a subclass of etl.job.Job")
    return found
