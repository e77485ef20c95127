"""Session settings per env (pure: no JVM) and the Delta runtime check."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from etl import formats
from etl.config import ConfigDir
from etl.errors import TableFormatUnavailable
from etl.session import session_settings
from etl.spark_internals import SPARK_LINE
from tests.lanes import needs_jars

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"


def test_local_env_keeps_metastore_warehouse_and_logs_under_the_lake_root() -> None:
    env = ConfigDir(REPO_CONF, environ={"ETL_LAKE_ROOT": "/srv/lake"}).env("local")
    settings = session_settings(env, "etl-x")
    assert settings["spark.master"] == "local[*]"
    assert settings["spark.app.name"] == "etl-x"
    assert settings["spark.sql.catalogImplementation"] == "hive"
    assert settings["spark.sql.warehouse.dir"] == "file:///srv/lake/spark-warehouse"
    assert settings["spark.hadoop.javax.jdo.option.ConnectionURL"] == "jdbc:derby:;databaseName=/srv/lake/metastore_db;create=true"
    assert "-Dderby.system.home=/srv/lake/logs" in settings["spark.driver.extraJavaOptions"].split()
    assert settings["spark.driver.memory"] == "4g"
    assert "spark.sql.extensions" not in settings


def test_emr_env_leaves_master_and_metastore_to_the_cluster_and_enables_delta() -> None:
    env = ConfigDir(REPO_CONF, environ={"ETL_BUCKET": "b"}).env("emr")
    settings = session_settings(env, "etl-x")
    assert "spark.master" not in settings
    assert not any(key.startswith("spark.hadoop.javax.jdo") for key in settings)
    assert "spark.sql.warehouse.dir" not in settings
    assert settings["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert settings["spark.sql.catalog.spark_catalog"] == "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def test_thrift_metastore_and_delta_for_one_job(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    (tmp_path / "base.yaml").write_text((REPO_CONF / "base.yaml").read_text())
    (tmp_path / "env" / "hms.yaml").write_text("metastore: {kind: thrift, uris: 'thrift://127.0.0.1:9083'}\n")
    env = ConfigDir(tmp_path, environ={"ETL_LAKE_ROOT": "/l"}).env("hms")
    settings = session_settings(env, "etl-x", {"delta"})
    assert settings["spark.hadoop.hive.metastore.uris"] == "thrift://127.0.0.1:9083"
    assert "spark.hadoop.javax.jdo.option.ConnectionURL" not in settings
    assert settings["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"


def test_thrift_metastore_needs_uris(tmp_path: Path) -> None:
    (tmp_path / "env").mkdir()
    (tmp_path / "base.yaml").write_text("lake_root: /l\n")
    (tmp_path / "env" / "hms.yaml").write_text("metastore: {kind: thrift}\n")
    with pytest.raises(Exception, match=r"^conf/env/hms.yaml: metastore: kind 'thrift' needs 'uris'"):
        ConfigDir(tmp_path, environ={}).env("hms")


def test_missing_delta_runtime_is_a_clear_error(spark: SparkSession) -> None:
    if formats.runtime_available(spark, "delta"):
        pytest.skip("the Delta jars are on this session's classpath")
    with pytest.raises(TableFormatUnavailable) as error:
        formats.require_runtime(spark, {"delta"})
    assert str(error.value).startswith("Delta Lake is not on the Spark classpath: on EMR 6.9+ add the classification delta-defaults")


def test_local_writes_use_the_fork_free_file_system_with_hadoops_permissions(spark: SparkSession, zones) -> None:  # type: ignore[no-untyped-def]
    from etl.session import LOCAL_FS_JAR
    from etl.zones import local_path

    if not LOCAL_FS_JAR.is_file():
        pytest.skip(f"{LOCAL_FS_JAR} was not built (make setup builds it where javac exists)")
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(zones.raw)
    assert path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).getClass().getName() == "etl.hadoop.NioLocalFileSystem"
    spark.createDataFrame([(1, "a")], "k int, p string").write.partitionBy("p").mode("overwrite").csv(f"{zones.raw}/perm_check")
    folder = local_path(f"{zones.raw}/perm_check/p=a")
    assert folder is not None
    [data_file] = [f for f in folder.iterdir() if f.name.startswith("part-")]
    # what stock Hadoop gives with its default umask 022: rwxr-xr-x folders, rw-r--r-- files
    assert (folder.stat().st_mode & 0o777, data_file.stat().st_mode & 0o777) == (0o755, 0o644)


@needs_jars("hadoop-aws", "aws-java-sdk-bundle", "iceberg-spark-runtime")
def test_local_s3_env_reaches_s3_uris_through_s3a_without_keys_in_the_settings() -> None:
    environ = {"ETL_LAKE_ROOT": "/srv/state", "ETL_S3_ENDPOINT": "http://127.0.0.1:4567", "ETL_BUCKET": "lake"}
    env = ConfigDir(REPO_CONF, environ=environ).env("local-s3")
    settings = session_settings(env, "etl-x")
    assert env.lake_root == "s3://lake/etl"
    assert settings["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert settings["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:4567"
    assert settings["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    assert settings["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert not any("secret" in key.lower() or "access.key" in key.lower() for key in settings)
    # the Derby metastore and the logs stay local while the zones are on S3
    assert settings["spark.hadoop.javax.jdo.option.ConnectionURL"] == "jdbc:derby:;databaseName=/srv/state/metastore_db;create=true"
    jars = [Path(jar).name for jar in settings["spark.driver.extraClassPath"].split(":")]
    assert [jar for jar in jars if not jar.startswith("etl-")] == ["hadoop-aws-3.3.1.jar", "aws-java-sdk-bundle-1.11.901.jar"]
    # Iceberg's runtime joins them only in a session with Iceberg tables
    with_iceberg = session_settings(env, "etl-x", {"iceberg"})["spark.driver.extraClassPath"].split(":")
    assert [Path(jar).name for jar in with_iceberg if not Path(jar).name.startswith("etl-")][
        -1
    ] == "iceberg-spark-runtime-3.5_2.12-1.10.2.jar"


@pytest.mark.skipif(SPARK_LINE == "3.5", reason="Spark 3.5 has every jar the envs name")
def test_on_spark_4_an_env_naming_a_jar_without_a_build_fails_in_one_line_saying_how_emr_provides_it() -> None:
    from etl.errors import ConfigError

    env = ConfigDir(REPO_CONF, environ={"ETL_LAKE_ROOT": "/srv/state"}).env("local-s3")
    with pytest.raises(ConfigError) as error:
        session_settings(env, "etl-x")
    assert str(error.value) == (
        "spark.jars: hadoop-aws for Spark 4.0: S3A for Spark 4.0 (hadoop-aws 3.4 with the AWS SDK v2) is in no archive this "
        "project can fetch; on EMR 8, s3:// is EMRFS, part of the cluster"
    )
    # the local env names Iceberg's runtime too, but a session without Iceberg tables does not load it
    local = ConfigDir(REPO_CONF, environ={"ETL_LAKE_ROOT": "/srv/state"}).env("local")
    assert "iceberg" not in session_settings(local, "etl-x").get("spark.driver.extraClassPath", "")
    with pytest.raises(
        ConfigError, match=r"^spark.jars: iceberg-spark-runtime for Spark 4.0: .* on EMR 8 add the classification iceberg-defaults"
    ):
        session_settings(local, "etl-x", {"iceberg"})


@needs_jars("iceberg-spark-runtime")
def test_local_hms_env_talks_to_the_metastore_over_thrift_only() -> None:
    env = ConfigDir(REPO_CONF, environ={"ETL_METASTORE_URIS": "thrift://127.0.0.1:9999"}).env("local-hms")
    settings = session_settings(env, "etl-x", {"iceberg"})
    assert settings["spark.hadoop.hive.metastore.uris"] == "thrift://127.0.0.1:9999"
    assert not any(key.startswith("spark.hadoop.javax.jdo") for key in settings)
    assert settings["spark.sql.catalog.spark_catalog"] == "org.apache.iceberg.spark.SparkSessionCatalog"
    assert settings["spark.sql.catalog.spark_catalog.type"] == "hive"
    assert "spark.hadoop.iceberg.engine.hive.lock-enabled" not in settings  # the service has Hive's lock tables


def test_thrift_metastore_client_retries_through_a_restart_and_keeps_its_connection() -> None:
    env = ConfigDir(REPO_CONF, environ={"ETL_METASTORE_URIS": "thrift://127.0.0.1:9999"}).env("local-hms")
    settings = session_settings(env, "etl-x")
    assert settings["spark.hadoop.hive.metastore.failure.retries"] == "15"
    assert settings["spark.hadoop.hive.metastore.client.connect.retry.delay"] == "2s"
    assert settings["spark.hadoop.hive.metastore.connect.retries"] == "1"
    # not Hive's default SQL-standard authorizer, whose lazy set-up closes the client in use (HIVE-24404)
    manager = settings["spark.hadoop.hive.security.authorization.manager"]
    assert manager == "org.apache.hadoop.hive.ql.security.authorization.DefaultHiveAuthorizationProvider"
    # the embedded Derby metastore has no connection to lose; on EMR the cluster's hive-site.xml decides
    for name in ("local", "emr"):
        other = ConfigDir(REPO_CONF, environ={"ETL_BUCKET": "b"}).env(name)
        assert not any(key.startswith("spark.hadoop.hive.") for key in session_settings(other, "etl-x"))


def test_every_env_compiles_huge_generated_methods_and_keeps_its_own_jvm_options() -> None:
    local = session_settings(ConfigDir(REPO_CONF, environ={"ETL_LAKE_ROOT": "/srv/lake"}).env("local"), "etl-x")
    jit = "-XX:-DontCompileHugeMethods -XX:ReservedCodeCacheSize=512m"  # and room for what it compiles
    assert local["spark.driver.extraJavaOptions"].startswith(f"{jit} ")
    assert "-Dderby.system.home=/srv/lake/logs" in local["spark.driver.extraJavaOptions"].split()
    assert local["spark.executor.extraJavaOptions"] == jit
    emr = ConfigDir(REPO_CONF, environ={"ETL_BUCKET": "b"}).env("emr")
    emr.spark.conf["spark.executor.extraJavaOptions"] = "-Dcustom=1"
    settings = session_settings(emr, "etl-x")
    assert settings["spark.executor.extraJavaOptions"] == f"{jit} -Dcustom=1"
    assert settings["spark.driver.extraJavaOptions"] == jit


class Stderr:
    def __init__(self, terminal: bool) -> None:
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


def test_sparks_progress_bar_shows_on_a_terminal_only_unless_the_env_says(monkeypatch: pytest.MonkeyPatch) -> None:
    configs = ConfigDir(REPO_CONF, environ={"ETL_LAKE_ROOT": "/srv/lake"})
    local, test = configs.env("local"), configs.env("test")  # test: progress_bar false
    shown = {}
    for terminal in (True, False):
        monkeypatch.setattr("sys.stderr", Stderr(terminal))
        shown[terminal] = [session_settings(env, "etl-x")["spark.ui.showConsoleProgress"] for env in (local, test)]
    assert shown == {True: ["true", "false"], False: ["false", "false"]}
