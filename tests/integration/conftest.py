"""Helpers for running the `etl` command end to end and for computing expected values with DuckDB,
an engine independent of the code under test, straight from the raw landing files."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import duckdb
import pytest

from etl.dev.errors import ServiceUnavailable
from etl.dev.metastore import HiveMetastore, metastore_service
from etl.dev.s3 import S3Server
from tests.leaks import record_output, register_secret
from tests.readme import Block, Ran, run

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


# Every line a successful etl command may print on stderr: the project's own, in these shapes. Spark's
# banner, its warnings and anything else would be read by a person as a problem: they go to the log
# files under the lake (etl/log4j2.properties), or, when harmless, are fixed at their source.
EXPECTED_STDERR = [
    re.compile(r"\d\d:\d\d:\d\d (INFO|WARNING) etl(\.\w+)*: .+"),  # the command's progress and result (etl/cli.py)
    re.compile(r"\[\d/\d\] .+|(access logs|telemetry) of \d{4}-\d\d-\d\d|landed .+ under \S+"),  # etl demo-data
    re.compile(r"\S+ \(.+\): \d+ row\(s\) quarantined on \d{4}-\d\d-\d\d"),  # etl quarantine
    re.compile(r"\w+: no lock|\w+: removed the lock of run .+"),  # etl unlock
    re.compile(r"note: .+"),  # etl check-config
    re.compile(r"etl: the local metastore under .+; waiting for it"),  # --wait
    # etl deploy / emr-step / submit / cluster run: what they upload, and the states of AWS's resources
    re.compile(r"uploaded .+|s3://\S+ already holds this build: .+|(step|cluster|job run) \S+( \(.+\))?: .+|terminated cluster .+"),
]


def unexpected_lines(stderr: str) -> list[str]:
    """The lines of stderr in none of the expected shapes."""
    return [line for line in stderr.splitlines() if line.strip() and not any(shape.fullmatch(line) for shape in EXPECTED_STDERR)]


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
    fetched: dict[str, list[dict[str, str]]] = field(default_factory=dict)  # query -> rows, until the next non-sql command

    def etl(self, *args: str) -> Result:
        env = {**os.environ, "ETL_LAKE_ROOT": str(self.root), "ETL_CONF_DIR": str(REPO / "conf"), **self.environ}
        done = subprocess.run([str(ETL), *args], capture_output=True, text=True, env=env, cwd=self.root.parent, timeout=900)
        record_output(f"etl {' '.join(args)}", done.stdout + done.stderr)
        if args[:1] != ("sql",):
            self.fetched.clear()
        return Result(done.returncode, done.stdout, done.stderr)

    def etl_ok(self, *args: str) -> Result:
        """The command's result, which must be a success whose stderr holds only expected lines (no Java
        stack trace, no warning of Spark's)."""
        result = self.etl(*args)
        assert result.code == 0, f"etl {' '.join(args)} failed:\n{result.stderr[-3000:]}"
        unexpected = unexpected_lines(result.stderr)
        assert not unexpected, f"etl {' '.join(args)} printed unexpected lines on stderr:\n" + "\n".join(unexpected[:40])
        return result

    def readme(
        self,
        block: Block,
        replace: Mapping[str, str] = MappingProxyType({}),
        interrupt_when: Callable[[], bool] | None = None,
        cwd: Path | None = None,
    ) -> list[Ran]:
        """Run a README block in this lake as a reader would (tests/readme.py `run`): each command exits as
        the README says, and each successful etl command prints only expected lines on stderr. The commands
        run beside the lake unless `cwd` says where (the checkout, for make)."""
        env = {**os.environ, "ETL_LAKE_ROOT": str(self.root), "ETL_CONF_DIR": str(REPO / "conf"), **self.environ}
        done = run(block, cwd=cwd or self.root.parent, env=env, replace=replace, interrupt_when=interrupt_when)
        for ran in done:
            record_output(ran.command.text, ran.stdout + ran.stderr)
            if ran.command.argv[0] == "etl" and ran.code == 0:
                unexpected = unexpected_lines(ran.stderr)
                assert not unexpected, f"{ran.command} printed unexpected lines on stderr:\n" + "\n".join(unexpected[:40])
        self.fetched.clear()
        return done

    def sql(self, query: str) -> list[dict[str, str]]:
        """Rows of `etl sql` (CSV with header) as dicts of strings, exactly as printed; from prefetch() if it ran the query."""
        if query not in self.fetched:
            self.prefetch(query)
        return self.fetched[query]

    def prefetch(self, *queries: str) -> None:
        """Run several queries in one `etl sql` (one Spark application instead of one each)."""
        output = self.etl_ok("sql", "--env", self.env, *queries).stdout
        blocks = output.split("\n\n")
        assert len(blocks) == len(queries), output[-2000:]
        self.fetched.update({query: list(csv.DictReader(io.StringIO(block))) for query, block in zip(queries, blocks, strict=True)})

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


# --- local stand-ins for EMR's services, started once for the whole run when a test asks for them ---------

# Credentials the S3 server accepts (any); the secret is unique so that tests can grep all output for it.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "etl-test-access-key-id",
    "AWS_SECRET_ACCESS_KEY": "etl-test-secret-8f3a1c",
    "AWS_DEFAULT_REGION": "us-east-1",
}
register_secret(AWS_ENV["AWS_ACCESS_KEY_ID"])
register_secret(AWS_ENV["AWS_SECRET_ACCESS_KEY"])


def watched(service: HiveMetastore) -> HiveMetastore:
    """The service, its database password added to the secrets the run is checked for."""
    register_secret((service.home / "db-password").read_text().strip())
    return service


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3-server")) as server:
        yield server
        # the server keeps objects in memory: copied out, so that the secrets check reads them too
        copy = tmp_path_factory.mktemp("s3-objects")
        client = server.client()
        for bucket in client.list_buckets()["Buckets"]:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket["Name"]):
                for item in page.get("Contents", []):
                    target = copy / bucket["Name"] / item["Key"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    client.download_file(bucket["Name"], item["Key"], str(target))


@pytest.fixture(scope="module")
def metastore(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server) -> Iterator[HiveMetastore]:
    """A Hive metastore service on MariaDB that can reach the S3 server (table locations on s3://);
    one per test module, so that each module's warehouse database is its own."""
    try:
        with metastore_service(tmp_path_factory.mktemp("metastore"), s3_server.endpoint, AWS_ENV) as service:
            yield watched(service)
    except ServiceUnavailable as missing:
        pytest.skip(str(missing))


@pytest.fixture(scope="module")
def plain_metastore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HiveMetastore]:
    """A Hive metastore service on MariaDB for local tables (no S3), one per test module."""
    try:
        with metastore_service(tmp_path_factory.mktemp("hms")) as service:
            yield watched(service)
    except ServiceUnavailable as missing:
        pytest.skip(str(missing))


def hive_table(metastore: HiveMetastore, table: str) -> Any:
    """The table as the metastore service itself answers get_table over Thrift (not through Spark)."""
    from hmsclient.hmsclient import HMSClient  # the dev extra's pure-Python Thrift client

    host, port = metastore.uris.removeprefix("thrift://").split(":")
    with HMSClient(host=host, port=int(port)) as client:
        return client.get_table(*table.split("."))
