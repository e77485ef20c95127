"""One run of a job at a time: a lock in the metastore, next to the audit log.

The lock is a partition of etl_audit.job_locks (job=<job>) whose location names the run holding it:
<table>/job=<job>/lock-<run_id>_pid<pid>_<host>. Adding a partition that exists fails in the metastore
itself (a unique key in its database; Glue's CreatePartition alike), so of two runs started at once
exactly one gets the lock; the other fails before it reads anything and says who holds the lock.

A run releases its lock when it ends, failed or not. A run killed outright (SIGKILL, a lost node) cannot:
its lock is taken over when it was held on this host by a process that no longer exists; otherwise
`etl unlock JOB` removes it, once you know that run is dead.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import types as T

from etl import catalog
from etl.errors import JobLocked
from etl.spark_internals import fs
from etl.zones import Zones, join

log = logging.getLogger(__name__)

LOCK_TABLE = "etl_audit.job_locks"
COMMENTS = catalog.Comments(
    "Job locks: one partition per running job, whose location names the run holding it (lock-<run_id>_pid<pid>_<host>); no rows.",
    {"held": "Unused: the table holds no rows, its partitions are the locks.", "job": "The job whose lock the partition is (partition)."},
)
_HOLDER = re.compile(r"^lock-(?P<run_id>[^_]+)_pid(?P<pid>\d+)_(?P<host>.+)$")


@dataclass(frozen=True)
class Holder:
    run_id: str
    pid: int
    host: str

    @property
    def folder(self) -> str:
        return f"lock-{self.run_id}_pid{self.pid}_{self.host}"

    @classmethod
    def of(cls, location: str) -> Holder | None:
        found = _HOLDER.match(location.rstrip("/").rsplit("/", 1)[-1])
        return cls(found["run_id"], int(found["pid"]), found["host"]) if found else None

    def is_dead_here(self) -> bool:
        """Held on this host by a process that is gone (a killed run)."""
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except PermissionError:  # it exists, as another user's
            pass
        return False


def acquire(spark: SparkSession, zones: Zones, job: str, run_id: str) -> Holder | None:
    """Take the job's lock for run_id, or raise JobLocked naming the run that holds it; returns the dead
    run whose lock it took over, if any (what that run left behind is for the caller to sweep)."""
    ensure_table(spark, zones)
    mine = Holder(run_id, os.getpid(), socket.gethostname())
    dead = None
    for _ in range(2):  # a second try after removing a dead run's lock
        # Looked for first: the add is what takes the lock atomically, but a metastore logs each add of a
        # partition that exists as an error (with the whole partition), on the console of a local run.
        holder = holder_of(spark, job)
        if holder is None:
            try:
                catalog.add_partitions(spark, LOCK_TABLE, ["job"], {(job,): join(_table_location(zones), f"job={job}", mine.folder)})
                return dead
            except Exception:
                holder = holder_of(spark, job)  # another run took it in between
                if holder is None:
                    raise  # not a lock someone holds: the metastore failed
        if holder.run_id == run_id:  # ours: an add went through, its answer was lost and its retry found it
            return dead
        if not holder.is_dead_here():
            raise JobLocked(
                f"{job} is already running: run {holder.run_id} (pid {holder.pid} on {holder.host}) holds its lock; "
                f"if that run is dead, remove the lock with `etl unlock {job}`"
            )
        log.warning("%s: taking over the lock of run %s, whose process %d is gone", job, holder.run_id, holder.pid)
        release(spark, job, holder.run_id)
        dead = holder
    raise JobLocked(f"{job}: could not take its lock")


def release(spark: SparkSession, job: str, run_id: str | None = None) -> bool:
    """Remove the job's lock (only if run_id holds it, when given); True when there was one to remove."""
    location = _location(spark, job)
    holder = Holder.of(location) if location else None
    if location is None or holder is None or (run_id is not None and holder.run_id != run_id):
        return False
    catalog.drop_partitions(spark, LOCK_TABLE, ["job"], [(job,)])
    fs.delete(spark, location)  # the table is external: its partition's (empty) folder stays otherwise
    return True


def holder_of(spark: SparkSession, job: str) -> Holder | None:
    location = _location(spark, job)
    return Holder.of(location) if location else None


def _location(spark: SparkSession, job: str) -> str | None:
    if not catalog.table_exists(spark, LOCK_TABLE):
        return None
    return catalog.partitions(spark, LOCK_TABLE).locations.get((job,))


def ensure_table(spark: SparkSession, zones: Zones) -> None:
    """The lock table holds no data: its partitions are the locks."""
    if catalog.table_exists(spark, LOCK_TABLE):
        return
    catalog.ensure_database(spark, zones, LOCK_TABLE.split(".")[0])
    schema = T.StructType([T.StructField("held", T.BooleanType()), T.StructField("job", T.StringType())])
    try:
        catalog.create_table(spark, LOCK_TABLE, schema, ["job"], "parquet", _table_location(zones), COMMENTS)
    except Exception:
        if not catalog.table_exists(spark, LOCK_TABLE):  # another run creating it at the same moment is fine
            raise


def _table_location(zones: Zones) -> str:
    return catalog.table_location(zones, LOCK_TABLE)
