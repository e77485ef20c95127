"""Publishing's first step: the run's days' partitions of every quarantine table the job has, from the
staged quarantined rows and the sources' malformed lines."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession

from etl.config.models import JobConfig
from etl.context import RunContext
from etl.extract.malformed import malformed_rows
from etl.load import Staged, read_staged
from etl.load.common import FAILED_RULES, QUARANTINED
from etl.quality.routing import MARKS, quarantined_rows
from etl.state import audit, quarantine

log = logging.getLogger(__name__)


def write_quarantine(
    spark: SparkSession,
    config: JobConfig,
    ctx: RunContext,
    raw: Mapping[str, DataFrame],
    marked: Mapping[str, DataFrame],
    staged: Mapping[str, Staged],
    record: audit.RunRecord,
) -> list[str]:
    """Write the run's days' partitions of every quarantine table the job has (emptied when nothing
    failed, so a rerun leaves what one clean run would); returns folders to delete after the load."""
    superseded: list[str] = []
    for name, rows in record.rows_malformed.items():
        table = quarantine.source_table(config.name, name)
        if rows:
            # INFO: a designed outcome of a successful run (the failure is a threshold's, if any)
            log.info(
                "source %s: %d malformed line(s) quarantined in %s (`etl quarantine %s --run-date DAY`)", name, rows, table, config.name
            )
        lines = malformed_rows(raw[name], config.sources[name].date_partition)
        superseded += quarantine.write(spark, ctx, table, lines, rows, quarantine.source_description(config.name, name))
    for name, rows in record.rows_quarantined.items():
        target = config.targets[name]
        columns = [column for column in marked[name].columns if column not in MARKS]  # the output's order, not the table's
        failed = read_staged(spark, staged[name], QUARANTINED).select(*columns, FAILED_RULES)
        day = quarantine.day_within(failed, target.partition_by, ctx.window)
        table = quarantine.target_table(target)
        superseded += quarantine.write(spark, ctx, table, quarantined_rows(failed, day), rows, quarantine.target_description(target.table))
    return superseded
