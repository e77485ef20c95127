"""The local stand-ins for EMR's services: the S3 API server and the Spark standalone cluster.

Each service starts once for the module. The last two tests stop them and check that nothing is
left behind, so they must stay at the end of the file (pytest runs tests in file order).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import etl.dev.s3 as s3_module
from etl.dev.cluster import StandaloneCluster
from etl.dev.s3 import S3Server
from etl.jars import jar_path
from tests.lanes import needs_jars

pytestmark = pytest.mark.integration

BUCKET = "local-services"
NO_UI = ["--conf", "spark.ui.enabled=false"]

# Executors import probe_pkg inside the task, so only the executors need it: a failure without
# --py-files then proves what executors can import, not what the driver can.
PROBE_DRIVER = """\
from pyspark.sql import SparkSession


def call(x):
    import probe_pkg

    return probe_pkg.f(x)


spark = SparkSession.builder.appName("py-files-probe").getOrCreate()
print(spark.sparkContext.parallelize(range(10), 2).map(call).collect())
spark.stop()
"""

S3A_DRIVER = """\
import sys

from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("s3a-probe").getOrCreate()
rows = [(1, "a", "2024-01-01"), (2, "b", "2024-01-01"), (3, "c", "2024-01-02")]
spark.createDataFrame(rows, "id INT, name STRING, dt STRING").write.partitionBy("dt").parquet(sys.argv[1])
for row in spark.read.parquet(sys.argv[1]).orderBy("id").collect():
    print(row.id, row.name, row.dt)
spark.stop()
"""

# Keeps one task (so an executor and a Python worker) running until the file named by argv[1] appears.
SLEEPER_DRIVER = """\
import os, pathlib, sys, threading, time

from pyspark.sql import SparkSession

sc = SparkSession.builder.appName("sleeper").getOrCreate().sparkContext
threading.Thread(target=lambda: sc.parallelize([0], 1).map(lambda _: time.sleep(600)).collect(), daemon=True).start()
while not pathlib.Path(sys.argv[1]).exists():
    time.sleep(0.2)
# Its master is gone: a clean stop would wait out RPC timeouts, and without one the driver JVM stays up.
try:
    sc._jvm.java.lang.Runtime.getRuntime().halt(0)
finally:
    os._exit(0)
"""


# --- what the kernel says about processes and sockets ----------------------------------------------


def listening(pids: list[int]) -> set[tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by one of `pids`, from /proc."""
    by_inode = {}
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port = fields[1].split(":")
            if fields[3] == "0A":  # TCP_LISTEN
                # each 32-bit word is in host (little-endian) order
                raw = b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, width, 8))
                by_inode[fields[9]] = (ipaddress.ip_address(raw), int(port, 16))
    owned = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except FileNotFoundError:  # the process closed this descriptor while we listed them
                continue
            if target.startswith("socket:[") and target[8:-1] in by_inode:
                owned.add(by_inode[target[8:-1]])
    return owned


def is_loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def live_processes() -> dict[int, tuple[int, str]]:
    """pid -> (session, command line) of every process that is not a zombie. The session, not the process
    group: PySpark's worker daemon moves to a group of its own as soon as it starts."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue  # exited meanwhile
            state, _ppid, _pgrp, session = stat[stat.rindex(")") + 2 :].split()[:4]
            if state != "Z":
                found[int(entry.name)] = (int(session), cmdline)
    return found


def refuses(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


# --- the services, once per module -----------------------------------------------------------------


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3")) as server:
        server.create_bucket(BUCKET)
        yield server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[StandaloneCluster]:
    # The executors' AWS credentials come from the worker's environment, as from an instance profile on EMR.
    with StandaloneCluster(tmp_path_factory.mktemp("cluster"), extra_env=s3.credentials_env()) as running:
        yield running


@pytest.fixture(scope="module")
def nowhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty working directory for drivers: nothing of the tests' is importable from it."""
    return tmp_path_factory.mktemp("cwd")


# --- S3 --------------------------------------------------------------------------------------------


def test_s3_server_listens_on_loopback_only(s3: S3Server) -> None:
    assert s3.pid is not None
    assert listening([s3.pid]) == {(ipaddress.ip_address("127.0.0.1"), s3.port)}
    assert s3.endpoint == f"http://127.0.0.1:{s3.port}"


def test_s3_put_and_get_exact_bytes(s3: S3Server) -> None:
    body = bytes(range(256)) * 3 + "é\n".encode()
    client = s3.client()
    client.put_object(Bucket=BUCKET, Key="dir/blob.bin", Body=body)
    assert client.get_object(Bucket=BUCKET, Key="dir/blob.bin")["Body"].read() == body
    assert s3.credentials_env() == {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def test_s3_server_that_exits_early_fails_start_with_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3_module, "_server_command", lambda: ["/bin/sh", "-c", "echo 'address in use' >&2; exit 3"])
    server = S3Server(tmp_path)
    with pytest.raises(RuntimeError) as failure:
        server.start()
    assert (
        str(failure.value)
        == f"S3 server (moto_server) exited with code 3 before listening on 127.0.0.1:{server.port}; see {server.log_file}"
    )
    assert server.log_file.read_text() == "address in use\n"
    assert server.pid is None


