"""The one place a SparkSession is built, from the env config. Everything else receives it as an argument."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from etl import formats
from etl.config.models import EnvConfig, S3Settings, TableFormat
from etl.jars import JARS_DIR, jar_path, table_format_of
from etl.spark_internals import start_jvm, stop_jvm
from etl.zones import join

_LOG4J2 = Path(__file__).with_name("log4j2.properties")
# Built by `make setup` from etl/jvm/ against the Spark line's jars (optional): file:// without a forked chmod per file.
LOCAL_FS_JAR = Path(os.environ.get("ETL_LOCAL_FS_JAR", JARS_DIR / "etl-local-fs.jar"))
# Also from etl/jvm/ (optional): a table's partitions read and relocated in one JVM call (etl/catalog.py).
CATALOG_JAR = Path(os.environ.get("ETL_CATALOG_JAR", JARS_DIR / "etl-catalog.jar"))

# Hive 2.3.9's metastore client (Spark's), for a metastore service over thrift://.
THRIFT_METASTORE_CLIENT = {
    # A call that loses its connection (the service restarts, a socket drops) is retried up to 15 times,
    # each after 2 s, with one connection attempt (which waits 2 s more when refused): about a minute
    # before the call fails, enough for a restart of the service (about 5 s here). Hive's defaults (one
    # retry after 1 s, 3 attempts) give up after about 4 s. Spark's HiveClientImpl retries a call within
    # retries x delay (30 s) of its start, so it adds nothing once Hive's own retries ran out.
    "spark.hadoop.hive.metastore.failure.retries": "15",
    "spark.hadoop.hive.metastore.client.connect.retry.delay": "2s",
    "spark.hadoop.hive.metastore.connect.retries": "1",
    # The legacy (V1) provider rather than Hive's default SQL-standard authorizer (V2), which Spark never
    # enforces: setting up the V2 one, lazily, on the session's first call that sends the user's groups
    # (listing partitions), changes hive.metastore.filter.hook and so has Hive.get() close the metastore
    # client Spark is in the middle of using (HIVE-24404): "RetryingMetaStoreClient lost connection ...
    # Cannot write to null outputStream", with a stack trace, on every rerun, saved by a retry.
    "spark.hadoop.hive.security.authorization.manager": "org.apache.hadoop.hive.ql.security.authorization.DefaultHiveAuthorizationProvider",
}

# HotSpot does not compile a method of more than 8000 bytes of bytecode: it runs interpreted, 10-50x
# slower. Spark generates one method for a stage's projection; strict typing checks every column of a
# source in one (lineitem: 16 columns) and goes over that size: measured at SF 1, two years of lineitem
# read in 11.9 s without this flag, 5.1 s with it. EMR keeps its own JVM options in
# spark.*.defaultJavaOptions, which Spark puts before these. Compiled huge methods fill the JIT's code
# cache sooner: a stream's micro-batches filled the default 240 MB ("CodeCache is full. Compiler has been
# disabled", on stderr: everything after runs interpreted); the larger size is address space, used as needed.
JVM_OPTIONS = ("-XX:-DontCompileHugeMethods", "-XX:ReservedCodeCacheSize=512m")
_JAVA_OPTIONS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")


def session_settings(env: EnvConfig, app_name: str, table_formats: set[TableFormat] | None = None) -> dict[str, str]:
    """Every Spark setting the env asks for, as a plain dict (pure: no JVM is started)."""
    settings: dict[str, str] = {"spark.app.name": app_name, "spark.sql.catalogImplementation": "hive"}
    if env.spark.master:
        settings["spark.master"] = env.spark.master
    if env.spark.driver_memory:
        settings["spark.driver.memory"] = env.spark.driver_memory
    progress_bar = env.spark.progress_bar if env.spark.progress_bar is not None else sys.stderr.isatty()
    settings["spark.ui.showConsoleProgress"] = str(progress_bar).lower()

    used = _formats(env, table_formats)
    format_settings = formats.session_settings(env, used)  # first: a conflict of formats says so, before a missing jar
    # a table format's runtime only where the session uses the format (Spark 4.0 has no Iceberg here)
    classpath = [str(jar_path(name)) for name in env.spark.jars if table_format_of(name) in (None, *used)]
    if env.local_state:
        settings.update(_local_state(env))
        if LOCAL_FS_JAR.is_file():
            classpath.insert(0, str(LOCAL_FS_JAR))
            settings["spark.hadoop.fs.file.impl"] = "etl.hadoop.NioLocalFileSystem"
    if classpath:
        settings["spark.executor.extraClassPath"] = os.pathsep.join(classpath)
    if CATALOG_JAR.is_file():  # the driver alone talks to the metastore
        classpath.append(str(CATALOG_JAR))
    if classpath:
        settings["spark.driver.extraClassPath"] = os.pathsep.join(classpath)
    if env.metastore.kind == "thrift":
        settings["spark.hadoop.hive.metastore.uris"] = str(env.metastore.uris)
        settings.update(THRIFT_METASTORE_CLIENT)
    if env.s3:
        settings.update(s3_settings(env.s3))

    settings.update(format_settings)
    java_options = {key: " ".join(filter(None, [*JVM_OPTIONS, settings.get(key), env.spark.conf.get(key)])) for key in _JAVA_OPTIONS}
    settings.update(env.spark.conf)
    settings.update(java_options)  # the env's own JVM options are added to ours, not put in their place
    return settings


def _formats(env: EnvConfig, table_formats: set[TableFormat] | None) -> set[TableFormat]:
    return (table_formats or set()) | {env.tables.default_format}


def _local_state(env: EnvConfig) -> dict[str, str]:
    """Metastore, warehouse dir and logs in one local folder, so two checkouts never share state."""
    root = Path(str(env.local_state)).expanduser().resolve()
    java_options = [
        f"-Dderby.system.home={root / 'logs'}",
        f"-Detl.log.dir={root / 'logs'}",
        f"-Detl.console.level={env.spark.log_level.lower()}",
        # what etl/log4j2.properties keeps in the file only comes to the console too once it shows INFO (-v)
        f"-Detl.console.routed={env.spark.log_level.lower() if env.spark.log_level in ('INFO', 'DEBUG') else 'off'}",
    ]
    if _LOG4J2.is_file():
        java_options.append(f"-Dlog4j2.configurationFile={_LOG4J2.as_uri()}")
    settings = {
        "spark.sql.warehouse.dir": join(root.as_uri(), "spark-warehouse"),
        "spark.driver.extraJavaOptions": " ".join(java_options),
    }
    if env.metastore.kind == "derby":
        settings["spark.hadoop.javax.jdo.option.ConnectionURL"] = f"jdbc:derby:;databaseName={root / 'metastore_db'};create=true"
    return settings


def s3_settings(s3: S3Settings) -> dict[str, str]:
    """s3:// (as on EMR) and s3a:// through S3A. No keys here: S3A reads them from the environment
    or the instance profile, so they never enter Spark's configuration, UI or logs."""
    settings = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.path.style.access": str(s3.path_style_access).lower(),
        "spark.hadoop.fs.s3a.aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider,"
        "org.apache.hadoop.fs.s3a.auth.IAMInstanceCredentialsProvider",
    }
    if s3.endpoint:
        settings["spark.hadoop.fs.s3a.endpoint"] = s3.endpoint
        settings["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(s3.endpoint.startswith("https://")).lower()
    if s3.region:
        settings["spark.hadoop.fs.s3a.endpoint.region"] = s3.region
    return settings


def build_session(env: EnvConfig, app_name: str, table_formats: set[TableFormat] | None = None) -> SparkSession:
    """Start (or join) the SparkSession for an env; fails fast when a table format's jars are missing."""
    if env.local_state:
        (Path(env.local_state).expanduser() / "logs").mkdir(parents=True, exist_ok=True)
        # The JVM reads this before any setting: bind to loopback without a warning about the hostname.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers of a local session run this interpreter, not the PATH's python3 (PySpark refuses
        # workers of another minor version: the Spark 4.0 lane's venv is Python 3.12).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    settings = session_settings(env, app_name, table_formats)
    start_jvm(settings)
    builder = SparkSession.builder
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.enableHiveSupport().getOrCreate()
    if not env.local_state:  # locally, etl/log4j2.properties filters the console and keeps the full log
        spark.sparkContext.setLogLevel(env.spark.log_level)
    formats.require_runtime(spark, _formats(env, table_formats))
    return spark


def stop_session(spark: SparkSession) -> None:
    """Stop Spark and wait for its JVM to exit, so that nothing outlives the command."""
    spark.stop()
    stop_jvm()
