"""Helpers for running the `etl` command end to end and for computing expected values with DuckDB,
an engine independent of the code under test, straight from the raw landing files."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
ETL = Path(sys.executable).parent / "etl"

# The raw CSVs as the TPC-H spec types them: exact decimals, never doubles.
TYPES = {
    "orders": {"o_orderkey": "BIGINT", "o_custkey": "BIGINT", "o_orderdate": "DATE", "o_totalprice": "DECIMAL(15,2)"},
    "lineitem": {
        "l_orderkey": "BIGINT",
        "l_partkey": "BIGINT",
        "l_suppkey": "BIGINT",
        "l_linenumber": "INTEGER",
        "l_quantity": "DECIMAL(15,2)",
        "l_extendedprice": "DECIMAL(15,2)",
        "l_discount": "DECIMAL(15,2)",
        "l_tax": "DECIMAL(15,2)",
        "l_shipdate": "DATE",
    },
    "customer": {"c_custkey": "BIGINT", "c_nationkey": "BIGINT", "c_acctbal": "DECIMAL(15,2)"},
}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def last_error_line(self) -> str:
        lines = [line for line in self.stderr.splitlines() if line.startswith("etl: error:")]
        return lines[-1] if lines else ""


@dataclass
class Lake:
    root: Path
    env: str = "local"  # the env `sql` queries through
    environ: dict[str, str] = field(default_factory=dict)  # extra variables for every command (endpoints, keys)

    def etl(self, *args: str) -> Result:
        env = {**os.environ, "ETL_LAKE_ROOT": str(self.root), "ETL_CONF_DIR": str(REPO / "conf"), **self.environ}
        done = subprocess.run([str(ETL), *args], capture_output=True, text=True, env=env, cwd=self.root.parent, timeout=900)
        return Result(done.returncode, done.stdout, done.stderr)

    def etl_ok(self, *args: str) -> Result:
        result = self.etl(*args)
        assert result.code == 0, f"etl {' '.join(args)} failed:\n{result.stderr[-3000:]}"
        return result

    def sql(self, query: str) -> list[dict[str, str]]:
        """Rows of `etl sql` (CSV with header) as dicts of strings, exactly as printed."""
        output = self.etl_ok("sql", "--env", self.env, query).stdout
        return list(csv.DictReader(io.StringIO(output)))

    # --- independent reads of the raw zone and of storage, with DuckDB ---------------------------------

    def raw(self, table: str, first: str, last: str) -> str:
        """A DuckDB relation over the daily extracts of one raw table within [first, last]."""
        types = ", ".join(f"'{k}': '{v}'" for k, v in TYPES.get(table, {}).items())
        files = f"{self.root}/raw/tpch/{table}/dt=*/*.csv"
        return (
            f"(SELECT * FROM read_csv('{files}', header=true, hive_partitioning=true, types={{{types}}}, "
            f"hive_types={{'dt': 'DATE'}}) WHERE dt BETWEEN DATE '{first}' AND DATE '{last}')"
        )

    def static(self, table: str) -> str:
        return f"read_csv('{self.root}/raw/tpch/{table}/{table}.csv', header=true)"

    def storage(self, table: str) -> list[tuple]:
        """Every row in a table's storage folder, sorted (read with DuckDB, not Spark)."""
        database, name = table.split(".")
        folder = self.root / "curated" / f"{database}.db" / name
        with duckdb.connect() as con:
            relation = con.sql(f"SELECT * FROM read_parquet('{folder}/**/*.parquet', hive_partitioning=true)")
            return sorted(tuple(str(v) for v in row) for row in relation.fetchall())


def query(sql: str) -> list[tuple]:
    with duckdb.connect() as con:
        return con.sql(sql).fetchall()


def decimal(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return Lake(tmp_path_factory.mktemp("e2e") / "lake")
