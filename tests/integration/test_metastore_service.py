"""The local Hive metastore service (etl/dev/metastore.py) as EMR's external metastore is used: separate
Spark applications, in separate processes, share what one of them registered.

The suite's own SparkSession (embedded Derby) lives in this process and is left alone: every Spark
application here is a child process running APP below.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from etl.dev.errors import ServiceUnavailable
from etl.dev.metastore import HiveMetastore, metastore_service
from etl.jars import jar_path
from tests.integration.conftest import hive_table, watched
from tests.lanes import needs_jars

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]

Rows = list[list[str | None]]
App = Callable[..., list[Rows]]

# One Spark application: runs the statements of a JSON spec, writes every statement's rows (as strings) to a JSON file.
APP = """
import json, sys
from pyspark.sql import SparkSession

spec = json.loads(open(sys.argv[1]).read())
builder = SparkSession.builder.master("local[1]").appName("metastore-test")
for key, value in spec["conf"].items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
results = [[[None if v is None else str(v) for v in row] for row in spark.sql(statement).collect()] for statement in spec["sql"]]
spark.stop()
open(spec["out"], "w").write(json.dumps(results))
"""


@pytest.fixture(scope="module")
def metastore(plain_metastore: HiveMetastore) -> HiveMetastore:
    return plain_metastore


@pytest.fixture(scope="module")
def app(metastore: HiveMetastore, tmp_path_factory: pytest.TempPathFactory) -> App:
    """app(statements, **conf) runs one Spark application against the metastore; returns each statement's rows."""
    work = tmp_path_factory.mktemp("apps")
    script = work / "app.py"
    script.write_text(APP)
    runs = iter(range(1000))

    def run(statements: list[str], **conf: str) -> list[Rows]:
        number = next(runs)
        spec = work / f"app{number}.json"
        out = work / f"app{number}.out.json"
        settings = {
            "spark.hadoop.hive.metastore.uris": metastore.uris,
            "spark.sql.catalogImplementation": "hive",
            "spark.sql.warehouse.dir": str(work / "warehouse"),
            "spark.ui.enabled": "false",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.driver.host": "127.0.0.1",
            "spark.sql.shuffle.partitions": "1",
            "spark.log.level": "WARN",
            **conf,
        }
        spec.write_text(json.dumps({"conf": settings, "sql": statements, "out": str(out)}))
        env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
        done = subprocess.run([sys.executable, str(script), str(spec)], cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"Spark application failed:\n{done.stderr[-4000:]}"
        return json.loads(out.read_text())

    return run


def test_a_second_application_sees_the_tables_partitions_and_rows_of_the_first(app: App, tmp_path: Path) -> None:
    app(
        [
            f"CREATE DATABASE sales LOCATION '{tmp_path / 'sales.db'}'",
            "CREATE TABLE sales.orders (id INT, amount DECIMAL(10,2), dt STRING) USING parquet PARTITIONED BY (dt)",
            "INSERT INTO sales.orders VALUES (1, 10.50, '2024-01-01'), (2, 20.25, '2024-01-02'), (3, 30.00, '2024-01-02')",
        ]
    )
    tables, partitions, rows = app(["SHOW TABLES IN sales", "SHOW PARTITIONS sales.orders", "SELECT * FROM sales.orders ORDER BY id"])
    assert [table[:2] for table in tables] == [["sales", "orders"]]
    assert partitions == [["dt=2024-01-01"], ["dt=2024-01-02"]]
    assert rows == [["1", "10.50", "2024-01-01"], ["2", "20.25", "2024-01-02"], ["3", "30.00", "2024-01-02"]]


def test_the_metastore_listens_on_loopback_only(metastore: HiveMetastore) -> None:
    assert metastore.port is not None
    addresses = _listening_addresses(metastore.port)
    assert addresses in ({"127.0.0.1"}, {"::ffff:127.0.0.1"}), (
        f"listens on {addresses}: is .cache/jars/etl-hms-loopback.jar built (make setup)?"
    )


@needs_jars("iceberg-spark-runtime")
def test_iceberg_tables_through_the_metastore_with_locks(app: App, metastore: HiveMetastore, tmp_path: Path) -> None:
    iceberg = {
        "spark.driver.extraClassPath": str(jar_path("iceberg-spark-runtime")),
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.catalog.spark_catalog": "org.apache.iceberg.spark.SparkSessionCatalog",
        "spark.sql.catalog.spark_catalog.type": "hive",
        # Iceberg's default, spelled out: every commit takes a metastore lock (Hive's TxnHandler, on MariaDB).
        "spark.hadoop.iceberg.engine.hive.lock-enabled": "true",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
    }
    locks_before = _next_lock_id(metastore)
    app(
        [
            f"CREATE DATABASE ice LOCATION '{tmp_path / 'ice.db'}'",
            "CREATE TABLE ice.orders (id INT COMMENT 'The order.', amount DECIMAL(10,2), dt STRING COMMENT 'The day.') "
            "USING iceberg PARTITIONED BY (dt) COMMENT 'Orders.'",
            "INSERT INTO ice.orders VALUES (1, 10.00, '2024-01-01'), (2, 20.00, '2024-01-01'), (3, 30.00, '2024-01-02')",
            # the statements etl.catalog.comment_table sends a Delta or Iceberg table whose descriptions changed
            "ALTER TABLE ice.orders ALTER COLUMN amount COMMENT 'Its amount.'",
            "COMMENT ON TABLE ice.orders IS 'Orders, one row each.'",
            # dynamic: replaces the 2024-01-02 partition only
            "INSERT OVERWRITE ice.orders VALUES (4, 40.00, '2024-01-02')",
            "MERGE INTO ice.orders t USING (SELECT 1 AS id, 11.00 AS amount, '2024-01-01' AS dt UNION ALL SELECT 5, 50.00, '2024-01-03') s "
            "ON t.id = s.id WHEN MATCHED THEN UPDATE SET t.amount = s.amount WHEN NOT MATCHED THEN INSERT *",
        ],
        **iceberg,
    )
    (rows,) = app(["SELECT * FROM ice.orders ORDER BY id"], **iceberg)
    assert rows == [["1", "11.00", "2024-01-01"], ["2", "20.00", "2024-01-01"], ["4", "40.00", "2024-01-02"], ["5", "50.00", "2024-01-03"]]
    # registered in the metastore as Iceberg's Hive catalog does it
    table_type = "SELECT PARAM_VALUE FROM TABLE_PARAMS JOIN TBLS USING (TBL_ID) WHERE TBL_NAME = 'orders' AND PARAM_KEY = 'table_type'"
    assert metastore.database.execute(table_type, "metastore").split() == ["ICEBERG"]
    # Iceberg's commits copy the column docs and the table's comment into the metastore, where Glue / Athena read them
    table = hive_table(metastore, "ice.orders")
    assert [(column.name, column.comment) for column in table.sd.cols] == [
        ("id", "The order."),
        ("amount", "Its amount."),
        ("dt", "The day."),
    ]
    assert (table.partitionKeys, table.parameters["comment"]) == ([], "Orders, one row each.")
    # creating and three commits each took (and released) a lock
    assert _next_lock_id(metastore) >= locks_before + 4
    assert metastore.database.execute("SELECT COUNT(*) FROM HIVE_LOCKS", "metastore").strip() == "0"


def test_drop_database_cascade(app: App, metastore: HiveMetastore, tmp_path: Path) -> None:
    *_, databases = app(
        [
            f"CREATE DATABASE scratch LOCATION '{tmp_path / 'scratch.db'}'",
            "CREATE TABLE scratch.t (id INT, dt STRING) USING parquet PARTITIONED BY (dt)",
            "INSERT INTO scratch.t VALUES (1, 'a'), (2, 'b')",
            "DROP DATABASE scratch CASCADE",
            "SHOW DATABASES LIKE 'scratch'",
        ]
    )
    assert databases == []
    assert metastore.database.execute("SELECT COUNT(*) FROM DBS WHERE NAME = 'scratch'", "metastore").strip() == "0"


def test_stop_leaves_nothing_listening_or_running(tmp_path: Path) -> None:
    try:
        with metastore_service(tmp_path) as service:
            watched(service)
            ports = [service.port, service.database.port]
            pids = [service.running_pid(), service.database.running_pid()]
            assert all(pids)
    except ServiceUnavailable as error:
        pytest.skip(str(error))
    assert not any(_accepts(port) for port in ports if port)
    assert not any(_alive(pid) for pid in pids if pid)


def test_cli_up_leaves_the_services_running_and_down_stops_them(tmp_path: Path) -> None:
    state = tmp_path / "state"
    up = _cli("up", state)
    if up.returncode == 2 and "apt-get install" in up.stderr:
        pytest.skip(up.stderr.strip())
    assert up.returncode == 0, up.stderr
    uri = up.stdout.strip().splitlines()[-1]
    assert uri.startswith("thrift://127.0.0.1:") and (state / "metastore.uri").read_text().strip() == uri
    pids = [int((state / name).read_text()) for name in ("metastore.pid", "mariadbd.pid")]
    try:
        assert _accepts(int(uri.rsplit(":", 1)[1])), "the metastore stopped when `up` returned"
        assert _cli("status", state).returncode == 0
        assert _cli("up", state).stdout.strip() == uri  # already up: reports, starts nothing
    finally:
        down = _cli("down", state)
    assert down.returncode == 0, down.stderr
    assert not any(_alive(pid) for pid in pids)
    assert not any((state / name).exists() for name in ("metastore.pid", "mariadbd.pid", "metastore.uri"))
    assert not _accepts(int(uri.rsplit(":", 1)[1]))
    assert _cli("status", state).returncode == 1
    assert _cli("down", state).returncode == 0  # nothing running: no error


def _cli(action: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "etl.dev.metastore", action, "--state-dir", str(state)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _next_lock_id(metastore: HiveMetastore) -> int:
    return int(metastore.database.execute("SELECT NL_NEXT FROM NEXT_LOCK_ID", "metastore"))


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets in LISTEN state on `port`, from /proc/net/tcp and tcp6."""
    found = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(_address(bytes.fromhex(address), width))
    return found


def _address(raw: bytes, width: int) -> str:
    # /proc/net prints each 32-bit word of the address in host (little-endian) byte order.
    ordered = b"".join(raw[i : i + 4][::-1] for i in range(0, width, 4))
    return socket.inet_ntop(socket.AF_INET if width == 4 else socket.AF_INET6, ordered)


def _accepts(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
