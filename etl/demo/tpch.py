"""Demo raw landing data: TPC-H from tpchgen-cli, landed as the OLTP system's daily extracts.

Layout (a contract other tools read), under <raw>/tpch/:
  orders/dt=YYYY-MM-DD/*.csv     the orders whose o_orderdate is that day
  lineitem/dt=YYYY-MM-DD/*.csv   the lines of those orders
  customer/dt=YYYY-MM-DD/*.csv   the first day: every customer; later days: the customers changed that day
  nation/, region/, part/, supplier/   static reference extracts
CSV with a header row and tpchgen-cli's column names and values. Every day of the range has a folder;
a day without rows holds a header-only file, as an extract tool writes it.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl.context import DateWindow
from etl.errors import EtlError
from etl.spark_internals import fs
from etl.zones import Zones

FIRST_DAY = date(1992, 1, 1)
LAST_DAY = date(1998, 12, 31)
SEGMENTS = ["AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD", "MACHINERY"]
STATIC_TABLES = ["nation", "region", "part", "supplier"]

# Written as read: no trimming, quotes only where needed, RFC 4180 escaping.
CSV_WRITE = {"header": "true", "quote": '"', "escape": '"', "ignoreLeadingWhiteSpace": "false", "ignoreTrailingWhiteSpace": "false"}


@dataclass(frozen=True)
class DemoSummary:
    days: int
    orders: int
    lineitems: int
    customer_changes: int

    def __str__(self) -> str:
        return f"{self.orders} orders, {self.lineitems} lineitems and {self.customer_changes} customer changes over {self.days} days"


def tpchgen(scale: float, out: Path) -> None:
    binary = shutil.which("tpchgen-cli", path=str(Path(sys.executable).parent)) or shutil.which("tpchgen-cli")
    if binary is None:
        raise EtlError("tpchgen-cli not found: install it with `pip install tpchgen-cli` (make setup does)")
    tables = "orders,lineitem,customer," + ",".join(STATIC_TABLES)
    subprocess.run([binary, "csv", "-s", str(scale), "-o", str(out), "--tables", tables, "--no-progress", "-q"], check=True)


def generate(
    spark: SparkSession, zones: Zones, scale: float, window: DateWindow, seed: int = 7, say: Callable[[str], None] = print
) -> DemoSummary:
    root = zones.uri("raw", "tpch")
    with tempfile.TemporaryDirectory(prefix="etl-demo-") as scratch:
        work = Path(scratch)
        say(f"[1/4] generating TPC-H at scale factor {scale} with tpchgen-cli")
        tpchgen(scale, work / "tpch")
        say(f"[2/4] replacing {root}")
        fs.delete(spark, root)

        say(f"[3/4] landing orders and lineitem for {window} as daily extracts (Spark)")
        orders, lineitems = _land_orders_and_lines(spark, work / "tpch", root, window)

        say("[4/4] landing daily customer changes and the reference tables")
        landing = work / "landing"
        changes = _write_customer_extracts(work / "tpch" / "customer.csv", landing / "customer", window, seed)
        for table in ("orders", "lineitem"):
            _write_header_only_days(work / "tpch" / f"{table}.csv", landing / table, fs.list_folders(spark, f"{root}/{table}"), window)
        for table in STATIC_TABLES:
            (landing / table).mkdir(parents=True)
            shutil.copy(work / "tpch" / f"{table}.csv", landing / table / f"{table}.csv")
        fs.copy_from_local(spark, landing, root)
    return DemoSummary(days=sum(1 for _ in window.days()), orders=orders, lineitems=lineitems, customer_changes=changes)


def _all_strings(path: Path) -> T.StructType:
    """Every column as a string, so that values land exactly as tpchgen-cli wrote them."""
    with path.open() as header:
        return T.StructType([T.StructField(name, T.StringType()) for name in next(csv.reader(header))])


def _land_orders_and_lines(spark: SparkSession, tpch: Path, root: str, window: DateWindow) -> tuple[int, int]:
    def read(table: str):  # type: ignore[no-untyped-def]
        path = tpch / f"{table}.csv"
        return spark.read.options(header="true", escape='"').schema(_all_strings(path)).csv(path.as_uri())

    orders = read("orders").where(F.col("o_orderdate").between(str(window.first), str(window.last)))
    orders = orders.withColumn("dt", F.col("o_orderdate")).cache()
    order_days = orders.select(F.col("o_orderkey").alias("l_orderkey"), "dt")
    lines = read("lineitem").join(order_days, "l_orderkey").select(*_all_strings(tpch / "lineitem.csv").names, "dt")
    for table, frame in (("orders", orders), ("lineitem", lines)):
        frame.repartition("dt").write.options(**CSV_WRITE).partitionBy("dt").mode("overwrite").csv(f"{root}/{table}")
    counts = (orders.count(), lines.count())
    orders.unpersist()
    return counts


def _write_header_only_days(source: Path, folder: Path, landed: list[str], window: DateWindow) -> None:
    with source.open() as handle:
        header = handle.readline()
    for day in window.days():
        if f"dt={day}" not in landed:
            (folder / f"dt={day}").mkdir(parents=True)
            (folder / f"dt={day}" / "part-00000-empty.csv").write_text(header)


def _write_customer_extracts(source: Path, folder: Path, window: DateWindow, seed: int) -> int:
    """Simulate customer changes day by day from the start of TPC-H time, seeded per day, so that a
    day's changes do not depend on the range asked for; land the state on the first day and the
    changed rows on each later day."""
    with source.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        state = {row[0]: row for row in reader}
    keys = sorted(state, key=int)
    changes = 0
    day = min(FIRST_DAY, window.first)
    while day <= window.last:
        changed = _change_customers(state, keys, random.Random(f"{seed}:{day}"))
        if day >= window.first:
            rows = [state[key] for key in keys] if day == window.first else [state[key] for key in changed]
            changes += len(rows) if day > window.first else 0
            (folder / f"dt={day}").mkdir(parents=True)
            (folder / f"dt={day}" / "customer.csv").write_text(_csv_text(header, rows))
        day += timedelta(days=1)
    return changes


def _change_customers(state: dict[str, list[str]], keys: list[str], rng: random.Random) -> list[str]:
    """On about a third of the days, a few customers change segment, balance, nation or address.
    An address change is not tracked by the dimension: it lands but makes no new version."""
    if rng.random() > 0.3:
        return []
    changed = sorted(set(rng.sample(keys, rng.randint(1, max(1, len(keys) // 500)))), key=int)
    for key in changed:
        row = list(state[key])  # c_custkey, c_name, c_address, c_nationkey, c_phone, c_acctbal, c_mktsegment, c_comment
        kind = rng.choice(["segment", "balance", "nation", "address"])
        if kind == "segment":
            row[6] = rng.choice([s for s in SEGMENTS if s != row[6]])
        elif kind == "balance":
            row[5] = f"{rng.uniform(-999.99, 9999.99):.2f}"
        elif kind == "nation":
            nation = rng.choice([n for n in range(25) if str(n) != row[3]])
            row[3] = str(nation)
            row[4] = f"{nation + 10}-{row[4].split('-', 1)[1]}"  # TPC-H phone: country code = nation + 10
        else:
            row[2] = row[2][::-1]
        state[key] = row
    return changed


def _csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
