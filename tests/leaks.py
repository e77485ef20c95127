"""The secrets check over a whole test run: every secret the tests hand to the code (AWS keys, each
metastore's database password) is looked for in everything the run printed or wrote.

Fixtures register the secrets they create and the output of the commands they run; at the end of the
session tests/conftest.py scans those, every test's captured output and every file under pytest's
temporary folder (lakes, logs, reports, audit tables, service state) and fails the run on a find.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from pathlib import Path

import duckdb

SECRETS: set[str] = set()
OUTPUTS: list[tuple[str, str]] = []  # (where, text) of what the run printed

# Files that exist to hold a secret, readable by their owner only: the metastore's database password,
# and its hive-site.xml, which gives the password to the service (as on EMR).
SECRET_STORES = {"db-password", "hive-site.xml"}


def register_secret(value: str) -> None:
    SECRETS.add(value)


def record_output(where: str, text: str) -> None:
    OUTPUTS.append((where, text))


def is_secret_store(path: Path) -> bool:
    return path.name in SECRET_STORES and path.stat().st_mode & 0o077 == 0


def contents(path: Path, con: duckdb.DuckDBPyConnection) -> bytes:
    """A file's bytes; a Parquet file's values as text (its pages are compressed); gzip unpacked."""
    if path.suffix == ".parquet":
        return repr(con.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()).encode()
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            return data
    return data


def leaks(secrets: Iterable[str], outputs: Iterable[tuple[str, str]], folders: Iterable[Path]) -> list[str]:
    """Where any of `secrets` occurs: output names and file paths, files that are secret stores excepted."""
    wanted = [secret for secret in secrets if secret]
    found = [where for where, text in outputs if any(secret in text for secret in wanted)]
    encoded = [secret.encode() for secret in wanted]
    with duckdb.connect() as con:  # one for all files: a connection each cost 17 ms per Parquet file
        for folder in folders:
            for path in sorted(folder.rglob("*")):
                if path.is_file() and not path.is_symlink() and not is_secret_store(path):
                    data = contents(path, con)
                    if any(secret in data for secret in encoded):
                        found.append(str(path))
    return found
