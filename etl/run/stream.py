"""A run of a job whose sources are streams, with Spark Structured Streaming.

The job is the same Job subclass as a batch job: `transform` maps the (streaming) well-formed records to
one DataFrame per target. The framework runs one query per target and one per stream source for its
malformed records, each with its checkpoint under the checkpoints zone
(<checkpoints>/<job>/<target or quarantine_<source>>), and

- `etl run JOB` (trigger availableNow): processes everything that has arrived, in micro-batches, and stops;
- `etl stream JOB`: a micro-batch every `every` seconds until interrupted; Ctrl-C stops the queries once
  the micro-batch in progress has finished.

Exactly once, across restarts: a micro-batch's input is fixed by the checkpoint before it runs, and
each target is written by merging on its merge_keys, so a micro-batch replayed after a crash writes
the same rows over themselves. A target's query runs in update mode: an aggregate is written again when
late data within the watermark changes it. Malformed records are merged into quarantine.<job>_<source>
by (source_file, record).

The audit row of the run counts what the queries' progress reports: records read, malformed, dropped as
later than the watermark (rows_dropped <target>.late) or as duplicates (<target>.duplicate), and rows written.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from etl.config.models import TableFormat, TargetConfig
from etl.context import RunContext
from etl.errors import EtlError
from etl.extract.landing import landing_folder
from etl.extract.streams import malformed_records, read_stream, well_formed_records
from etl.job import Job
from etl.load import write_table
from etl.run.audited import audited, sweep_tables
from etl.run.transformed import transformed
from etl.spark_internals import fs
from etl.state import audit, quarantine

log = logging.getLogger(__name__)


@dataclass
class Counts:
    """What one query's micro-batches reported, by batch id (a replayed batch counts once)."""

    read: dict[int, int] = field(default_factory=dict)
    late: dict[int, int] = field(default_factory=dict)
    duplicates: dict[int, int] = field(default_factory=dict)
    written: dict[int, int] = field(default_factory=dict)

    def take(self, progress: Mapping[str, Any]) -> None:
        batch = int(progress["batchId"])
        self.read[batch] = int(progress.get("numInputRows", 0))
        operators = progress.get("stateOperators", [])
        self.late[batch] = sum(int(op.get("numRowsDroppedByWatermark", 0)) for op in operators)
        self.duplicates[batch] = sum(int(op.get("customMetrics", {}).get("numDroppedDuplicateRows", 0)) for op in operators)


def run_stream(job: Job, ctx: RunContext, every_seconds: int | None = None) -> audit.RunRecord:
    """Run the job's queries: until all input is processed (every_seconds None), or until interrupted."""
    spark: SparkSession = job.spark
    counts: dict[str, Counts] = {}
    with audited(spark, ctx, sweep_tables(job.config, job.env)) as record:
        raw = {name: read_stream(spark, name, source, job.env, ctx) for name, source in job.config.sources.items()}
        outputs = transformed(job, ctx, {name: well_formed_records(frame) for name, frame in raw.items()})
        queries: dict[str, StreamingQuery] = {}
        for name, frame in outputs.items():
            target = job.config.targets[name]
            counts[name] = Counts()
            table_format = target.format or job.env.tables.default_format
            sink = _sink(
                spark,
                ctx,
                counts[name],
                f"row(s) merged into {target.table}",
                _into_table(spark, target, table_format),
            )
            queries[name] = _start(frame.writeStream.outputMode("update").foreachBatch(sink), ctx, name, every_seconds)
        for name, frame in raw.items():
            table = quarantine.source_table(job.config.name, name)
            counts[f"source:{name}"] = Counts()
            sink = _sink(
                spark,
                ctx,
                counts[f"source:{name}"],
                f"malformed record(s) quarantined in {table}",
                _into_quarantine(spark, table, quarantine.source_description(job.config.name, name)),
            )
            queries[f"source:{name}"] = _start(
                malformed_records(frame).writeStream.foreachBatch(sink), ctx, f"quarantine_{name}", every_seconds
            )
        _wait(queries, counts, every_seconds is not None, _arriving(job, ctx))
        # a source's quarantine query reads that source alone, every record of it
        record.rows_read = {name: sum(counts[f"source:{name}"].read.values()) for name in raw}
        record.rows_malformed = {name: sum(counts[f"source:{name}"].written.values()) for name in raw}
        record.rows_written = {name: sum(counts[name].written.values()) for name in outputs}
        for name in outputs:
            record.rows_dropped[f"{name}.late"] = sum(counts[name].late.values())
            record.rows_dropped[f"{name}.duplicate"] = sum(counts[name].duplicates.values())
    return record


