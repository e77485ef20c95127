"""Every row read is loaded, quarantined with its reasons, or dropped by a named rule, and the counts add up."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl.cli import main
from etl.config import ConfigDir
from etl.config.models import EnvConfig
from etl.context import DateWindow, RunContext, new_run_id
from etl.errors import LoadError, RowAccountingFailed
from etl.job import Job
from etl.run import run_batch
from etl.transform.rules import drop_where, quarantine_where
from etl.zones import Zones, local_path
from tests.report_page import Page, parse

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"
D1 = date(2024, 6, 1)

JOB_YAML = """
description: Sold lines, with rules that quarantine and drop.
class: tests.unit.test_quarantine:{job_class}
sources:
  lines:
    format: csv
    path: unit_quarantine/{folder}
    date_partition: dt
    columns: {{line_id: bigint, sku: {{type: string, nullable: true}}, qty: int, price: 'decimal(10,2)'}}
targets:
  sold:
    table: unit_quarantine.{table}
    mode: overwrite_partitions
    partition_by: [dt]
    suite: sold
    rows_from: lines
"""

SUITE_YAML = """
expectations:
  - type: expect_column_values_to_not_be_null
    kwargs: {column: sku}
    severity: quarantine
  - type: expect_column_values_to_be_between
    kwargs: {column: qty, min_value: 1, max_value: 50}
    severity: quarantine
    name: qty_in_range
  - type: expect_column_values_to_be_between
    kwargs: {column: price, min_value: 0, max_value: 100}
    severity: error
