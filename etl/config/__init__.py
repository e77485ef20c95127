"""Loading the project's configuration: conf/base.yaml + conf/env/<env>.yaml, conf/jobs/<job>.yaml, conf/expectations/<suite>.yaml."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from etl.config.loader import load_layers, read_yaml, record, validate
from etl.config.models import EnvConfig, JobConfig, PipelineConfig, SuiteConfig
from etl.errors import ConfigError

__all__ = ["ConfigDir", "EnvConfig", "JobConfig", "PipelineConfig", "SuiteConfig", "find_conf_dir"]

Model = TypeVar("Model", bound=BaseModel)


def find_conf_dir(explicit: str | None = None) -> Path:
    """--conf-dir, else $ETL_CONF_DIR, else ./conf, else the conf/ shipped beside the etl package."""
    candidates = [explicit, os.environ.get("ETL_CONF_DIR"), "conf", str(Path(__file__).resolve().parents[2] / "conf")]
    for candidate in candidates:
        if candidate and (Path(candidate) / "base.yaml").is_file():
            return Path(candidate)
    tried = ", ".join(c for c in candidates if c)
    raise ConfigError(f"no configuration folder with a base.yaml found (tried {tried}); pass --conf-dir or set ETL_CONF_DIR")


@dataclass(frozen=True)
class ConfigDir:
    """One conf/ folder; loads and validates what it holds."""

    root: Path
    environ: Mapping[str, str] | None = None
    # When a list is given, unset ${VARS} are noted there instead of failing (see interpolate).
    unset: list[str] | None = field(default=None, compare=False)

    def _shown(self, path: Path) -> str:
        return f"conf/{path.relative_to(self.root).as_posix()}"

    def names(self, folder: str) -> list[str]:
        return sorted(p.stem for p in (self.root / folder).glob("*.yaml"))

    def env(self, name: str) -> EnvConfig:
        base = self.root / "base.yaml"
        layers = [(base, self._shown(base)), *((path, self._shown(path)) for path in self._env_chain(name))]
        data, provenance = load_layers(layers, self.environ, self.unset)
        data.pop("extends", None)
        return validate(EnvConfig, {**data, "name": name}, provenance)

    def _env_chain(self, name: str) -> list[Path]:
        """conf/env/<name>.yaml after the envs it `extends:` (local-s3 extends local), oldest first."""
        chain: list[Path] = []
        while name:
            path = self.root / "env" / f"{name}.yaml"
            if not path.is_file():
                raise ConfigError(f"conf/env/{name}.yaml: no such env (known: {', '.join(self.names('env'))})")
            if path in chain:
                raise ConfigError(f"{self._shown(path)}: extends: a cycle ({' -> '.join(p.stem for p in reversed(chain))} -> {name})")
            chain.insert(0, path)
            parent = read_yaml(path, self._shown(path)).get("extends")
            if parent is not None and not isinstance(parent, str):
                raise ConfigError(f"{self._shown(path)}: extends: must be the name of another env")
            name = parent or ""
        return chain

    def job(self, name: str) -> JobConfig:
        return self._single(JobConfig, "jobs", name)

    def suite(self, name: str) -> SuiteConfig:
        return self._single(SuiteConfig, "expectations", name)

    def pipeline(self, name: str) -> PipelineConfig:
        """conf/pipelines/<name>.yaml, its jobs known and its dependencies within it and without a cycle."""
        pipeline = self._single(PipelineConfig, "pipelines", name)
        shown, jobs = f"conf/pipelines/{name}.yaml", self.names("jobs")
        for job, step in pipeline.jobs.items():
            if job not in jobs:
                raise ConfigError(f"{shown}: jobs.{job}: no conf/jobs/{job}.yaml (known: {', '.join(jobs)})")
            if any(source.stream for source in self.job(job).sources.values()):
                raise ConfigError(f"{shown}: jobs.{job}: a stream job runs until it is stopped (etl stream), not in a pipeline")
            for dependency in step.depends_on:
                if dependency not in pipeline.jobs:
                    raise ConfigError(
                        f"{shown}: jobs.{job}.depends_on: {dependency} is not a job of this pipeline ({', '.join(pipeline.jobs)})"
                    )
        cycle = pipeline.cycle()
        if cycle:
            raise ConfigError(f"{shown}: jobs: depends_on goes round in a cycle: {' -> '.join(cycle)}")
        return pipeline

    def _single(self, model: type[Model], folder: str, name: str) -> Model:
        path = self.root / folder / f"{name}.yaml"
        if not path.is_file():
            known = ", ".join(self.names(folder)) or "none"
            raise ConfigError(f"conf/{folder}/{name}.yaml: not found (known: {known})")
        data, provenance = load_layers([(path, self._shown(path))], self.environ, self.unset)
        record(data, (), self._shown(path), provenance)
        return validate(model, {**data, "name": name}, provenance)
