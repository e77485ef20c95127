"""The job's transform (and derive), held to their contract: one output per declared target, in the
targets' order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pyspark.sql import DataFrame

from etl.context import RunContext
from etl.errors import EtlError
from etl.job import Job


def transformed(job: Job, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
    """transform()'s outputs, in the order of the targets; the targets it leaves out are derive()'s."""
    outputs = job.transform(ctx, sources)
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
