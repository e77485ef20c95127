"""A Spark standalone cluster (one master, one worker) from the pyspark package, standing in for EMR's YARN.

Local mode runs everything in one JVM and one Python, so it cannot show what only a cluster shows:
code that executors must import from `--py-files`, settings that must reach the executors, and
credentials that executors get from their host (on EMR, the instance profile; here, `extra_env`
given to the worker, which its executors inherit). The pip package has no start-master.sh, so the
daemons run in the foreground through `bin/spark-class`, each in its own session, so that stop()
can end them together with the executor JVMs and Python workers they fork.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path
from types import TracebackType

import pyspark

from etl.dev import daemon
from etl.dev.ports import HOST, free_port, wait_until_listening

SPARK_HOME = Path(pyspark.__file__).resolve().parent


def spark_env() -> dict[str, str]:
    """What bin/spark-class and bin/spark-submit need from a pip install: without SPARK_HOME they look for Spark
    with the system Python and fail; SPARK_LOCAL_IP keeps every daemon, driver and UI on loopback."""
    return {"SPARK_HOME": str(SPARK_HOME), "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": HOST}


def _stop_group(process: subprocess.Popen[bytes] | subprocess.Popen[str], grace: float = 15) -> None:
    """SIGTERM the process group led by `process` (so a JVM's forked children go too), SIGKILL it after `grace` s.

    The group gets SIGKILL even when the leader exited in time: a worker that dies first leaves its
    executors in the group, orphaned but still running. So do the processes of the leader's session that
    left the group: PySpark's worker daemon makes a group of its own."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    for pid in session_members(process.pid):
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    process.wait()


def session_members(session: int) -> list[int]:
    """The processes of a session, from /proc (Linux; elsewhere none)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        with suppress(OSError, ValueError, IndexError):
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3]) == session:
                members.append(int(entry.name))
    return members


class StandaloneCluster:
    """`with StandaloneCluster(work_dir) as cluster:` runs a master and one worker on 127.0.0.1 for the block.

    Logs go to `work_dir`/master.log and worker.log; executors' stdout/stderr under `work_dir`/worker/<app>/<id>/.
    """

    def __init__(
        self,
        work_dir: Path,
        cores: int = 1,
        memory: str = "2g",
        extra_env: dict[str, str] | None = None,
        start_timeout: float = 90,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.cores = cores
        self.memory = memory
        self.extra_env = dict(extra_env or {})
        self.start_timeout = start_timeout
        self.master_port = 0
        self.webui_port = 0
        self._master: subprocess.Popen[bytes] | None = None
        self._worker: subprocess.Popen[bytes] | None = None

    @property
    def master_url(self) -> str:
        if self._master is None:
            raise RuntimeError("Spark standalone cluster is not running")
        return f"spark://{HOST}:{self.master_port}"

    @property
    def webui_url(self) -> str:
        return f"http://{HOST}:{self.webui_port}"

    @property
    def pids(self) -> dict[str, int]:
        """Process ids (also process group ids) of the running daemons: {"master": ..., "worker": ...}."""
        return {name: p.pid for name, p in (("master", self._master), ("worker", self._worker)) if p is not None}

    def start(self) -> StandaloneCluster:
        if self._master is not None:
            raise RuntimeError(f"Spark standalone cluster already running at {self.master_url}")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.start_timeout
        self.master_port, self.webui_port = free_port(), free_port()
        try:
            master_args = ["--host", HOST, "--port", str(self.master_port), "--webui-port", str(self.webui_port)]
            self._master = self._daemon("master", "org.apache.spark.deploy.master.Master", master_args)
            wait_until_listening(self.master_port, deadline - time.monotonic(), "Spark master", alive=self._master)
            worker_args = [self.master_url, "--host", HOST, "--cores", str(self.cores), "--memory", self.memory]
            worker_args += ["--work-dir", str(self.work_dir / "worker"), "--webui-port", str(free_port())]
            self._worker = self._daemon("worker", "org.apache.spark.deploy.worker.Worker", worker_args, env=self.extra_env)
            self._wait_for_worker(deadline)
        except (RuntimeError, TimeoutError) as error:
            self.stop()
            raise RuntimeError(f"{error}; see {self.work_dir / 'master.log'} and {self.work_dir / 'worker.log'}") from None
        return self

    def stop(self) -> None:
        """End the worker (with its executors) and then the master, and wait for them. Safe to call twice."""
        for name in ("_worker", "_master"):
            process = getattr(self, name)
            setattr(self, name, None)
            if process is not None:
                _stop_group(process)

    def spark_submit(
        self, args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run `spark-submit --master <this cluster> *args` in client mode and return its exit code and output.

        `env` is merged over this process's environment, so pass what only the driver should get.
        On timeout the driver and its Python are killed and subprocess.TimeoutExpired is raised."""
        command = [str(SPARK_HOME / "bin" / "spark-submit"), "--master", self.master_url, *args]
        environment = {**os.environ, **spark_env(), **(env or {})}
        with subprocess.Popen(
            command,
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                _stop_group(process, grace=5)
                raise
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def _daemon(self, name: str, main_class: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        return daemon.spawn(
            [str(SPARK_HOME / "bin" / "spark-class"), main_class, *args],
            self.work_dir / f"{name}.log",
            detach=False,
            env={**os.environ, **spark_env(), **(env or {})},
            own_group=True,
        )

    def _wait_for_worker(self, deadline: float) -> None:
        """Poll the master's JSON status until a worker is ALIVE: listening is not enough to accept applications."""
        while time.monotonic() < deadline:
            for name, process in (("master", self._master), ("worker", self._worker)):
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"Spark {name} exited with code {process.returncode} during start-up")
            try:
                with urllib.request.urlopen(f"{self.webui_url}/json", timeout=2) as response:
                    if json.load(response).get("aliveworkers", 0) >= 1:
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"no Spark worker registered with the master at {self.master_url} within {self.start_timeout:.0f} s")

    def __enter__(self) -> StandaloneCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
