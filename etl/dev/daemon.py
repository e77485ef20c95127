"""Start a local service as a child process, and stop it again: from its Popen in the process that
started it, or from its pid file in a later one (the make targets start services that outlive the command)."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Looked up here, not in the forked child: loading a library there can deadlock on a lock another thread held at fork.
_prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)  # Linux only


def spawn(
    command: Sequence[str],
    log: Path,
    *,
    detach: bool,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    own_group: bool = False,
) -> subprocess.Popen[bytes]:
    """Run `command` with its output appended to `log`. Detached, it gets a session of its own, so
    neither the end of the starting command nor a Ctrl-C in its terminal stops it; otherwise it gets
    SIGTERM when this process dies, even by SIGKILL, so a killed test run leaves no server behind.
    `own_group`: a session of its own all the same, so that os.killpg reaches what it forks."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            list(command),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            cwd=cwd,
            start_new_session=detach or own_group,
            preexec_fn=None if detach else _terminate_with_parent,
        )


def running_pid(pid_file: Path, marker: str) -> int | None:
    """The pid in `pid_file` if that process is alive and its command line contains `marker`
    (a path of this service's state), so a stale file whose pid was reused names no process."""
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    return pid if marker in cmdline and _alive(pid) else None


def stop(process: subprocess.Popen[bytes] | int, timeout: float) -> None:
    """SIGTERM (the services shut down cleanly on it), then SIGKILL if it is still there after `timeout` s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if isinstance(process, subprocess.Popen):
            if process.poll() is not None:
                return
            process.send_signal(sig)
            try:
                process.wait(timeout)
                return
            except subprocess.TimeoutExpired:
                continue
        try:
            os.kill(process, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while _alive(process) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not _alive(process):
            return
    raise RuntimeError(f"process {process if isinstance(process, int) else process.pid} survived SIGKILL")


def _terminate_with_parent() -> None:
    # Runs in the child between fork and exec.
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (one that is not our child is reaped by init, in time)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
