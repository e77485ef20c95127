"""The run's own checks before anything is written: row accounting, input volume, merge keys."""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl.accounting import RunRows, SourceRows, TargetRows
from etl.accounting import failure_line as accounting_failure
from etl.config.models import JobConfig
from etl.context import RunContext
from etl.errors import LoadError, RowAccountingFailed, VolumeAnomaly
from etl.quality.routing import Tally
from etl.state import audit
from etl.state.volume import earlier_rates
from etl.state.volume import judge as judge_volume


def run_rows(config: JobConfig, record: audit.RunRecord, tallies: Mapping[str, Tally]) -> RunRows:
    """The run's counts as the report shows them (the record's, with each target's rows_from and rules)."""
    return RunRows(
        sources={name: SourceRows(read, record.rows_malformed.get(name)) for name, read in record.rows_read.items()},
        targets={
            name: TargetRows(tally.loaded, tally.quarantined, tally.per_rule, tally.dropped, config.targets[name].rows_from)
            for name, tally in tallies.items()
        },
    )


def account(record: audit.RunRecord, rows: RunRows) -> None:
    """The row-accounting invariant of every target with rows_from; recorded, and fatal when broken."""
    accounts = rows.accounts()
    if not accounts:
        return
    record.accounting = "; ".join(account.equation() for account in accounts)
    if not all(account.balanced for account in accounts):
        raise RowAccountingFailed(accounting_failure(accounts))


def check_volumes(spark: SparkSession, config: JobConfig, ctx: RunContext, rows_read: Mapping[str, int]) -> None:
    days = len(list(ctx.window.days()))
    problems = []
    for name, source in config.sources.items():
        if source.volume:
            earlier = earlier_rates(spark, ctx.job, name, source.volume.history)
            problems.append(judge_volume(name, rows_read.get(name, 0), days, earlier, source.volume))
    found = [problem for problem in problems if problem]
    if found:
        raise VolumeAnomaly("unusual input volume, nothing was written: " + "; ".join(found))


def require_unique_merge_keys(config: JobConfig, loaded: Mapping[str, DataFrame]) -> None:
    """A merge with two new rows for one key has no right answer (Delta and Iceberg refuse it, Parquet
    would keep both): fail before writing, unless a quarantine rule took the duplicates out."""
    for name, target in config.targets.items():
        if target.mode != "merge":
            continue
        keys = target.merge_keys
        repeated = loaded[name].groupBy(*keys).count().where(F.col("count") > 1)
        found = repeated.orderBy(*keys).limit(3).collect()
        if found:
            shown = ", ".join(str(tuple(row[key] for key in keys)) for row in found)
            raise LoadError(
                f"{target.table}: merge keys ({', '.join(keys)}) repeat in the new data, nothing was written: {repeated.count()} "
                f"key(s), such as {shown}; quarantine them (expect_column_values_to_be_unique or "
                "expect_compound_columns_to_be_unique with severity quarantine) or fix the source"
            )
