"""Config: overlays, interpolation, and errors that name the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from etl.checks import check_config
from etl.config import ConfigDir
from etl.config.loader import interpolate
from etl.errors import ConfigError
from etl.zones import Zones

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.fixture
def conf_copy(tmp_path: Path) -> Path:
    target = tmp_path / "conf"
    shutil.copytree(REPO_CONF, target)
    return target


def test_env_overlay_merges_over_base_and_interpolates() -> None:
    env = ConfigDir(REPO_CONF, environ={"ETL_LAKE_ROOT": "/data/lake", "ETL_DRIVER_MEMORY": "6g"}).env("local")
    assert env.name == "local"
    assert env.spark.master == "local[*]"
    assert env.spark.driver_memory == "6g"
    # base.yaml's conf entries survive the overlay's additions
    assert env.spark.conf["spark.sql.sources.partitionOverwriteMode"] == "dynamic"
    assert env.spark.conf["spark.sql.shuffle.partitions"] == "8"
    zones = Zones.from_env(env)
    assert zones.raw == "file:///data/lake/raw"
    assert zones.dq == "file:///data/lake/dq"


def test_default_lake_root_is_lake_under_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = ConfigDir(REPO_CONF, environ={}).env("local")
    assert Zones.from_env(env).curated == f"file://{tmp_path}/lake/curated"


def test_emr_env_uses_s3_and_the_cluster_metastore() -> None:
    env = ConfigDir(REPO_CONF, environ={"ETL_BUCKET": "acme-lake"}).env("emr")
    assert Zones.from_env(env).raw == "s3://acme-lake/etl/raw"
    assert env.metastore.kind == "cluster"
    assert env.tables.default_format == "delta"
    assert env.spark.master is None


def test_interpolation_default_and_missing_variable() -> None:
    assert interpolate({"a": "${X:-d}/${Y}"}, "f.yaml", environ={"Y": "y"}) == {"a": "d/y"}
    with pytest.raises(ConfigError) as error:
        interpolate({"a": {"b": ["${NOPE}"]}}, "conf/env/x.yaml", environ={})
    assert str(error.value) == "conf/env/x.yaml: a.b[0]: environment variable NOPE is not set (and no ${NOPE:-default} is given)"


def test_a_default_may_hold_references_used_only_when_it_is() -> None:
    root = "${ETL_LAKE_ROOT:-s3://${ETL_BUCKET}/${ETL_PREFIX:-etl}}"
    assert interpolate(root, "f.yaml", environ={"ETL_BUCKET": "b"}) == "s3://b/etl"
    assert interpolate(root, "f.yaml", environ={"ETL_BUCKET": "b", "ETL_PREFIX": "p"}) == "s3://b/p"
    assert interpolate(root, "f.yaml", environ={"ETL_LAKE_ROOT": "file:///lake"}) == "file:///lake"  # ETL_BUCKET unset: not asked
    with pytest.raises(ConfigError) as error:
        interpolate({"lake_root": root}, "conf/env/emr.yaml", environ={})
    assert str(error.value) == (
        "conf/env/emr.yaml: lake_root: environment variable ETL_BUCKET is not set (and no ${ETL_BUCKET:-default} is given)"
    )
    # what is no reference stays as written
    assert interpolate("${ a ${1x} ${X:-open", "f.yaml", environ={}) == "${ a ${1x} ${X:-open"


def test_unknown_key_names_file_and_key(conf_copy: Path) -> None:
    (conf_copy / "env" / "local.yaml").write_text("spark:\n  mastr: local[2]\n")
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).env("local")
    assert str(error.value).startswith("conf/env/local.yaml: spark.mastr: unknown key")


def test_bad_type_names_file_key_and_value(conf_copy: Path) -> None:
    (conf_copy / "env" / "local.yaml").write_text("spark:\n  progress_bar: sometimes\n")
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).env("local")
    message = str(error.value)
    assert message.startswith("conf/env/local.yaml: spark.progress_bar: ")
    assert "'sometimes'" in message


def test_missing_required_value_in_job(conf_copy: Path) -> None:
    job = conf_copy / "jobs" / "sales_warehouse.yaml"
    job.write_text(job.read_text().replace("    mode: overwrite\n", "", 1))
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).job("sales_warehouse")
    assert str(error.value) == "conf/jobs/sales_warehouse.yaml: targets.dim_customer.mode: missing required key"


def test_bad_column_type_and_bad_identifier(conf_copy: Path) -> None:
    job = conf_copy / "jobs" / "sales_warehouse.yaml"
    job.write_text(job.read_text().replace("o_totalprice: decimal(15,2)", "o_totalprice: money"))
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).job("sales_warehouse")
    assert str(error.value).startswith("conf/jobs/sales_warehouse.yaml: sources.orders.columns.o_totalprice: unknown column type 'money'")

    job.write_text(
        job.read_text()
        .replace("money", "decimal(15,2)")
        .replace("table: warehouse.fact_sales", "table: warehouse.fact_sales; DROP TABLE x")
    )
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).job("sales_warehouse")
    assert str(error.value).startswith("conf/jobs/sales_warehouse.yaml: targets.fact_sales.table: ")


def test_yaml_syntax_error_names_the_line(conf_copy: Path) -> None:
    (conf_copy / "base.yaml").write_text("spark:\n  conf: [unclosed\n")
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).env("local")
    assert str(error.value).startswith("conf/base.yaml: not valid YAML (line ")


def test_unknown_env_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as error:
        ConfigDir(REPO_CONF, environ={}).env("prod")
    assert str(error.value) == "conf/env/prod.yaml: no such env (known: emr, emr8, local, local-emr, local-hms, local-s3, test)"


def test_an_env_extends_another_and_overrides_it(conf_copy: Path) -> None:
    (conf_copy / "env" / "a.yaml").write_text("extends: local\nspark: {driver_memory: 1g, conf: {x: '1'}}\n")
    (conf_copy / "env" / "b.yaml").write_text("extends: a\nspark: {conf: {x: '2'}}\n")
    env = ConfigDir(conf_copy, environ={}).env("b")
    assert (env.name, env.spark.master, env.spark.driver_memory, env.spark.conf["x"]) == ("b", "local[*]", "1g", "2")
    assert env.spark.conf["spark.sql.shuffle.partitions"] == "8"  # from local


def test_an_extends_cycle_is_an_error(conf_copy: Path) -> None:
    (conf_copy / "env" / "a.yaml").write_text("extends: b\n")
    (conf_copy / "env" / "b.yaml").write_text("extends: a\n")
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).env("a")
    assert str(error.value) == "conf/env/a.yaml: extends: a cycle (a -> b -> a)"


def test_check_config_passes_on_the_shipped_config_and_notes_emr_variables() -> None:
    problems, notes = check_config(REPO_CONF)
    assert problems == []
    assert notes == ["conf/env/emr.yaml: lake_root needs $ETL_BUCKET"]


def test_check_config_reports_bad_expectation_and_missing_suite(conf_copy: Path) -> None:
    suite = conf_copy / "expectations" / "fact_sales.yaml"
    suite.write_text(suite.read_text().replace("expect_column_values_to_not_be_null", "expect_column_values_to_be_purple", 1))
    job = conf_copy / "jobs" / "sales_warehouse.yaml"
    job.write_text(job.read_text().replace("suite: agg_sales_daily", "suite: agg_sales_dialy"))
    problems, _ = check_config(conf_copy)
    assert problems == [
        "conf/expectations/fact_sales.yaml: expectations[1].type: 'expect_column_values_to_be_purple' is not a Great Expectations expectation",
        "conf/jobs/sales_warehouse.yaml: targets.agg_sales_daily.suite: no conf/expectations/agg_sales_dialy.yaml",
    ]


def test_check_config_reports_bad_expectation_arguments(conf_copy: Path) -> None:
    suite = conf_copy / "expectations" / "agg_sales_daily.yaml"
    suite.write_text(suite.read_text().replace("kwargs: {column: nation}", "kwargs: {colum: nation}"))
    problems, _ = check_config(conf_copy)
    assert len(problems) == 1
    assert problems[0].startswith("conf/expectations/agg_sales_daily.yaml: expectations[0].kwargs: ")


def test_unquoted_decimal_in_flow_style_gets_a_hint(conf_copy: Path) -> None:
    (conf_copy / "jobs" / "flow.yaml").write_text(
        "description: d\nclass: jobs.x:X\nsources:\n  s: {format: csv, path: p, columns: {price: decimal(9,2), n: int}}\n"
    )
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).job("flow")
    assert str(error.value).startswith(
        "conf/jobs/flow.yaml: sources.s.columns.price: unknown column type 'decimal(9': inside {...} YAML splits at the comma"
    )


def test_check_config_reports_descriptions_that_contradict_the_declared_columns_and_the_suite(conf_copy: Path) -> None:
    job = conf_copy / "jobs" / "sales_warehouse.yaml"
    text = job.read_text()
    # dim_customer: a described column its declared columns (sources.dim_customer) lack, one they have left undescribed
    text = text.replace("      is_current: Whether this", "      is_currant: Whether this")
    # agg_sales_daily: its suite checks nation, which it no longer describes
    text = text.replace("      nation: The customer's nation on the order date; null when no customer version was valid then.\n", "")
    job.write_text(text)
    problems, _ = check_config(conf_copy)
    assert problems == [
        "conf/jobs/sales_warehouse.yaml: targets.dim_customer.columns: describes is_currant, which the table's declared columns "
        "(sources.dim_customer.columns) do not have",
        "conf/jobs/sales_warehouse.yaml: targets.dim_customer.columns: no description of is_current (declared in sources.dim_customer.columns)",
        "conf/jobs/sales_warehouse.yaml: targets.agg_sales_daily.columns: no description of nation (checked by its suite agg_sales_daily)",
    ]


def test_target_descriptions_name_partition_and_merge_columns_and_fit_the_metastore(conf_copy: Path) -> None:
    job = conf_copy / "jobs" / "sales_warehouse.yaml"
    original = job.read_text()
    job.write_text(original.replace("      order_date: The day the order was placed (o_orderdate; partition).\n", ""))
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).job("sales_warehouse")
    assert str(error.value) == (
        "conf/jobs/sales_warehouse.yaml: targets.fact_sales: columns: no description of order_date (named in partition_by or merge_keys)"
    )
    job.write_text(original.replace("      part_key: The part ordered (l_partkey).", "      part_key: " + "x" * 256))
    with pytest.raises(ConfigError) as error:
        ConfigDir(conf_copy, environ={}).job("sales_warehouse")
    assert str(error.value).startswith(
        "conf/jobs/sales_warehouse.yaml: targets.fact_sales.columns.part_key: String should have at most 255 characters"
    )