"""

# By hand: line 5 does not parse (qty 'three'); line 4 is a test order (dropped by rule); lines 2, 3
# and 7 fail quarantine rules (7 fails both); lines 1 and 6 load. 7 read = 1 + 1 + 3 + 2.
LINES = "line_id,sku,qty,price\n1,A-1,2,10.00\n2,A-2,0,5.00\n3,,1,7.50\n4,TEST-9,1,1.00\n5,A-5,three,2.00\n6,A-6,1,3.00\n7,,0,4.00\n"
CLEAN = "line_id,sku,qty,price\n1,A-1,2,10.00\n6,A-6,1,3.00\n"


class Sold(Job):
    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        lines = drop_where(sources["lines"], "test_order", F.col("sku").startswith("TEST-"))
        return {"sold": lines.withColumn("amount", F.col("qty") * F.col("price"))}


class SilentlyFilters(Job):
    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        # A filter without a named rule; it also loses the null skus (lines 3 and 7): NOT NULL is null.
        lines = sources["lines"].where(~F.col("sku").startswith("TEST-"))
        return {"sold": lines.withColumn("amount", F.col("qty") * F.col("price"))}


class Bounded(Job):
    """amount must fit decimal(5,2): a line whose amount does not is quarantined, neither loaded as null
    (ANSI SQL off) nor fatal to the run (ANSI on)."""

    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        lines = drop_where(sources["lines"], "test_order", F.col("sku").startswith("TEST-"))
        amount = F.col("qty") * F.col("price")
        fits = F.abs(amount) < 1000
        sold = lines.withColumn("amount", F.when(fits, amount.cast("decimal(5,2)")))
        return {"sold": quarantine_where(sold, "amount_out_of_range", ~fits)}


def land(zones: Zones, folder: str, text: str) -> None:
    root = local_path(zones.raw)
    assert root is not None
    day = root / "unit_quarantine" / folder / f"dt={D1}"
    shutil.rmtree(day, ignore_errors=True)
    day.mkdir(parents=True)
    (day / "part-0.csv").write_text(text)


def conf_dir(tmp_path: Path, table: str, folder: str, job_class: str = "Sold") -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF / "env", conf / "env")
    shutil.copy(REPO_CONF / "base.yaml", conf / "base.yaml")
    (conf / "jobs").mkdir()
    (conf / "expectations").mkdir()
    (conf / "jobs" / "tinyq.yaml").write_text(JOB_YAML.format(job_class=job_class, folder=folder, table=table))
    (conf / "expectations" / "sold.yaml").write_text(SUITE_YAML)
    return conf


def make_job(spark: SparkSession, env: EnvConfig, conf: Path, job_class: type[Job] = Sold) -> Job:
    config_dir = ConfigDir(conf, environ={})
    return job_class(spark, config_dir.job("tinyq"), env, config_dir)


def audit_row(spark: SparkSession, run_id: str) -> dict:
    [row] = spark.table("etl_audit.job_runs").where(F.col("run_id") == run_id).collect()
    return row.asDict()


def quarantined(spark: SparkSession, table: str) -> list[tuple]:
    rows = spark.table(table).where(F.col("run_date") == F.lit(D1)).collect()
    return sorted((r.record, r.rules, r.source_file.rsplit("/", 2)[-2:] if r.source_file else None) for r in rows)


@pytest.fixture(scope="module")
def first_run(spark: SparkSession, env: EnvConfig, zones: Zones, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    land(zones, "lines", LINES)
    conf = conf_dir(tmp_path_factory.mktemp("conf"), "sold", "lines")
    ctx = RunContext(job="tinyq", env="test", window=DateWindow.day(D1), run_id=new_run_id(), zones=zones)
    outcome = run_batch(make_job(spark, env, conf), ctx)
    return conf, ctx, outcome


def test_passing_rows_load(spark: SparkSession, first_run) -> None:  # type: ignore[no-untyped-def]
    rows = sorted(tuple(r) for r in spark.table("unit_quarantine.sold").collect())
    assert rows == [(1, "A-1", 2, Decimal("10.00"), Decimal("20.00"), D1), (6, "A-6", 1, Decimal("3.00"), Decimal("3.00"), D1)]


def test_failing_rows_are_quarantined_with_every_rule_they_fail(spark: SparkSession, first_run) -> None:  # type: ignore[no-untyped-def]
    assert quarantined(spark, "quarantine.sold") == [
        ('{"line_id":2,"sku":"A-2","qty":0,"price":5.00,"dt":"2024-06-01","amount":0.00}', ["qty_in_range"], None),
        (
            '{"line_id":3,"sku":null,"qty":1,"price":7.50,"dt":"2024-06-01","amount":7.50}',
            ["expect_column_values_to_not_be_null(sku)"],
            None,
        ),
        (
            '{"line_id":7,"sku":null,"qty":0,"price":4.00,"dt":"2024-06-01","amount":0.00}',
            ["expect_column_values_to_not_be_null(sku)", "qty_in_range"],
            None,
        ),
    ]


def test_malformed_lines_are_quarantined_as_raw_text(spark: SparkSession, first_run) -> None:  # type: ignore[no-untyped-def]
    assert quarantined(spark, "quarantine.tinyq_lines") == [("5,A-5,three,2.00", ["malformed_record"], [f"dt={D1}", "part-0.csv"])]
    assert [r.reason for r in spark.table("quarantine.tinyq_lines").collect()] == ["qty: 'three' is not an int"]
    _, ctx, _ = first_run
    run_ids = {r.run_id for r in spark.table("quarantine.tinyq_lines").collect()}
    assert run_ids == {ctx.run_id}


def test_the_audit_row_accounts_for_every_row(spark: SparkSession, first_run) -> None:  # type: ignore[no-untyped-def]
    _, ctx, _ = first_run
    audit = audit_row(spark, ctx.run_id)
    assert (audit["status"], audit["validation"], audit["error"]) == ("succeeded", "warned", None)
    assert (audit["rows_read"], audit["rows_malformed"], audit["rows_written"]) == ({"lines": 7}, {"lines": 1}, {"sold": 2})
    assert (audit["rows_quarantined"], audit["rows_dropped"]) == ({"sold": 3}, {"sold.test_order": 1})
    assert audit["accounting"] == "sold: 7 read from lines = 1 malformed + 2 loaded + 3 quarantined + 1 dropped (test_order 1)"


def report_of(zones: Zones, ctx: RunContext) -> Page:
    folder = local_path(zones.uri("dq", ctx.job, f"run_date={ctx.run_date}", ctx.run_id))
    assert folder is not None
    return parse((folder / "report.html").read_text())


def test_the_report_shows_what_became_of_every_row(zones: Zones, first_run) -> None:  # type: ignore[no-untyped-def]
    _, ctx, _ = first_run
    page = report_of(zones, ctx)
    assert page.sources == [["lines", "7", "1"]]
    assert page.accounting["sold"] == [
        ("read from lines", "7", "100%"),
        ("malformed", "1", "14.29%"),
        ("loaded", "2", "28.57%"),
        ("quarantined", "3", "42.86%"),
        ("by rule expect_column_values_to_not_be_null(sku)", "2", "28.57%"),  # lines 3 and 7
        ("by rule qty_in_range", "2", "28.57%"),  # lines 2 and 7
        ("dropped by rule test_order", "1", "14.29%"),
    ]
    assert page.equations["sold"] == "sold: 7 read from lines = 1 malformed + 2 loaded + 3 quarantined + 1 dropped (test_order 1)"


def test_the_validation_result_counts_each_quarantine_rule(first_run) -> None:  # type: ignore[no-untyped-def]
    _, _, outcome = first_run
    [result] = outcome.validations
    found = {(o.expectation, o.severity, o.success, o.unexpected_count) for o in result.outcomes}
    assert found == {
        ("expect_column_values_to_not_be_null", "quarantine", False, 2),
        ("expect_column_values_to_be_between", "quarantine", False, 2),
        ("expect_column_values_to_be_between", "error", True, 0),
    }
    assert result.ge_result["statistics"]["evaluated_expectations"] == 3


def test_etl_quarantine_prints_the_rows_of_the_run_date(  # type: ignore[no-untyped-def]
    first_run, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], zones: Zones
) -> None:
    conf, ctx, _ = first_run
    monkeypatch.setenv("ETL_LAKE_ROOT", str(local_path(zones.lake_root)))
    assert main(["--conf-dir", str(conf), "quarantine", "tinyq", "--env", "test", "--run-date", str(D1)]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["table"], p["rules"], p["reason"], p["record"][:12], p["run_id"]) for p in printed] == [
        ("quarantine.tinyq_lines", ["malformed_record"], "qty: 'three' is not an int", "5,A-5,three,", ctx.run_id),
        ("quarantine.sold", ["qty_in_range"], None, '{"line_id":2', ctx.run_id),
        ("quarantine.sold", ["expect_column_values_to_not_be_null(sku)"], None, '{"line_id":3', ctx.run_id),
        ("quarantine.sold", ["expect_column_values_to_not_be_null(sku)", "qty_in_range"], None, '{"line_id":7', ctx.run_id),
    ]
    assert main(["--conf-dir", str(conf), "quarantine", "tinyq", "--env", "test", "--run-date", "2024-06-02"]) == 0
    assert capsys.readouterr().out == ""


def test_a_rerun_on_fixed_input_empties_the_run_dates_quarantine(  # type: ignore[no-untyped-def]
    spark: SparkSession, env: EnvConfig, zones: Zones, tmp_path: Path, first_run, make_ctx
) -> None:
    conf, _, _ = first_run
    land(zones, "lines", CLEAN)
    try:
        ctx = make_ctx(D1, job="tinyq")
        run_batch(make_job(spark, env, conf), ctx)
    finally:
        land(zones, "lines", LINES)
    assert quarantined(spark, "quarantine.sold") == []
    assert quarantined(spark, "quarantine.tinyq_lines") == []
    assert [r.line_id for r in spark.table("unit_quarantine.sold").collect()] == [1, 6]
    assert audit_row(spark, ctx.run_id)["accounting"] == "sold: 2 read from lines = 0 malformed + 2 loaded + 0 quarantined + 0 dropped"


def test_rows_lost_without_a_named_rule_fail_the_run_before_any_write(  # type: ignore[no-untyped-def]
    spark: SparkSession, env: EnvConfig, zones: Zones, tmp_path: Path, make_ctx
) -> None:
    land(zones, "lost", LINES)
    conf = conf_dir(tmp_path, "lossy", "lost")
    ctx = make_ctx(D1, job="tinyq")
    with pytest.raises(RowAccountingFailed) as error:
        run_batch(make_job(spark, env, conf, SilentlyFilters), ctx)
    expected = (
        "row accounting does not add up, nothing was written: sold: 7 read from lines but 1 malformed + 2 loaded + "
        "1 quarantined + 0 dropped = 4: 3 row(s) unaccounted for (a transform that removes rows must name the rule "
        "with etl.transform.rules.drop_where)"
    )
    assert str(error.value) == expected
    assert not spark.catalog.tableExists("unit_quarantine.lossy")
    audit = audit_row(spark, ctx.run_id)
    assert (audit["status"], audit["error"], audit["rows_written"]) == ("failed", expected, {})


# By hand: line 1 loads (20.00); line 2's amount 1999.80 and line 3's 1500.00 do not fit decimal(5,2), and
# line 3 has no sku either; line 4 is a test order. 4 read = 0 malformed + 1 loaded + 2 quarantined + 1 dropped.
OVERFLOWING = "line_id,sku,qty,price\n1,A-1,2,10.00\n2,A-2,20,99.99\n3,,30,50.00\n4,TEST-9,1,1.00\n"


@pytest.mark.usefixtures("ansi")
def test_a_value_the_transform_cannot_compute_quarantines_its_row_with_the_rules_name(  # type: ignore[no-untyped-def]
    spark: SparkSession, env: EnvConfig, zones: Zones, tmp_path: Path, make_ctx
) -> None:
    land(zones, "overflowing", OVERFLOWING)
    conf = conf_dir(tmp_path, "bounded", "overflowing", job_class="Bounded")
    ctx = make_ctx(D1, job="tinyq")
    run_batch(make_job(spark, env, conf, Bounded), ctx)
    assert sorted(tuple(r) for r in spark.table("unit_quarantine.bounded").collect()) == [
        (1, "A-1", 2, Decimal("10.00"), Decimal("20.00"), D1)
    ]
    assert quarantined(spark, "quarantine.bounded") == [
        ('{"line_id":2,"sku":"A-2","qty":20,"price":99.99,"dt":"2024-06-01","amount":null}', ["amount_out_of_range"], None),
        (
            '{"line_id":3,"sku":null,"qty":30,"price":50.00,"dt":"2024-06-01","amount":null}',
            ["amount_out_of_range", "expect_column_values_to_not_be_null(sku)"],
            None,
        ),
    ]
    audit = audit_row(spark, ctx.run_id)
    assert (audit["status"], audit["rows_quarantined"], audit["rows_dropped"]) == ("succeeded", {"sold": 2}, {"sold.test_order": 1})
    assert audit["accounting"] == "sold: 4 read from lines = 0 malformed + 1 loaded + 2 quarantined + 1 dropped (test_order 1)"
    # the transform's rule on the report, with the suite's
    assert report_of(zones, ctx).accounting["sold"] == [
        ("read from lines", "4", "100%"),
        ("malformed", "0", "0%"),
        ("loaded", "1", "25%"),
        ("quarantined", "2", "50%"),
        ("by rule amount_out_of_range", "2", "50%"),
        ("by rule expect_column_values_to_not_be_null(sku)", "1", "25%"),
        ("by rule qty_in_range", "0", "0%"),
        ("dropped by rule test_order", "1", "25%"),
    ]


MERGE_YAML = """
description: Lines upserted on their id.
class: tests.unit.test_quarantine:Upsert
sources:
  lines:
    format: csv
    path: unit_quarantine/dup_keys
    date_partition: dt
    columns: {{line_id: bigint, sku: {{type: string, nullable: true}}, qty: int, price: 'decimal(10,2)'}}
