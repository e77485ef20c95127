"""The job's transform, held to its contract: one output per declared target, in the targets' order."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame

from etl.context import RunContext
from etl.errors import EtlError
from etl.job import Job


def transformed(job: Job, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
    outputs = job.transform(ctx, sources)
    targets = job.config.targets
    if set(outputs) != set(targets):
        raise EtlError(
            f"{job.config.name}: transform() returned outputs {sorted(outputs)} but conf/jobs/{job.config.name}.yaml "
            f"declares targets {sorted(targets)}"
        )
    return {name: outputs[name] for name in targets}
