"""The run-wide secrets check finds a secret wherever a run could leave it (tests/leaks.py)."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb

from tests.leaks import leaks

SECRET = "planted-secret-5e1d"


def test_a_planted_secret_is_found_in_text_gzip_parquet_and_output_and_secret_stores_are_exempt(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "etl.log").write_text(f"INFO connecting with {SECRET}\n")
    (tmp_path / "logs" / "clean.log").write_text("INFO connecting with ***\n")
    (tmp_path / "old.log.gz").write_bytes(gzip.compress(f"key={SECRET}".encode()))
    with duckdb.connect() as con:  # a Parquet file whose pages are compressed: the raw bytes would not show it
        con.sql(f"COPY (SELECT repeat('x', 50) || '{SECRET}' AS error FROM range(3)) TO '{tmp_path}/audit.parquet' (COMPRESSION zstd)")
    private = tmp_path / "db-password"
    private.write_text(SECRET)
    private.chmod(0o600)
    readable = tmp_path / "conf" / "hive-site.xml"
    readable.parent.mkdir()
    readable.write_text(f"<value>{SECRET}</value>")
    readable.chmod(0o644)  # a secret store others can read is a leak

    outputs = [("etl run", "done"), ("etl sql", f"error: {SECRET}")]
    found = leaks([SECRET], outputs, [tmp_path])
    assert sorted(found) == sorted(
        ["etl sql", *(str(tmp_path / name) for name in ("logs/etl.log", "old.log.gz", "audit.parquet", "conf/hive-site.xml"))]
    )
    assert leaks(["another-secret"], outputs, [tmp_path]) == []
