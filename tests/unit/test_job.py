"""The run orchestration on a tiny job: validation severities, audit rows, source checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl.config import ConfigDir
from etl.config.models import EnvConfig
from etl.context import RunContext
from etl.errors import EtlError, SourceError, ValidationFailed
from etl.job import Job
from etl.run import batch, run_batch
from etl.zones import Zones, join, local_path
from tests.lanes import TABLE_FORMATS

D1, D2 = date(2024, 5, 1), date(2024, 5, 2)

JOB_YAML = """
description: A tiny job for the tests.
class: tests.unit.test_job:{job_class}
sources:
  items:
    format: csv
    path: unit_job/{folder}
    date_partition: dt
    allow_empty: {allow_empty}
    columns: {{item: bigint, price: 'decimal(10,2)'}}
targets:
  priced:
    table: unit_job.{table}
    format: {table_format}
    mode: overwrite_partitions
    partition_by: [dt]
    suite: priced
"""

SUITE_YAML = """
expectations:
  - type: expect_column_values_to_be_between
    kwargs: {{column: price, min_value: 0, max_value: {max_price}}}
    severity: error
  - type: expect_column_values_to_be_between
    kwargs: {{column: price, min_value: 0, max_value: {warn_price}}}
    severity: warn
"""


class Doubling(Job):
    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"priced": sources["items"].withColumn("doubled", F.col("price") * 2)}


class Summed(Job):
    """priced from the items; total, per day, from the rows priced loads."""

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"priced": sources["items"].withColumn("doubled", F.col("price") * 2)}

    def derive(self, ctx: RunContext, loaded: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"total": loaded["priced"].groupBy("dt").agg(F.sum("price").alias("price"), F.count(F.lit(1)).alias("items"))}


class WrongOutputs(Job):
    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"prized": sources["items"]}


def land(zones: Zones, folder: str, day: date, text: str) -> None:
    root = local_path(zones.raw)
    assert root is not None
    target = root / "unit_job" / folder / f"dt={day}"
    target.mkdir(parents=True, exist_ok=True)
    (target / "part-0.csv").write_text(text)


def make_job(spark: SparkSession, env: EnvConfig, tmp_path: Path, table: str, job_class: str = "Doubling",
             folder: str = "items", allow_empty: bool = False, max_price: int = 100, warn_price: int = 100,
             table_format: str = "parquet") -> Job:  # fmt: skip
    conf_dir = tmp_path / "conf"
    (conf_dir / "jobs").mkdir(parents=True)
    (conf_dir / "expectations").mkdir()
    (conf_dir / "base.yaml").write_text("metastore: {kind: derby}\n")
    job_file = JOB_YAML.format(
        job_class=job_class, folder=folder, allow_empty=str(allow_empty).lower(), table=table, table_format=table_format
    )
    (conf_dir / "jobs" / "tiny.yaml").write_text(job_file)
    (conf_dir / "expectations" / "priced.yaml").write_text(SUITE_YAML.format(max_price=max_price, warn_price=warn_price))
    conf = ConfigDir(conf_dir, environ={})
    config = conf.job("tiny")
    job_type = {"Doubling": Doubling, "WrongOutputs": WrongOutputs, "Summed": Summed}[job_class]
    return job_type(spark, config, env, conf)


def audit_rows(spark: SparkSession, run_id: str) -> list[dict]:
    return [r.asDict() for r in spark.table("etl_audit.job_runs").where(F.col("run_id") == run_id).collect()]


def table_rows(spark: SparkSession, table: str) -> list[tuple]:
    return sorted(tuple(r) for r in spark.table(table).select("item", "price", "doubled", "dt").collect())


@pytest.fixture(scope="module", autouse=True)
def raw_items(zones: Zones) -> None:
    land(zones, "items", D1, "item,price\n1,10.00\n2,20.50\n3,99.99\n")
    land(zones, "items", D2, "item,price\n4,150.00\n5,1.00\n")
    land(zones, "with_empty_day", D1, "item,price\n1,1.00\n")
    land(zones, "with_empty_day", D2, "item,price\n")


def test_a_run_loads_validates_and_audits(spark: SparkSession, env: EnvConfig, tmp_path: Path, make_ctx, zones: Zones) -> None:  # type: ignore[no-untyped-def]
    from decimal import Decimal as D

    ctx = make_ctx(D1, job="tiny")
    outcome = run_batch(make_job(spark, env, tmp_path, "runs", warn_price=50), ctx)
    assert table_rows(spark, "unit_job.runs") == [
        (1, D("10.00"), D("20.00"), D1),
        (2, D("20.50"), D("41.00"), D1),
        (3, D("99.99"), D("199.98"), D1),
    ]
    [audit] = audit_rows(spark, ctx.run_id)
    assert (audit["status"], audit["validation"], audit["error"]) == ("succeeded", "warned", None)
    assert (audit["rows_read"], audit["rows_written"], audit["rows_quarantined"]) == ({"items": 3}, {"priced": 3}, {})
    assert (audit["job"], audit["run_date"], audit["window_start"], audit["env"]) == ("tiny", D1, D1, "test")
    # the warn expectation failed on one row (99.99 > 50) and was recorded, not fatal
    [warned] = outcome.validations[0].failures("warn")
    assert (warned.expectation, warned.unexpected_count) == ("expect_column_values_to_be_between", 1)
    dq = local_path(zones.dq)
    assert dq is not None and (dq / "tiny" / f"run_date={D1}" / ctx.run_id / "priced.json").is_file()


@pytest.mark.parametrize("table_format", TABLE_FORMATS)
def test_an_error_expectation_fails_the_run_before_anything_is_written(
    spark: SparkSession, env: EnvConfig, tmp_path: Path, make_ctx, table_format: str
) -> None:  # type: ignore[no-untyped-def]
    table = f"guarded_{table_format}"
    run_batch(make_job(spark, env, tmp_path / "a", table, table_format=table_format), make_ctx(D1, job="tiny"))
    before = table_rows(spark, f"unit_job.{table}")
    ctx = make_ctx(D1, D2, job="tiny")
    with pytest.raises(ValidationFailed) as error:
        run_batch(make_job(spark, env, tmp_path / "b", table, table_format=table_format), ctx)  # 150.00 on D2 breaks max 100
    message = str(error.value)
    assert message == (
        "validation failed, nothing was written: priced: 1 expectation(s) of severity error failed: "
        "expect_column_values_to_be_between(column=price, min_value=0, max_value=100): 1 unexpected "
        f"(report: {ctx.zones.dq}/tiny/run_date={D2}/{ctx.run_id}/report.html)"
    )
    assert table_rows(spark, f"unit_job.{table}") == before  # D1 not rewritten, D2 not added
    assert not staging_of(ctx, table_format, table).exists()  # its staging is gone
    [audit] = audit_rows(spark, ctx.run_id)
    assert (audit["status"], audit["validation"], audit["error"], audit["rows_written"]) == ("failed", "failed", message, {})


def staging_of(ctx: RunContext, table_format: str, table: str) -> Path:
    """Where a run stages a target: the table's run folder (Parquet), <curated>/_staging/<job>/run-<id>/ (Iceberg)."""
    parts = ("unit_job.db", table, f"run-{ctx.run_id}") if table_format == "parquet" else ("_staging", ctx.job, f"run-{ctx.run_id}")
    folder = local_path(join(ctx.zones.curated, *parts))
    assert folder is not None
    return folder


