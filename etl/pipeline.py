"""Pipelines: the jobs of a night (conf/pipelines/<name>.yaml) and the order their dependencies give."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from etl.config import ConfigDir, PipelineConfig
from etl.config.models import SourceConfig
from etl.context import DateWindow


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


@dataclass
class PipelineOutcome:
    """What became of each job of a pipeline run: succeeded, failed (with its one-line reason), or skipped
    (with the jobs it waited for that did not succeed)."""

    jobs: int
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def summary(self, name: str, window: DateWindow) -> str:
        """One line: '<pipeline> <window>: 1 of 3 jobs succeeded; a failed: <reason>; b skipped (after a)'."""
        parts = [f"{name} {window}: {len(self.succeeded)} of {self.jobs} job(s) succeeded"]
        parts += [f"{job} failed: {reason}" for job, reason in self.failed.items()]
        parts += [f"{job} skipped (after {', '.join(after)})" for job, after in self.skipped.items()]
        return "; ".join(parts)


def run_pipeline(
    pipeline: PipelineConfig,
    run: Callable[[str], None],
    describe: Callable[[Exception], str],
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> PipelineOutcome:
    """Run each job in the pipeline's order with `run`; a job whose dependency failed or was skipped is
    skipped, the others still run. `describe` turns a job's error into its one-line reason; `say` and
    `warn` report progress and failures. Ctrl-C stops the pipeline."""
    outcome = PipelineOutcome(jobs=len(pipeline.jobs))
    for job in pipeline.order():
        after = [needed for needed in pipeline.jobs[job].depends_on if needed not in outcome.succeeded]
        if after:
            outcome.skipped[job] = after
            warn(f"{job}: skipped: {', '.join(after)} did not succeed")
            continue
        say(f"{job}: running")
        try:
            run(job)
        except Exception as error:
            outcome.failed[job] = describe(error)
            warn(f"{job}: failed: {outcome.failed[job]}")
            continue
        outcome.succeeded.append(job)
        say(f"{job}: succeeded")
    return outcome