# --- the Spark standalone cluster ------------------------------------------------------------------


def test_cluster_listens_on_loopback_only(cluster: StandaloneCluster) -> None:
    sockets = listening(list(cluster.pids.values()))
    assert cluster.master_port in {port for _, port in sockets}
    assert cluster.webui_port in {port for _, port in sockets}
    assert all(is_loopback(address) for address, _ in sockets), sockets


def test_executors_import_only_what_py_files_ships(cluster: StandaloneCluster, nowhere: Path, tmp_path: Path) -> None:
    package = tmp_path / "probe.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("probe_pkg/__init__.py", "def f(x):\n    return x * x + 1\n")
    script = tmp_path / "driver" / "probe_driver.py"
    script.parent.mkdir()
    script.write_text(PROBE_DRIVER)

    shipped = cluster.spark_submit([*NO_UI, "--py-files", str(package), str(script)], cwd=nowhere, timeout=300)
    assert shipped.returncode == 0, shipped.stderr[-3000:]
    assert shipped.stdout == "[1, 2, 5, 10, 17, 26, 37, 50, 65, 82]\n"

    missing = cluster.spark_submit([*NO_UI, str(script)], cwd=nowhere, timeout=300)
    assert missing.returncode != 0
    assert "ModuleNotFoundError: No module named 'probe_pkg'" in missing.stdout + missing.stderr


@needs_jars("hadoop-aws", "aws-java-sdk-bundle")
def test_spark_reads_and_writes_s3_through_s3a(cluster: StandaloneCluster, s3: S3Server, nowhere: Path, tmp_path: Path) -> None:
    """The wiring for s3:// URIs as on EMR: S3A jars from a shared folder, the endpoint, keys from the environment."""
    jars = ":".join(str(jar_path(name)) for name in ("hadoop-aws", "aws-java-sdk-bundle"))
    s3a = {
        "spark.executor.extraClassPath": jars,
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint": s3.endpoint,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
    }
    script = tmp_path / "s3a_driver.py"
    script.write_text(S3A_DRIVER)
    args = [*NO_UI, "--driver-class-path", jars, *(f"--conf={key}={value}" for key, value in s3a.items())]

    done = cluster.spark_submit([*args, str(script), f"s3://{BUCKET}/x"], cwd=nowhere, env=s3.credentials_env(), timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == "1 a 2024-01-01\n2 b 2024-01-01\n3 c 2024-01-02\n"
    keys = [item["Key"] for item in s3.client().list_objects_v2(Bucket=BUCKET, Prefix="x/")["Contents"]]
    assert "x/_SUCCESS" in keys
    assert {key.split("/")[1] for key in keys if key.endswith(".parquet")} == {"dt=2024-01-01", "dt=2024-01-02"}


# --- stopping: these two must stay last --------------------------------------------------------------


def test_cluster_stop_leaves_no_process_or_port(cluster: StandaloneCluster, nowhere: Path, tmp_path: Path) -> None:
    script, release = tmp_path / "sleeper.py", tmp_path / "release"
    script.write_text(SLEEPER_DRIVER)
    sessions = set(cluster.pids.values())  # the master and the worker each lead a session of their own
    ports = [cluster.master_port, cluster.webui_port, *(port for _, port in listening(list(sessions)))]

    with ThreadPoolExecutor(1) as pool:
        driver = pool.submit(cluster.spark_submit, [*NO_UI, str(script), str(release)], cwd=nowhere, timeout=180)
        try:
            deadline = time.monotonic() + 120
            while not any("pyspark.daemon" in cmd for session, cmd in live_processes().values() if session in sessions):
                assert not driver.done(), f"the driver ended before its task ran:\n{driver.result().stderr[-3000:]}"
                assert time.monotonic() < deadline, "no executor started a Python worker within 120 s"
                time.sleep(0.5)
            cluster_processes = {pid: cmd for pid, (session, cmd) in live_processes().items() if session in sessions}
            assert any("CoarseGrainedExecutorBackend" in cmd for cmd in cluster_processes.values()), "no executor running"

            cluster.stop()
        finally:
            release.touch()
        driver.result()

    assert cluster.pids == {}
    assert not set(cluster_processes) & set(live_processes()), "processes of the cluster outlived stop()"
    assert all(refuses(port) for port in ports)


def test_s3_stop_leaves_no_process_or_port(s3: S3Server) -> None:
    pid, port = s3.pid, s3.port
    s3.stop()
    assert s3.pid is None
    assert pid not in live_processes()
    assert refuses(port)