@pytest.mark.parametrize("table_format", TABLE_FORMATS)
def test_a_publish_that_fails_leaves_the_table_and_the_rerun_loads_each_row_once(  # type: ignore[no-untyped-def]
    spark: SparkSession, env: EnvConfig, tmp_path: Path, make_ctx, table_format: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from decimal import Decimal as D

    table = f"republished_{table_format}"
    job = make_job(spark, env, tmp_path, table, table_format=table_format, max_price=1000)
    run_batch(job, make_ctx(D1, job="tiny"))
    before = table_rows(spark, f"unit_job.{table}")
    # a run killed before its commit left its staging behind (one run of a job at a time: the next run deletes it)
    dead = make_ctx(D1, job="tiny")
    staging_of(dead, table_format, table).mkdir(parents=True)

    def crash(*args: object) -> list[str]:
        raise RuntimeError("the metastore went away")

    failing = make_ctx(D1, D2, job="tiny")
    with monkeypatch.context() as patch:
        patch.setattr(batch, "publish", crash)
        with pytest.raises(RuntimeError, match="the metastore went away"):
            run_batch(job, failing)
    assert table_rows(spark, f"unit_job.{table}") == before
    run_batch(job, make_ctx(D1, D2, job="tiny"))  # the rerun: D1 replaced, D2 added, each row once
    assert table_rows(spark, f"unit_job.{table}") == [
        (1, D("10.00"), D("20.00"), D1),
        (2, D("20.50"), D("41.00"), D1),
        (3, D("99.99"), D("199.98"), D1),
        (4, D("150.00"), D("300.00"), D2),
        (5, D("1.00"), D("2.00"), D2),
    ]
    if table_format == "iceberg":  # the dead run's staging went with the next run's
        assert not staging_of(dead, table_format, table).exists()


def test_a_derived_target_is_made_from_the_rows_the_other_target_loads(
    spark: SparkSession, env: EnvConfig, tmp_path: Path, make_ctx
) -> None:  # type: ignore[no-untyped-def]
    """The suite quarantines the item over 150 (severity quarantine): the total of D2 holds 1.00 only."""
    from decimal import Decimal as D

    job = make_job(spark, env, tmp_path, "derived_priced", job_class="Summed")
    (tmp_path / "conf" / "jobs" / "tiny.yaml").write_text(
        (tmp_path / "conf" / "jobs" / "tiny.yaml").read_text()
        + "  total:\n    table: unit_job.derived_total\n    mode: overwrite_partitions\n    partition_by: [dt]\n"
    )
    (tmp_path / "conf" / "expectations" / "priced.yaml").write_text(
        "expectations:\n  - type: expect_column_values_to_be_between\n    kwargs: {column: price, max_value: 100}\n    severity: quarantine\n"
    )
    conf = ConfigDir(tmp_path / "conf", environ={})
    job = Summed(spark, conf.job("tiny"), env, conf)
    ctx = make_ctx(D1, D2, job="tiny")
    outcome = run_batch(job, ctx)
    assert (outcome.record.rows_written, outcome.record.rows_quarantined) == ({"priced": 4, "total": 2}, {"priced": 1})
    totals = sorted(tuple(r) for r in spark.table("unit_job.derived_total").select("dt", "price", "items").collect())
    assert totals == [(D1, D("130.49"), 3), (D2, D("1.00"), 1)]  # 10.00 + 20.50 + 99.99; 150.00 quarantined


def test_transform_outputs_must_match_the_targets(spark: SparkSession, env: EnvConfig, tmp_path: Path, make_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(
        EtlError, match=r"transform\(\) returned outputs \['prized'\] but conf/jobs/tiny.yaml declares targets \['priced'\]"
    ):
        run_batch(make_job(spark, env, tmp_path, "never", job_class="WrongOutputs"), make_ctx(D1, job="tiny"))


def test_missing_day_is_an_error_naming_the_folder(spark: SparkSession, env: EnvConfig, tmp_path: Path, make_ctx, zones: Zones) -> None:  # type: ignore[no-untyped-def]
    ctx = make_ctx(D1, date(2024, 5, 9), job="tiny")
    with pytest.raises(SourceError) as error:
        run_batch(make_job(spark, env, tmp_path, "never"), ctx)
    assert str(error.value) == (
        "source items: no input for 7 of the 9 day(s) of 2024-05-01..2024-05-09: dt=2024-05-03, dt=2024-05-04, dt=2024-05-05, "
        f"dt=2024-05-06, dt=2024-05-07 and 2 more missing under {zones.raw}/unit_job/items"
    )
    [audit] = audit_rows(spark, ctx.run_id)
    assert (audit["status"], audit["error"]) == ("failed", str(error.value))
    assert not spark.catalog.tableExists("unit_job.never")


def test_a_failed_run_reports_its_own_error_when_the_lock_cannot_be_released(  # type: ignore[no-untyped-def]
    spark: SparkSession, env: EnvConfig, tmp_path: Path, make_ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Such as a metastore that went away: the run's error, not the lock's, is the one line printed."""
    from etl.state import lock

    def unreachable(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("metastore unreachable")

    ctx = make_ctx(D1, date(2024, 5, 9), job="tiny")
    monkeypatch.setattr(lock, "release", unreachable)
    with pytest.raises(SourceError, match=r"^source items: no input for 7 of the 9 day\(s\)"):
        run_batch(make_job(spark, env, tmp_path, "never"), ctx)
    monkeypatch.undo()
    assert lock.holder_of(spark, "tiny") is not None  # left behind, for a later run to take over once this process is gone
    assert lock.release(spark, "tiny", ctx.run_id)


def test_empty_day_fails_unless_allowed(spark: SparkSession, env: EnvConfig, tmp_path: Path, make_ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SourceError, match=r"^source items: the input for 2024-05-02 holds no rows \(set allow_empty: true"):
        run_batch(make_job(spark, env, tmp_path / "a", "never", folder="with_empty_day"), make_ctx(D1, D2, job="tiny"))
    outcome = run_batch(
        make_job(spark, env, tmp_path / "b", "empty_ok", folder="with_empty_day", allow_empty=True), make_ctx(D1, D2, job="tiny")
    )
    assert outcome.record.rows_read == {"items": 1}
    assert [r[0] for r in table_rows(spark, "unit_job.empty_ok")] == [1]


class IgnoresASource(Job):
    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"priced": sources["items"].withColumn("doubled", F.col("price") * 2)}


def test_a_source_transform_never_reads_counts_zero_rows_and_is_named(
    spark: SparkSession, env: EnvConfig, tmp_path: Path, make_ctx, caplog
) -> None:  # type: ignore[no-untyped-def]
    job = make_job(spark, env, tmp_path, "ignoring")
    extra = job.config.sources["items"].model_copy(update={"path": "unit_job/with_empty_day", "allow_empty": True})
    job.config = job.config.model_copy(update={"sources": {**job.config.sources, "unused": extra}})
    outcome = run_batch(IgnoresASource(spark, job.config, env, job.conf), make_ctx(D1, job="tiny"))
    assert outcome.record.rows_read == {"items": 3, "unused": 0}
    warnings = [r.getMessage() for r in caplog.records if r.name == "etl.run.transformed"]
    assert warnings == ["source unused is declared in conf/jobs/tiny.yaml but transform() never reads it"]
