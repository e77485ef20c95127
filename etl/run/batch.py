"""A batch run of a job over its window of days, stage by stage:

  lock -> read -> transform -> mark and count -> check -> validate -> quarantine -> load -> bookmarks
  -> audit row

Nothing is written before every check has passed; the audit row is written whatever happens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import DataFrame

from etl import audit, bookmarks
from etl.context import RunContext
from etl.errors import SourceError, ValidationFailed
from etl.extract import source_folders
from etl.extract.malformed import MALFORMED, observed, well_formed
from etl.job import Job
from etl.quality import ValidationResult
from etl.quality.routing import loaded_rows, mark, quarantine_rules, row_checks, tally
from etl.quality.validate import import_in_background, overall_status
from etl.run import observed as observe
from etl.run.audited import audited
from etl.run.checks import account, check_volumes, require_unique_merge_keys
from etl.run.load import write_quarantine, write_targets
from etl.run.transformed import transformed
from etl.run.validation import failure_line, validate
from etl.stopwatch import Stopwatch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunOutcome:
    record: audit.RunRecord
    validations: list[ValidationResult]


def run_batch(job: Job, ctx: RunContext) -> RunOutcome:
    spark, config = job.spark, job.config
    # Loaded first: a broken suite fails the run before Spark does any work.
    suites = {name: job.conf.suite(target.suite) for name, target in config.targets.items() if target.suite}
    if suites:
        import_in_background()
    validations: list[ValidationResult] = []
    cached: dict[str, DataFrame] = {}
    watch = Stopwatch()
    with audited(spark, ctx) as record:
        try:
            watch.lap("lock")
            taken = _new_files(job, ctx)
            observations = observe.observations(config.sources)
            files = {name: [mark.uri for mark in marks] for name, marks in taken.items()}
            raw = {name: observed(frame, observations[name]) for name, frame in job.extract(ctx, files).items()}
            outputs = transformed(job, ctx, {name: well_formed(frame) for name, frame in raw.items()})
            rules = {name: quarantine_rules(suites.get(name)) for name in outputs}
            checks = {name: row_checks(suites.get(name)) for name in outputs}
            watch.lap("plan")  # listing the input, the reader's checks, building the outputs' plans
            # Materialize each output once (an output derived from another, in the order of the targets,
            # reads the other's cache), then mark what becomes of each row and the row-level checks it
            # fails: cheap columns over the cache, which validation, quarantine and the write all read. The
            # counting pass fills in the sources' observations.
            cached = {name: frame.persist(StorageLevel.MEMORY_AND_DISK) for name, frame in outputs.items()}
            marked = {name: mark(frame, rules[name], checks[name]) for name, frame in cached.items()}
            tallies = {name: tally(frame, rules[name], checks[name]) for name, frame in marked.items()}
            read = observe.counts(spark, observations, marked)
            record.rows_read = {name: counts["rows"] for name, counts in read.items()}
            # a source of the days before the window is context: its malformed lines were its own day's run's
            record.rows_malformed = {
                name: counts["malformed"]
                for name, counts in read.items()
                if MALFORMED in raw[name].columns and not config.sources[name].days_before
            }
            record.rows_quarantined = {name: t.quarantined for name, t in tallies.items() if rules[name]}
            record.rows_dropped = {f"{name}.{rule}": rows for name, t in tallies.items() for rule, rows in t.dropped.items()}
            account(config, record, tallies)
            check_volumes(spark, config, ctx, record.rows_read)
            watch.lap("read, transform and count")
            loaded = {name: loaded_rows(frame) for name, frame in marked.items()}
            validations, report = validate(spark, config, ctx, suites, loaded, marked, tallies, rules, checks)
            record.validation = overall_status(validations)
            failed = [v for v in validations if v.status == "failed"]
            if failed:
                raise ValidationFailed(failure_line(failed, report))
            require_unique_merge_keys(config, loaded)
            watch.lap("validate")
            superseded = write_quarantine(spark, config, ctx, raw, marked, record)
            watch.lap("quarantine")
            on_loaded = lambda name: record.rows_written.update({name: tallies[name].loaded})  # noqa: E731
            write_targets(spark, config, job.env, ctx, loaded, superseded, on_loaded)
            watch.lap("load")
            if taken:
                bookmarks.record(spark, ctx, taken)
        finally:
            for frame in cached.values():
                frame.unpersist()
    watch.lap("audit")
    log.info("run %s stage seconds: %s", ctx.run_id, watch)
    return RunOutcome(record, validations)


def _new_files(job: Job, ctx: RunContext) -> dict[str, list[bookmarks.FileMark]]:
    """Per incremental source, the files no run of another date has taken (an error when there are
    none, unless the source allows empty input)."""
    taken = {}
    for name, source in job.config.sources.items():
        if not source.incremental:
            continue
        folders = source_folders(job.spark, name, source, ctx)
        taken[name] = bookmarks.new_files(job.spark, ctx, name, folders)
        log.info("source %s: %d new file(s) under %s", name, len(taken[name]), ", ".join(folders))
        if not taken[name] and not source.allow_empty:
            raise SourceError(
                f"source {name}: no new files under {', '.join(folders)} since the job's other runs "
                "(set allow_empty: true on the source if that is expected)"
            )
    return taken
