"""Upload a built dist/ to the artifacts prefix the steps read: s3://bucket/prefix/<file> for each file.

Every file of dist/ goes up as it is (the zip, main.py, requirements.txt, conf/...), so the prefix holds
exactly one release and `etl emr-step --artifacts` can point at it. Run `etl package` first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from etl.emr.aws import aws_errors
from etl.emr.steps import artifacts_uri
from etl.errors import EtlError


def split_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/prefix/ -> ('bucket', 'prefix/'); the prefix ends with / (or is empty)."""
    bucket, _, prefix = artifacts_uri(uri).removeprefix("s3://").partition("/")
    return bucket, prefix


def dist_files(dist: Path) -> list[Path]:
    """The files of a built dist/, sorted; an error when it holds no etl-<version>.zip."""
    if not any(dist.glob("etl-*.zip")):
        raise EtlError(f"{dist}: no etl-<version>.zip here; run `etl package` (or make package) first")
    return sorted(path for path in dist.rglob("*") if path.is_file())


def deploy(client: Any, dist: Path, artifacts: str, say: Callable[[str], None] = print) -> list[str]:
    """Put every file of `dist` under `artifacts`; the URIs written, in order."""
    bucket, prefix = split_s3_uri(artifacts)
    written = []
    for path in dist_files(dist):
        key = prefix + path.relative_to(dist).as_posix()
        body = path.read_bytes()
        with aws_errors("S3"):
            client.put_object(Bucket=bucket, Key=key, Body=body)
        uri = f"s3://{bucket}/{key}"
        say(f"uploaded {uri} ({len(body)} bytes)")
        written.append(uri)
    return written