def _start(writer: Any, ctx: RunContext, name: str, every_seconds: int | None) -> StreamingQuery:
    checkpoint = ctx.zones.uri("checkpoints", ctx.job, name)
    writer = writer.option("checkpointLocation", checkpoint).queryName(f"{ctx.job}.{name}")
    writer = writer.trigger(availableNow=True) if every_seconds is None else writer.trigger(processingTime=f"{every_seconds} seconds")
    return writer.start()


def _sink(
    spark: SparkSession, ctx: RunContext, counts: Counts, what: str, write: Callable[[DataFrame, RunContext], list[str]]
) -> Callable[[DataFrame, int], None]:
    """foreachBatch's function: write a micro-batch's rows (if any) and count them."""

    def write_batch(batch: DataFrame, batch_id: int) -> None:
        rows = batch.persist()
        try:
            found = rows.count()
            if found:
                for folder in write(rows, _batch_ctx(ctx, batch_id)):
                    fs.delete(spark, folder)
                log.info("micro-batch %d: %d %s", batch_id, found, what)
            counts.written[batch_id] = found
        finally:
            rows.unpersist()

    return write_batch


def _into_table(spark: SparkSession, target: TargetConfig, table_format: TableFormat) -> Callable[[DataFrame, RunContext], list[str]]:
    return lambda rows, ctx: write_table(spark, rows, target, table_format, ctx)


def _into_quarantine(spark: SparkSession, table: str, description: str) -> Callable[[DataFrame, RunContext], list[str]]:
    return lambda rows, ctx: quarantine.merge(spark, ctx, table, rows, description)


def _batch_ctx(ctx: RunContext, batch_id: int) -> RunContext:
    """The run's context, its run id suffixed with the batch (table folders are named after it)."""
    return RunContext(ctx.job, ctx.env, ctx.window, f"{ctx.run_id}-b{batch_id}", ctx.zones)


def _arriving(job: Job, ctx: RunContext) -> str:
    """What the stream waits for, in words: the folders its files land under, or its Kinesis streams."""
    if job.env.streams_from == "kinesis":
        names = [source.kinesis.stream_name for source in job.config.sources.values() if source.kinesis]
        return f"new records on Kinesis stream(s) {', '.join(names)}"
    return f"new files under {', '.join(sorted({landing_folder(source, ctx.zones) for source in job.config.sources.values()}))}"


class _Idle:
    """While nothing new arrives, one line a minute that says what the stream waits for (else a stream
    that runs with nothing to do cannot be told from one that hangs)."""

    def __init__(self, arriving: str, clock: Callable[[], float]) -> None:
        self.arriving, self.clock = arriving, clock
        self.read, self.since, self.minutes = 0, clock(), 0

    def look(self, read: int) -> None:
        now = self.clock()
        if read != self.read:
            self.read, self.since, self.minutes = read, now, 0
            return
        minutes = int((now - self.since) // 60)
        if minutes > self.minutes:
            self.minutes = minutes
            log.info("waiting for %s (nothing new for %d min)", self.arriving, minutes)


def _wait(
    queries: Mapping[str, StreamingQuery],
    counts: Mapping[str, Counts],
    until_interrupted: bool,
    arriving: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Collect every query's progress until all have stopped (availableNow), or until Ctrl-C / SIGTERM,
    then stop each once its micro-batch in progress has finished; until interrupted, say once a minute
    when nothing arrives. A failed query raises."""
    stop = threading.Event()
    idle = _Idle(arriving, clock)
    if until_interrupted:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    try:
        while any(query.isActive for query in queries.values()) and not stop.is_set():
            _collect(queries, counts)
            if until_interrupted:
                idle.look(sum(sum(count.read.values()) for count in counts.values()))
            sleep(0.5)
        if stop.is_set():
            log.info("stopping after the micro-batch in progress")
            for query in queries.values():
                while query.isActive and query.status["isTriggerActive"]:
                    sleep(0.2)
                query.stop()
        for name, query in queries.items():
            failure = query.exception()
            if failure is not None:
                raise EtlError(f"stream query {name} failed: {(str(failure).strip().splitlines() or ['?'])[0]}")
        _collect(queries, counts)
    finally:
        for query in queries.values():
            if query.isActive:
                query.stop()
        if until_interrupted:
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)


def _collect(queries: Mapping[str, StreamingQuery], counts: Mapping[str, Counts]) -> None:
    for name, query in queries.items():
        for progress in query.recentProgress:
            counts[name].take(progress)
