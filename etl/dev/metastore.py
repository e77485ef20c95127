"""A standalone Hive metastore service on MariaDB: the local stand-in for EMR's external metastore on RDS.

Runs Hive 2.3.9's HiveMetaStore from pyspark's own jars (the client Spark 3.5 speaks to). Spark
applications reach it with spark.hadoop.hive.metastore.uris=<uris>, so several applications, in
separate processes, share databases, tables, partitions and Iceberg's table locks as on EMR.

    python -m etl.dev.metastore up --state-dir DIR [--s3-endpoint URL]   (prints the thrift URI)
    python -m etl.dev.metastore down --state-dir DIR
    python -m etl.dev.metastore status --state-dir DIR

`up` leaves both servers running after it returns; pid files and the URI are kept in DIR. With
--s3-endpoint, S3A credentials come from the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import warnings
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from xml.sax.saxutils import escape

import pyspark

from etl.dev import daemon
from etl.dev.errors import ServiceUnavailable
from etl.dev.mariadb import JDBC_JAR, MariaDB
from etl.dev.ports import HOST, free_port, wait_until_listening
from etl.errors import EtlError
from etl.jars import JARS_DIR, jar_path

SPARK_JARS = Path(pyspark.__file__).resolve().parent / "jars"
LOOPBACK_JAR = JARS_DIR / "etl-hms-loopback.jar"  # built by `make setup` from etl/jvm/hms/
TXN_SCHEMA = Path(__file__).with_name("hive_txn_schema.sql")
DATABASE = "metastore"
USER = "hive"
# What Hive 2.3.9 expects in the VERSION table (MetaStoreSchemaInfo.getHiveSchemaVersion()).
SCHEMA_VERSION = "2.3.0"


class HiveMetastore:
    """HiveMetaStore on a free port of 127.0.0.1, its configuration, log and warehouse under
    <state_dir>/hms (pid file and URI: <state_dir>/metastore.pid, metastore.uri). The database must be
    started first. start() / stop(), or use it as a context manager."""

    def __init__(
        self, state_dir: Path | str, database: MariaDB, s3_endpoint: str | None = None, aws_env: Mapping[str, str] | None = None
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.database = database
        self.s3_endpoint = s3_endpoint
        self.aws_env = dict(aws_env or {})
        self.home = self.state_dir / "hms"
        self.conf_dir = self.home / "conf"
        self.warehouse = self.home / "warehouse"
        self.log = self.home / "metastore.log"
        self.pid_file = self.state_dir / "metastore.pid"
        self.uri_file = self.state_dir / "metastore.uri"
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        java = shutil.which("java")
        if java is None:
            raise ServiceUnavailable("java not found: the local Hive metastore needs a JDK 8+ (apt-get install openjdk-17-jdk-headless)")
        self._java = java

    @property
    def uris(self) -> str:
        if self.port is None:
            raise RuntimeError("the Hive metastore is not started")
        return f"thrift://{HOST}:{self.port}"

    def start(self, timeout: float = 180, *, detach: bool = False, port: int | None = None) -> HiveMetastore:
        """Write the configuration, create the schema the first time, start the service and wait until
        it listens. `detach`: it outlives this Python process (stop it with a later stop()). `port`:
        that one rather than a free one (a restart after stop(): the clients keep their URI)."""
        if self.running_pid() is not None:
            raise RuntimeError(f"a Hive metastore already runs for {self.state_dir} (pid file {self.pid_file})")
        for folder in (self.home, self.conf_dir, self.warehouse):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        password = self._password()
        self._ensure_schema(password)
        self.port = port or free_port()
        self._write_config(password)
        command = [self._java, "-Xmx1g", "-cp", self._classpath(), "org.apache.hadoop.hive.metastore.HiveMetaStore", "-p", str(self.port)]
        self._process = daemon.spawn(command, self.log, detach=detach, env={**os.environ, **self.aws_env}, cwd=self.home)
        self.pid_file.write_text(f"{self._process.pid}\n")
        try:
            wait_until_listening(self.port, timeout, "the Hive metastore", alive=self._process)
        except (RuntimeError, TimeoutError) as error:
            self.stop()
            raise RuntimeError(f"{error}; see {self.log}") from None
        self.uri_file.write_text(self.uris + "\n")
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stop the service and wait until it is gone; also one a detached start() left running.
        No error when nothing runs."""
        target = self._process or self.running_pid()
        if target is not None:
            daemon.stop(target, timeout)
        self._process = None
        self.pid_file.unlink(missing_ok=True)
        self.uri_file.unlink(missing_ok=True)

    def running_pid(self) -> int | None:
        return daemon.running_pid(self.pid_file, str(self.conf_dir))

    def _password(self) -> str:
        """The database password of this state folder: made once, kept in a file only its owner reads."""
        path = self.home / "db-password"
        if not path.exists():
            _write_private(path, secrets.token_urlsafe(24))
        return path.read_text().strip()

    def _ensure_schema(self, password: str) -> None:
        """All or nothing: the VERSION row is written last, so a folder without it (an interrupted first
        start) gets a fresh database. DataNucleus's SchemaTool makes the JDO tables up front, since its
        lazy creation on first use deadlocks on MariaDB; Hive's lock and transaction tables come from SQL."""
        if self._schema_version() == SCHEMA_VERSION:
            self.database.create_database(DATABASE, USER, password)
            return
        self.database.execute(f"DROP DATABASE IF EXISTS `{DATABASE}`")
        self.database.create_database(DATABASE, USER, password)
        self._schema_tool(password)
        self.database.execute(TXN_SCHEMA.read_text(), DATABASE)
        self.database.execute(
            f"INSERT INTO VERSION (VER_ID, SCHEMA_VERSION, VERSION_COMMENT) VALUES (1, '{SCHEMA_VERSION}', 'etl.dev.metastore')", DATABASE
        )

    def _schema_version(self) -> str:
        found = self.database.execute(
            f"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{DATABASE}' AND TABLE_NAME = 'VERSION'"
        )
        if found.strip() != "1":
            return ""
        return self.database.execute("SELECT SCHEMA_VERSION FROM VERSION", DATABASE).strip()

    def _schema_tool(self, password: str) -> None:
        work = self.home / "schema"
        work.mkdir(exist_ok=True)
        with zipfile.ZipFile(next(SPARK_JARS.glob("hive-metastore-2.3.*.jar"))) as jar:  # 2.3.9 in Spark 3.5, 2.3.10 in 4.0
            (work / "package.jdo").write_bytes(jar.read("package.jdo"))
        props = work / "datanucleus.properties"
        settings = {
            "datanucleus.ConnectionDriverName": "org.mariadb.jdbc.Driver",
            "datanucleus.ConnectionURL": self.database.jdbc_url(DATABASE),
            "datanucleus.ConnectionUserName": USER,
            "datanucleus.ConnectionPassword": password,
            # Hive's own defaults for these, so the tables are named and keyed as the metastore expects.
            "datanucleus.identifierFactory": "datanucleus1",
            "datanucleus.rdbms.useLegacyNativeValueStrategy": "true",
            "datanucleus.storeManagerType": "rdbms",
        }
        _write_private(props, "".join(f"{key}={value}\n" for key, value in settings.items()))
        command = [
            self._java,
            "-cp",
            f"{SPARK_JARS}/*:{JDBC_JAR}",
            "org.datanucleus.store.schema.SchemaTool",
            "-create",
            "-api",
            "JDO",
            "-props",
            str(props),
            "package.jdo",
        ]
        try:
            done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=300)
        finally:
            props.unlink()
        if done.returncode != 0 or "completed successfully" not in done.stdout:
            output = (done.stdout + done.stderr).replace(password, "***")
            raise RuntimeError(f"DataNucleus SchemaTool failed (code {done.returncode}):\n{output[-3000:]}")

    def _classpath(self) -> str:
        entries = [str(self.conf_dir)]
        if LOOPBACK_JAR.is_file():
            entries.append(str(LOOPBACK_JAR))  # ahead of pyspark's jars, so its HiveAuthUtils wins
        else:
            warnings.warn(
                f"{LOOPBACK_JAR} is missing (`make setup` builds it with javac): the Hive metastore listens on all interfaces",
                RuntimeWarning,
                stacklevel=3,
            )
        entries += [f"{SPARK_JARS}/*", str(JDBC_JAR)]
        if self.s3_endpoint:
            # The metastore itself checks and creates database and table folders, so S3 locations need S3A here too.
            entries += [str(jar_path("hadoop-aws")), str(jar_path("aws-java-sdk-bundle"))]
        return ":".join(entries)

    def _write_config(self, password: str) -> None:
        settings = {
            "javax.jdo.option.ConnectionURL": self.database.jdbc_url(DATABASE),
            "javax.jdo.option.ConnectionDriverName": "org.mariadb.jdbc.Driver",
            "javax.jdo.option.ConnectionUserName": USER,
            "javax.jdo.option.ConnectionPassword": password,
            "datanucleus.schema.autoCreateAll": "false",
            "hive.metastore.schema.verification": "true",
            "hive.metastore.warehouse.dir": self.warehouse.as_uri(),
            # Hive's asynchronous logging needs the LMAX disruptor, which pyspark does not ship.
            "hive.async.log.enabled": "false",
            # The metastore's connection pools (DataNucleus's, and the transaction handler's that DROP DATABASE
            # and Iceberg's locks use): Hive 2.3 defaults to BoneCP, which Spark 4.0 no longer ships; both
            # Sparks ship HikariCP.
            "datanucleus.connectionPoolingType": "HikariCP",
        }
        if self.s3_endpoint:
            settings |= {
                "fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
                "fs.s3a.endpoint": self.s3_endpoint,
                "fs.s3a.path.style.access": "true",
                "fs.s3a.connection.ssl.enabled": str(self.s3_endpoint.startswith("https:")).lower(),
            }
        properties = "".join(f"  <property><name>{escape(k)}</name><value>{escape(v)}</value></property>\n" for k, v in settings.items())
        _write_private(self.conf_dir / "hive-site.xml", f'<?xml version="1.0"?>\n<configuration>\n{properties}</configuration>\n')
        (self.conf_dir / "hive-log4j2.properties").write_text(
            "# Warnings and errors to stderr, which etl.dev.metastore sends to hms/metastore.log.\n"
            "status = error\n"
            "appender.console.type = Console\n"
            "appender.console.name = console\n"
            "appender.console.target = SYSTEM_ERR\n"
            "appender.console.layout.type = PatternLayout\n"
            "appender.console.layout.pattern = %d{ISO8601} %-5p [%t] %c: %m%n\n"
            "rootLogger.level = warn\n"
            "rootLogger.appenderRef.console.ref = console\n"
        )

    def __enter__(self) -> HiveMetastore:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from its creation on (it holds the database password)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


