"""A batch run of a job over its window of days, as write-audit-publish:

  lock -> wait -> read -> transform -> stage -> check -> validate -> publish -> bookmarks -> audit row

lock      one run of the job at a time; after a run that died holding the lock, what it left in the
          job's tables is swept first (etl/run/audited.py)
wait      for the sources with an input sensor (wait_for): each day of the window landed
stage     each output computed once and written once, where no reader looks yet; the same pass
          routes its quarantined rows beside the loaded ones, drops the rows business rules dropped,
          and counts all of it (DataFrame.observe), with the sources' rows read
check     row accounting and input volume, from those counts
validate  each target's suite: row-level expectations from the counts, the rest (Great Expectations)
          over the staged files
publish   quarantine tables, then every target: Parquet partitions switched in the metastore, the ACID
          formats' commit. A run that fails before this leaves every table as it was, and its staging
          is deleted.

The audit row is written whatever happens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, Observation

from etl.context import RunContext
from etl.errors import SourceError, ValidationFailed
from etl.extract import source_folders
from etl.extract.malformed import MALFORMED, observed, well_formed
from etl.extract.sensors import wait_for_input
from etl.job import Job
from etl.load import Staged, discard, publish, read_staged, release, stage
from etl.load.common import LOADED
from etl.quality import ValidationResult
from etl.quality.routing import Rule, Tally, counters, mark, quarantine_rules, routed, row_checks, tally
from etl.quality.validate import import_in_background, overall_status
from etl.run import observed as observe
from etl.run.audited import audited, sweep_tables
from etl.run.checks import account, check_volumes, require_unique_merge_keys, run_rows
from etl.run.load import write_quarantine
from etl.run.transformed import derived, transformed
from etl.run.validation import failure_line, validate
from etl.spark_internals import fs
from etl.state import audit, bookmarks
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
    staged: dict[str, Staged] = {}
    publishing: set[str] = set()
    watch = Stopwatch()
    with audited(spark, ctx, sweep_tables(job.config, job.env)) as record:
        try:
            watch.lap("lock")
            for name, source in config.sources.items():
                wait_for_input(spark, name, source, ctx)
            watch.lap("wait")
            taken = _new_files(job, ctx)
            reads = observe.observations(config.sources)
            files = {name: [mark.uri for mark in marks] for name, marks in taken.items()}
            raw = {name: observed(frame, reads[name]) for name, frame in job.extract(ctx, files).items()}
            outputs = transformed(job, ctx, {name: well_formed(frame) for name, frame in raw.items()})
            rules = {name: quarantine_rules(suites.get(name)) for name in config.targets}
            checks = {name: row_checks(suites.get(name)) for name in config.targets}
            watch.lap("plan")  # listing the input, the reader's checks, building the outputs' plans

            marked: dict[str, DataFrame] = {}
            tallies: dict[str, Tally] = {}
            for name, output in outputs.items():
                marked[name], tallies[name] = _stage(job, ctx, name, output, rules[name], checks[name], staged)
            loaded = {name: read_staged(spark, staged[name], LOADED) for name in staged}
            for name, output in derived(job, ctx, loaded, outputs).items():  # outputs of the others' staged rows
                marked[name], tallies[name] = _stage(job, ctx, name, output, rules[name], checks[name], staged)
                loaded[name] = read_staged(spark, staged[name], LOADED)
            watch.lap("stage")

            read = observe.counts(spark, reads)
            record.rows_read = {name: counts["rows"] for name, counts in read.items()}
            # a source of the days before the window is context: its malformed lines were its own day's run's
            record.rows_malformed = {
                name: counts["malformed"]
                for name, counts in read.items()
                if MALFORMED in raw[name].columns and not config.sources[name].days_before
            }
            record.rows_quarantined = {name: t.quarantined for name, t in tallies.items() if t.per_rule}
            record.rows_dropped = {f"{name}.{rule}": rows for name, t in tallies.items() for rule, rows in t.dropped.items()}
            rows = run_rows(config, record, tallies)
            account(record, rows)
            check_volumes(spark, config, ctx, record.rows_read)
            require_unique_merge_keys(config, loaded)

            validations, report = validate(spark, config, ctx, suites, staged, tallies, rules, checks, rows)
            record.validation = overall_status(validations)
            failed = [v for v in validations if v.status == "failed"]
            if failed:
                raise ValidationFailed(failure_line(failed, report))
            watch.lap("check and validate")

            superseded = write_quarantine(spark, config, ctx, raw, marked, staged, record)
            for name, target_staged in staged.items():
                # DEBUG: the partition counts and the run's last line say what changed
                log.debug("publishing %s into %s", name, config.targets[name].table)
                publishing.add(name)
                superseded += publish(spark, target_staged)
                record.rows_written[name] = tallies[name].loaded
            for folder in superseded:  # only now: until every target is published, a staged output may read them
                fs.delete(spark, folder)
            watch.lap("publish")
            if taken:
                bookmarks.record(spark, ctx, taken)
        finally:
            for name, target_staged in staged.items():
                release(target_staged)
                if name not in publishing:  # a publish cut short may have registered part of its staging
                    discard(spark, target_staged)
    watch.lap("audit")
    log.debug("run %s stage seconds: %s", ctx.run_id, watch)
    return RunOutcome(record, validations)


def _stage(
    job: Job,
    ctx: RunContext,
    name: str,
    output: DataFrame,
    rules: list[Rule],
    checks: list[Rule],
    staged: dict[str, Staged],
) -> tuple[DataFrame, Tally]:
    """Write an output once into its staging, counting what becomes of its rows; staged[name] is set as
    soon as files exist, so that a failure discards them."""
    spark, target = job.spark, job.config.targets[name]
    table_format = target.format or job.env.tables.default_format
    marked = mark(output, rules, checks)
    counted = Observation(f"stage_{name}")
    log.info("staging %s for %s (%s, %s)", name, target.table, table_format, target.mode)
    staged[name] = stage(spark, routed(marked.observe(counted, *counters(marked, rules, checks))), target, table_format, ctx)
    return marked, tally(observe.metrics(spark, counted), marked, rules, checks)


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
