"""The release this checkout builds: etl-<version>-<the first 12 hex digits of the zip's sha256>.zip,
the digest computed here with hashlib over the zip `etl package` writes."""

from __future__ import annotations

import functools
import hashlib
import tempfile
from pathlib import Path

from etl.emr.package import build
from etl.version import __version__

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def release_zip() -> str:
    with tempfile.TemporaryDirectory() as folder:
        built = build(REPO, Path(folder) / "dist", allow_dirty=True)
        return f"etl-{__version__}-{hashlib.sha256(built.zip.read_bytes()).hexdigest()[:12]}.zip"
