"""One `etl` command at a time on an env's embedded (Derby) metastore: an OS lock beside the database.

Derby admits one JVM per database. Without this lock a second command on the same local state starts
Spark, prints pages of Derby's and the metastore's stack traces and fails a minute later. So before
Spark starts, a command takes an exclusive flock on <local_state>/metastore.lock and writes into it who
holds it; another command fails at once naming the holder, or, asked to, waits for it. The OS releases
a flock when its process ends, however it ends: a killed command leaves no stale lock.

Envs with a metastore service (thrift, Glue, an EMR cluster's) need none of this: etl/state/lock.py keeps two
runs of one job apart there, in the metastore itself.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from etl.config.models import EnvConfig
from etl.errors import MetastoreInUse

LOCK_FILE = "metastore.lock"


@dataclass(frozen=True)
class Holder:
    command: str
    pid: int
    since: datetime

    def describe(self) -> str:
        return f"`{self.command}` (pid {self.pid}, since {self.since.astimezone():%H:%M:%S})"


def lock_path(env: EnvConfig) -> Path | None:
    """The lock file of an env whose metastore is an embedded Derby database; None for other envs."""
    if not env.local_state or env.metastore.kind != "derby":
        return None
    return Path(str(env.local_state)).expanduser().resolve() / LOCK_FILE


class Held:
    """A lock this process holds, until release() or the process's end."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # no longer anyone's
            os.close(self._fd)  # closing the only descriptor of the file releases its flock
            self._fd = None


def take(path: Path, command: str, wait: bool = False, say: Callable[[str], None] = print) -> Held:
    """Hold the lock at `path` for `command` (one line naming this process's command); when another
    process holds it, raise MetastoreInUse naming that process, or, with wait, say so and wait."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)  # never truncated before it is held
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as busy:
            if busy.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            user = _describe(holder(path))
            if not wait:
                raise MetastoreInUse(f"the local metastore under {path.parent} is in use by {user}; wait for it, or pass --wait") from None
            say(f"the local metastore under {path.parent} is in use by {user}; waiting for it")
            fcntl.flock(fd, fcntl.LOCK_EX)
        record = {"command": " ".join(command.split()), "pid": os.getpid(), "since": datetime.now(UTC).isoformat()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return Held(fd)


def holder(path: Path) -> Holder | None:
    """Who holds the lock, as it wrote into the file; None when that cannot be read (an older file, or
    read in the instant between a holder's taking the lock and writing its name)."""
    try:
        record = json.loads(path.read_text())
        return Holder(str(record["command"]), int(record["pid"]), datetime.fromisoformat(record["since"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _describe(found: Holder | None) -> str:
    return found.describe() if found else "another process"
