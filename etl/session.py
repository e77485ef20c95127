"""The one place a SparkSession is built, from the env config. Everything else receives it as an argument."""

from __future__ import annotations

import os
from pathlib import Path

from pyspark.sql import SparkSession

from etl.config.models import EnvConfig, TableFormat
from etl.errors import ConfigError
from etl.load import delta
from etl.zones import Zones, join, local_path

_LOG4J2 = Path(__file__).with_name("log4j2.properties")
# Built by `make setup` from etl/jvm/ (optional): file:// without a forked chmod per file.
LOCAL_FS_JAR = Path(os.environ.get("ETL_LOCAL_FS_JAR", Path(__file__).resolve().parents[1] / ".cache" / "jars" / "etl-local-fs.jar"))


def session_settings(env: EnvConfig, app_name: str, formats: set[TableFormat] | None = None) -> dict[str, str]:
    """Every Spark setting the env asks for, as a plain dict (pure: no JVM is started)."""
    zones = Zones.from_env(env)
    settings: dict[str, str] = {"spark.app.name": app_name, "spark.sql.catalogImplementation": "hive"}
    if env.spark.master:
        settings["spark.master"] = env.spark.master
    if env.spark.driver_memory:
        settings["spark.driver.memory"] = env.spark.driver_memory
    settings["spark.ui.showConsoleProgress"] = str(env.spark.progress_bar).lower()

    if env.local_state:
        settings.update(_local_state(env, zones))
    if env.metastore.kind == "thrift":
        settings["spark.hadoop.hive.metastore.uris"] = str(env.metastore.uris)

    if "delta" in (formats or set()) | {env.tables.default_format}:
        settings.update(delta.SESSION_SETTINGS)
    settings.update(env.spark.conf)
    return settings


def _local_state(env: EnvConfig, zones: Zones) -> dict[str, str]:
    """Metastore, warehouse dir and logs under the lake root, so two checkouts never share state."""
    root = local_path(zones.lake_root)
    if root is None:
        raise ConfigError(f"conf/env/{env.name}.yaml: local_state: needs a local lake_root, got {zones.lake_root}")
    java_options = [
        f"-Dderby.system.home={root / 'logs'}",
        f"-Detl.log.dir={root / 'logs'}",
        f"-Detl.console.level={env.spark.log_level.lower()}",
    ]
    if _LOG4J2.is_file():
        java_options.append(f"-Dlog4j2.configurationFile={_LOG4J2.as_uri()}")
    settings = {
        "spark.sql.warehouse.dir": join(zones.lake_root, "spark-warehouse"),
        "spark.driver.extraJavaOptions": " ".join(java_options),
    }
    if LOCAL_FS_JAR.is_file():
        settings["spark.driver.extraClassPath"] = str(LOCAL_FS_JAR)
        settings["spark.hadoop.fs.file.impl"] = "etl.hadoop.NioLocalFileSystem"
    if env.metastore.kind == "derby":
        settings["spark.hadoop.javax.jdo.option.ConnectionURL"] = f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true"
    return settings


def build_session(env: EnvConfig, app_name: str, formats: set[TableFormat] | None = None) -> SparkSession:
    """Start (or join) the SparkSession for an env; fails fast when a table format's jars are missing."""
    root = local_path(Zones.from_env(env).lake_root)
    if env.local_state and root is not None:
        (root / "logs").mkdir(parents=True, exist_ok=True)
        # The JVM reads this before any setting: bind to loopback without a warning about the hostname.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder
    for key, value in session_settings(env, app_name, formats).items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    if not env.local_state:  # locally, etl/log4j2.properties filters the console and keeps the full log
        spark.sparkContext.setLogLevel(env.spark.log_level)
    if "delta" in (formats or set()) | {env.tables.default_format}:
        delta.require_runtime(spark)
    return spark


def stop_session(spark: SparkSession) -> None:
    """Stop Spark and wait for its JVM to exit, so that nothing outlives the command."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    spark.stop()
    if gateway is None:
        return
    process = getattr(gateway, "proc", None)
    gateway.shutdown()
    SparkContext._gateway = None
    SparkContext._jvm = None
    if process is not None and process.stdin is not None:
        process.stdin.close()  # the JVM's gateway server exits when its stdin closes
        process.wait(timeout=60)
