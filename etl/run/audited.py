"""Around every run, batch or stream: the job's lock held while it runs (after a run that died holding
it, a sweep of what that run left in the job's tables), and its audit row written after it, succeeded or
failed (with the error in one line)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from etl.config.models import EnvConfig, JobConfig
from etl.context import RunContext
from etl.errors import one_line
from etl.load import acid, parquet
from etl.state import audit, lock, quarantine
from etl.zones import Zones

log = logging.getLogger(__name__)


@contextmanager
def audited(spark: SparkSession, ctx: RunContext, tables: Sequence[str]) -> Iterator[audit.RunRecord]:
    """The block fills in the record's counts; `tables` are the job's Parquet tables (sweep_tables)."""
    record = audit.RunRecord.start(ctx, datetime.now(UTC))
    locked = False
    try:
        dead = lock.acquire(spark, ctx.zones, ctx.job, ctx.run_id)
        locked = True
        acid.clear_staging(spark, ctx.zones, ctx.job)  # cheap: one folder, empty unless a run died or failed to publish
        if dead:
            sweep(spark, ctx.zones, tables, ctx.run_id)
        yield record
        record.status = "succeeded"
    except Exception as error:
        record.status = "failed"
        record.error = one_line(error)
        raise
    finally:
        record.ended_at = datetime.now(UTC)
        _write_audit_row(spark, ctx, record)
        if locked:
            _release(spark, ctx, failed=record.status == "failed")


def sweep_tables(config: JobConfig, env: EnvConfig) -> list[str]:
    """The Parquet tables a run of the job writes, where a run that died may have left folders: its
    Parquet targets and its quarantine tables (the shared audit and bookmark tables are not swept: another
    job may be writing them)."""
    targets = [t.table for t in config.targets.values() if (t.format or env.tables.default_format) == "parquet"]
    return [*targets, *quarantine.tables_of(config).values()]


def sweep(spark: SparkSession, zones: Zones, tables: Sequence[str], running: str | None = None) -> None:
    for table in tables:
        parquet.sweep(spark, table, zones, running)


def _release(spark: SparkSession, ctx: RunContext, failed: bool) -> None:
    """Release the run's lock. After a failure (the metastore may be what failed), not releasing it
    is logged and the run's own error stays the one reported; a later run on this host takes the lock
    over once this process has exited (elsewhere: `etl unlock`)."""
    try:
        lock.release(spark, ctx.job, ctx.run_id)
    except Exception as error:
        if not failed:
            raise
        log.error("could not release the lock of run %s: %s", ctx.run_id, one_line(error))


def _write_audit_row(spark: SparkSession, ctx: RunContext, record: audit.RunRecord) -> None:
    try:
        audit.write_run(spark, ctx, record)
    except Exception as error:  # the run's own error matters more than the audit's
        log.error("could not write the audit row of run %s: %s", ctx.run_id, one_line(error))
