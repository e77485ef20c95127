"""The writes of a run that passed its checks: the quarantine partitions of the run's days, then every
target in the order of conf/jobs/<job>.yaml, then the folders they replaced."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from pyspark.sql import DataFrame, SparkSession

from etl import audit, fs, quarantine
from etl.config.models import EnvConfig, JobConfig
from etl.context import RunContext
from etl.extract.malformed import malformed_rows
from etl.load import write_table
from etl.quality.routing import quarantined_rows

log = logging.getLogger(__name__)


def write_quarantine(
    spark: SparkSession,
    config: JobConfig,
    ctx: RunContext,
    raw: Mapping[str, DataFrame],
    marked: Mapping[str, DataFrame],
    record: audit.RunRecord,
) -> list[str]:
    """Write the run's days' partitions of every quarantine table the job has (emptied when nothing
    failed, so a rerun leaves what one clean run would); returns folders to delete after the load."""
    superseded: list[str] = []
    for name, rows in record.rows_malformed.items():
        table = quarantine.source_table(config.name, name)
        if rows:
            log.warning("source %s: %d malformed line(s) quarantined in %s", name, rows, table)
        lines = malformed_rows(raw[name], config.sources[name].date_partition)
        superseded += quarantine.write(spark, ctx, table, lines, rows)
    for name, rows in record.rows_quarantined.items():
        target = config.targets[name]
        day = quarantine.day_within(marked[name], target.partition_by, ctx.window)
        superseded += quarantine.write(spark, ctx, quarantine.target_table(target), quarantined_rows(marked[name], day), rows)
    return superseded


def write_targets(
    spark: SparkSession,
    config: JobConfig,
    env: EnvConfig,
    ctx: RunContext,
    outputs: Mapping[str, DataFrame],
    superseded: list[str],
    on_loaded: Callable[[str], None],
) -> None:
    for name, target in config.targets.items():
        table_format = target.format or env.tables.default_format
        log.info("loading %s into %s (%s, %s)", name, target.table, table_format, target.mode)
        superseded = superseded + write_table(spark, outputs[name], target, table_format, ctx)
        on_loaded(name)
    # Old table folders go only now: until every target is loaded, cached outputs may still read them.
    for folder in superseded:
        fs.delete(spark, folder)