targets:
  sold:
    table: unit_quarantine.{table}
    mode: merge
    merge_keys: [line_id]
    rows_from: lines
    {suite}
"""
UNIQUE_KEYS_YAML = """
expectations:
  - type: expect_column_values_to_be_unique
    kwargs: {column: line_id}
    severity: quarantine
    name: duplicate_line_id
"""
DUPLICATE_KEYS = "line_id,sku,qty,price\n1,A-1,2,10.00\n1,A-1b,3,10.00\n2,A-2,1,5.00\n"


class Upsert(Job):
    def transform(self, ctx: RunContext, sources: Mapping[str, DataFrame]) -> dict[str, DataFrame]:
        return {"sold": sources["lines"]}


def merge_job(spark: SparkSession, env: EnvConfig, tmp_path: Path, table: str, with_suite: bool) -> Job:
    conf = tmp_path / "conf"
    shutil.copytree(REPO_CONF / "env", conf / "env")
    shutil.copy(REPO_CONF / "base.yaml", conf / "base.yaml")
    (conf / "jobs").mkdir()
    (conf / "expectations").mkdir()
    (conf / "jobs" / "tinyq.yaml").write_text(MERGE_YAML.format(table=table, suite="suite: unique_keys" if with_suite else ""))
    (conf / "expectations" / "unique_keys.yaml").write_text(UNIQUE_KEYS_YAML)
    config_dir = ConfigDir(conf, environ={})
    return Upsert(spark, config_dir.job("tinyq"), env, config_dir)


def test_duplicate_merge_keys_fail_the_run_unless_quarantined(  # type: ignore[no-untyped-def]
    spark: SparkSession, env: EnvConfig, zones: Zones, tmp_path: Path, make_ctx
) -> None:
    land(zones, "dup_keys", DUPLICATE_KEYS)
    with pytest.raises(LoadError) as error:
        run_batch(merge_job(spark, env, tmp_path / "plain", "merged_plain", with_suite=False), make_ctx(D1, job="tinymerge"))
    assert str(error.value) == (
        "unit_quarantine.merged_plain: merge keys (line_id) repeat in the new data, nothing was written: 1 key(s), such as (1,); "
        "quarantine them (expect_column_values_to_be_unique or expect_compound_columns_to_be_unique with severity quarantine) "
        "or fix the source"
    )
    assert not spark.catalog.tableExists("unit_quarantine.merged_plain")

    outcome = run_batch(merge_job(spark, env, tmp_path / "guarded", "merged_guarded", with_suite=True), make_ctx(D1, job="tinymerge"))
    assert [tuple(r) for r in spark.table("unit_quarantine.merged_guarded").collect()] == [(2, "A-2", 1, Decimal("5.00"), D1)]
    assert sorted(r.record for r in spark.table("quarantine.merged_guarded").collect()) == [
        '{"line_id":1,"sku":"A-1","qty":2,"price":10.00,"dt":"2024-06-01"}',
        '{"line_id":1,"sku":"A-1b","qty":3,"price":10.00,"dt":"2024-06-01"}',
    ]
    assert outcome.record.accounting == "sold: 3 read from lines = 0 malformed + 1 loaded + 2 quarantined + 0 dropped"
