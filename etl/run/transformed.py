"""The job's transform (and derive), held to their contract: one output per declared target, in the
targets' order."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping

from pyspark.sql import DataFrame

from etl.context import RunContext
from etl.errors import EtlError
from etl.job import Job

log = logging.getLogger(__name__)


def transformed(job: Job, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
    """transform()'s outputs, in the order of the targets; the targets it leaves out are derive()'s."""
    looked_up = _LookedUp(sources)
    outputs = job.transform(ctx, looked_up)
    for name in sources:
        if name not in looked_up.names:
            log.warning("source %s is declared in conf/jobs/%s.yaml but transform() never reads it", name, job.config.name)
    if not set(outputs) <= set(job.config.targets):
        raise _mismatch(job, "transform()", outputs)
    return {name: outputs[name] for name in job.config.targets if name in outputs}


def derived(job: Job, ctx: RunContext, loaded: Mapping[str, DataFrame], outputs: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
    """derive()'s outputs from the staged rows of transform()'s, when transform() left targets to it;
    with transform()'s they must make up the targets."""
    if set(outputs) == set(job.config.targets):
        return {}
    more = job.derive(ctx, loaded)
    if set(more) & set(outputs) or set(more) | set(outputs) != set(job.config.targets):
        raise _mismatch(job, "transform() and derive()", [*outputs, *more])
    return {name: more[name] for name in job.config.targets if name in more}


def _mismatch(job: Job, what: str, outputs: Iterable[str]) -> EtlError:
    return EtlError(
        f"{job.config.name}: {what} returned outputs {sorted(outputs)} but conf/jobs/{job.config.name}.yaml "
        f"declares targets {sorted(job.config.targets)}"
    )


class _LookedUp(Mapping[str, DataFrame]):
    """The sources, noting the names transform() looks up (items(), values() and get() look up too)."""

    def __init__(self, sources: Mapping[str, DataFrame]) -> None:
        self._sources = sources
        self.names: set[str] = set()

    def __getitem__(self, name: str) -> DataFrame:
        self.names.add(name)
        return self._sources[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __len__(self) -> int:
        return len(self._sources)
