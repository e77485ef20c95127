"""Pipelines: the jobs of a night (conf/pipelines/<name>.yaml) and the order their dependencies give."""

from __future__ import annotations

from etl.config import ConfigDir, PipelineConfig
from etl.config.models import SourceConfig


def plan(conf: ConfigDir, pipeline: PipelineConfig) -> str:
    """What `etl pipeline show` prints: the jobs in the order they run, each with what it waits for,
    reads and writes."""
    lines = [f"{pipeline.name}: {pipeline.description}"]
    for number, name in enumerate(pipeline.order(), start=1):
        job = conf.job(name)
        after = pipeline.jobs[name].depends_on
        lines.append(f"{number}. {name}" + (f" (after {', '.join(after)})" if after else ""))
        lines.append(f"     reads   {', '.join(dict.fromkeys(_source(source) for source in job.sources.values())) or '-'}")
        lines.append(f"     writes  {', '.join(target.table for target in job.targets.values()) or '-'}")
    return "\n".join(lines)


def _source(source: SourceConfig) -> str:
    return source.table or f"{source.zone}/{source.path}"