@contextmanager
def metastore_service(
    state_dir: Path | str, s3_endpoint: str | None = None, aws_env: Mapping[str, str] | None = None
) -> Iterator[HiveMetastore]:
    """MariaDB and the Hive metastore on it, both stopped on exit."""
    with MariaDB(state_dir) as database, HiveMetastore(state_dir, database, s3_endpoint, aws_env) as metastore:
        yield metastore


def up(state_dir: Path, s3_endpoint: str | None) -> str:
    """Start both, detached; when both already run, only report the URI."""
    database = MariaDB(state_dir)
    metastore = HiveMetastore(state_dir, database, s3_endpoint)
    if database.running_pid() and metastore.running_pid() and metastore.uri_file.is_file():
        return metastore.uri_file.read_text().strip()
    down(state_dir)  # whatever half is left of an earlier run
    database.start(detach=True)
    try:
        metastore.start(detach=True)
    except BaseException:
        database.stop()
        raise
    return metastore.uris


def down(state_dir: Path) -> None:
    database = MariaDB(state_dir)
    HiveMetastore(state_dir, database).stop()
    database.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m etl.dev.metastore", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument("--state-dir", type=Path, required=True, help="where the database, configuration, logs and pid files live")
    parser.add_argument("--s3-endpoint", help="S3 API endpoint for s3:// and s3a:// locations, e.g. http://127.0.0.1:9000")
    args = parser.parse_args(argv)
    try:
        if args.action == "up":
            print(up(args.state_dir, args.s3_endpoint))
        elif args.action == "down":
            down(args.state_dir)
        else:
            database = MariaDB(args.state_dir)
            metastore = HiveMetastore(args.state_dir, database)
            database_pid, metastore_pid = database.running_pid(), metastore.running_pid()
            print(f"mariadbd: {f'running, pid {database_pid}' if database_pid else 'not running'}")
            uri = metastore.uri_file.read_text().strip() if metastore.uri_file.is_file() else "not listening yet"
            print(f"metastore: {f'running, pid {metastore_pid}, {uri}' if metastore_pid else 'not running'}")
            return 0 if database_pid and metastore_pid else 1
    except (ServiceUnavailable, EtlError, RuntimeError, TimeoutError) as error:
        print(f"etl.dev.metastore: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
