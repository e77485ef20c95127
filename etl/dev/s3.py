"""A local S3 API server (moto in server mode) standing in for Amazon S3.

It runs as a separate process, not moto's in-process mock, because the clients that matter here are
JVMs (Spark's S3A connector, the Hive metastore) and child processes, which only a real HTTP
endpoint can serve. It binds to 127.0.0.1 only and keeps its objects in memory, so every start is
an empty S3.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import boto3

from etl.dev import daemon
from etl.dev.ports import HOST, free_port, wait_until_listening

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# Dummy values: moto accepts any keys; real ones must never reach a test server.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def _server_command() -> list[str]:
    """The venv's `moto_server` script, or the module when the script was not installed beside this Python."""
    script = Path(sys.executable).parent / "moto_server"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "moto.server"]


class S3Server:
    """`with S3Server(log_dir) as s3:` runs the server for the block; start()/stop() do the same by hand."""

    def __init__(self, log_dir: Path, start_timeout: float = 30) -> None:
        self.log_file = Path(log_dir) / "s3-server.log"
        self.start_timeout = start_timeout
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        if self._process is None:
            raise RuntimeError("S3 server is not running")
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> S3Server:
        if self._process is not None:
            raise RuntimeError(f"S3 server already running at {self.endpoint}")
        self.port = free_port()
        self._process = daemon.spawn([*_server_command(), "-H", HOST, "-p", str(self.port)], self.log_file, detach=False)
        try:
            wait_until_listening(self.port, self.start_timeout, "S3 server (moto_server)", alive=self._process)
        except (RuntimeError, TimeoutError) as error:
            self.stop()
            raise RuntimeError(f"{error}; see {self.log_file}") from None
        return self

    def stop(self) -> None:
        """Terminate the server and wait for it; kill it if it does not exit in time. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None:
            daemon.stop(process, timeout=10)

    def client(self) -> S3Client:
        """A boto3 S3 client for this server, with the dummy credentials (never the caller's own)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=CREDENTIALS["AWS_DEFAULT_REGION"],
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def credentials_env(self) -> dict[str, str]:
        """Environment for child processes (drivers, executors, the metastore) that talk to this server."""
        return dict(CREDENTIALS)

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
