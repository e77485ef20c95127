"""What a job author writes: a subclass of Job with the job's business logic, nothing else.

`transform` maps the sources (by the names in conf/jobs/<job>.yaml) to one DataFrame per target;
`derive`, for targets made from other targets (an aggregate of a fact table), gets the rows the run
loads into those; `Params`, when the job has settings, types the YAML's `params`; `extract` is there
to override for a source the framework cannot read. Running it (reading, validating, loading, counting, the audit log) is
etl/run/'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pyspark.sql import DataFrame, SparkSession

from etl.config import ConfigDir
from etl.config.loader import describe
from etl.config.models import EnvConfig, JobConfig
from etl.context import RunContext
from etl.errors import ConfigError
from etl.extract import read_source


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Job:
    """Subclass it, set Params if the job has settings, and implement transform()."""

    Params: ClassVar[type[BaseModel]] = NoParams

    def __init__(self, spark: SparkSession, config: JobConfig, env: EnvConfig, conf: ConfigDir) -> None:
        self.spark = spark
        self.config = config
        self.env = env
        self.conf = conf
        self.params: Any = self.params_of(config)

    @classmethod
    def params_of(cls, config: JobConfig) -> BaseModel:
        try:
            return cls.Params.model_validate(config.params)
        except ValidationError as error:
            raise ConfigError(describe(error, {(): f"conf/jobs/{config.name}.yaml"}).replace(": ", ": params.", 1)) from None

    def extract(self, ctx: RunContext, files: Mapping[str, list[str]] | None = None) -> dict[str, DataFrame]:
        """Each source's rows; `files`: the files to read of the incremental sources (their new ones)."""
        files = files or {}
        return {name: read_source(self.spark, name, source, ctx, files.get(name)) for name, source in self.config.sources.items()}

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        """One DataFrame per target, from the sources (the targets derive() makes left out)."""
        raise NotImplementedError(f"{type(self).__name__} must implement transform()")

    def derive(self, ctx: RunContext, loaded: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        """The targets made from other targets' rows: `loaded` holds, for each of transform()'s outputs,
        the rows this run loads into its table (read back from where the run wrote them, not computed
        again; rows quarantined or dropped are not in them)."""
        return {}
