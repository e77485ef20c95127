"""A private MariaDB server under a state folder: the database behind the local Hive metastore, as
RDS MySQL is behind EMR's external metastore. Listens on 127.0.0.1 on a free port; the admin
account is the OS user's, reachable only over the server's unix socket (no password anywhere)."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path
from types import TracebackType

from etl.dev import daemon
from etl.dev.errors import ServiceUnavailable
from etl.dev.ports import HOST, free_port, wait_until_listening

JDBC_JAR = Path("/usr/share/java/mariadb-java-client.jar")
INSTALL_HINT = "apt-get install mariadb-server libmariadb-java"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, with the terminating NUL


def _program(name: str) -> str:
    # Debian puts the server in /usr/sbin, which is not on every user's PATH.
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise ServiceUnavailable(f"{name} not found: the local Hive metastore needs MariaDB ({INSTALL_HINT})")
    return found


def _sql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


class MariaDB:
    """mariadbd with its data, socket, pid file and log under <state_dir>/mariadb (the pid file is
    <state_dir>/mariadbd.pid). start() / stop(), or use it as a context manager."""

    def __init__(self, state_dir: Path | str) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.home = self.state_dir / "mariadb"
        self.datadir = self.home / "data"
        self.socket = self.home / "mariadbd.sock"
        self.tmpdir = self.home / "tmp"  # its own: temporary tables in a shared /tmp vanish under cleaners
        self.config = self.home / "my.cnf"
        self.log = self.home / "mariadbd.log"
        self.pid_file = self.state_dir / "mariadbd.pid"
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        if not JDBC_JAR.is_file():
            raise ServiceUnavailable(f"{JDBC_JAR} not found: the local Hive metastore needs MariaDB's JDBC driver ({INSTALL_HINT})")
        self._server, self._install_db, self._client = _program("mariadbd"), _program("mariadb-install-db"), _program("mariadb")
        if len(os.fsencode(self.socket)) > _SOCKET_PATH_MAX:
            raise ValueError(
                f"{self.socket}: too long for a unix socket path ({_SOCKET_PATH_MAX} bytes at most); use a shorter state folder"
            )

    def start(self, timeout: float = 60, *, detach: bool = False) -> MariaDB:
        """Initialise the data folder the first time, then start the server and wait until it accepts
        connections. `detach`: the server outlives this Python process (stop it with a later stop())."""
        if self.running_pid() is not None:
            raise RuntimeError(f"mariadbd already runs for {self.state_dir} (pid file {self.pid_file})")
        self.home.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.tmpdir.mkdir(mode=0o700, exist_ok=True)
        self.port = free_port()
        self._write_config(self.port)
        if not (self.datadir / "mysql").is_dir():
            self._install()
        self._process = daemon.spawn([self._server, f"--defaults-file={self.config}"], self.log, detach=detach)
        try:
            wait_until_listening(self.port, timeout, "mariadbd", alive=self._process)
        except (RuntimeError, TimeoutError) as error:
            self.stop()
            raise RuntimeError(f"{error}; see {self.log}") from None
        return self

    def stop(self, timeout: float = 60) -> None:
        """Clean shutdown (SIGTERM), waiting for it; SIGKILL after `timeout` s. Also stops a server a
        detached start() left running. No error when nothing runs."""
        target = self._process or self.running_pid()
        if target is not None:
            daemon.stop(target, timeout)
        self._process = None
        self.pid_file.unlink(missing_ok=True)

    def running_pid(self) -> int | None:
        return daemon.running_pid(self.pid_file, str(self.config))

    def execute(self, sql: str, database: str | None = None) -> str:
        """Run SQL as the admin over the unix socket (statements on stdin, so no secret shows in `ps`);
        returns the tab-separated rows, without a header."""
        command = [
            self._client,
            "--no-defaults",
            f"--socket={self.socket}",
            f"--user={pwd.getpwuid(os.getuid()).pw_name}",
            "--batch",
            "--skip-column-names",
        ]
        done = subprocess.run([*command, *([database] if database else [])], input=sql, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"mariadb client failed (code {done.returncode}): {done.stderr.strip()}")
        return done.stdout

    def create_database(self, name: str, user: str, password: str) -> None:
        """A database and a user with every right on it and only on it, reachable over TCP from
        127.0.0.1; the password is (re)set each time, so this is idempotent."""
        for identifier in (name, user):
            if not _NAME.match(identifier):
                raise ValueError(f"not a plain SQL identifier: {identifier!r}")
        account = f"'{user}'@'{HOST}'"
        # latin1 as Hive's MySQL scripts use: its indexed varchar(767) columns fit InnoDB's key limit only with one byte a character.
        try:
            self.execute(
                f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET latin1 COLLATE latin1_bin;\n"
                f"CREATE USER IF NOT EXISTS {account};\n"
                f"ALTER USER {account} IDENTIFIED BY {_sql_string(password)};\n"
                f"GRANT ALL PRIVILEGES ON `{name}`.* TO {account};\n"
            )
        except RuntimeError as error:  # the client quotes the failing SQL, which may hold the password
            raise RuntimeError(str(error).replace(password, "***")) from None

    def jdbc_url(self, database: str) -> str:
        if self.port is None:
            raise RuntimeError("MariaDB is not started")
        # Without useMysqlMetadata the driver reports "MariaDB", DataNucleus then picks a generic adapter and fails on its DDL.
        return f"jdbc:mariadb://{HOST}:{self.port}/{database}?useMysqlMetadata=true"

    def _write_config(self, port: int) -> None:
        lines = [
            "[mariadbd]",
            f"datadir={self.datadir}",
            f"socket={self.socket}",
            f"tmpdir={self.tmpdir}",
            f"pid-file={self.pid_file}",
            f"log-error={self.log}",
            f"port={port}",
            f"bind-address={HOST}",
            "skip-name-resolve",
            # Small: a test database on a shared machine.
            "innodb_buffer_pool_size=64M",
            "performance_schema=OFF",
        ]
        if os.geteuid() == 0:
            lines.append("user=root")  # mariadbd refuses to run as root unless told to
        self.config.write_text("\n".join(lines) + "\n")

    def _install(self) -> None:
        # Into a fresh folder only: a half-made data folder from an interrupted run is removed first.
        shutil.rmtree(self.datadir, ignore_errors=True)
        done = subprocess.run(
            [self._install_db, f"--defaults-file={self.config}", "--skip-test-db", "--auth-root-authentication-method=socket"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            shutil.rmtree(self.datadir, ignore_errors=True)
            raise RuntimeError(f"mariadb-install-db failed (code {done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")

    def __enter__(self) -> MariaDB:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()
