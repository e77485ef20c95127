"""Loopback ports for the local services: a free one to bind, and waiting until one listens."""

from __future__ import annotations

import socket
import subprocess
import time

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def wait_until_listening(
    port: int, timeout: float, what: str, alive: subprocess.Popen[bytes] | subprocess.Popen[str] | None = None
) -> None:
    """Poll until something accepts on 127.0.0.1:port; `alive` (a Popen) stops the wait if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise RuntimeError(f"{what} exited with code {alive.returncode} before listening on {HOST}:{port}")
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not listen on {HOST}:{port} within {timeout:.0f} s")
