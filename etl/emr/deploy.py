"""Upload a built dist/ to the artifacts prefix the steps read: s3://bucket/prefix/<file> for each file.

Every file of dist/ goes up as it is (the zip, main.py, requirements.txt, conf/...), so the prefix holds
exactly one release and `etl emr-step --artifacts` can point at it. Run `etl package` first.

A prefix that already holds a different release is refused before anything is written (the nights
that read it would change under their feet): deploy a new version under a new prefix, or pass
--replace. Deploying the same build again uploads nothing. Files are compared by their MD5, which is
the ETag S3 gives an object uploaded in one part.
"""

from __future__ import annotations

import hashlib
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
    """The files of a built dist/, sorted; an error when it holds no etl-<release>.zip."""
    if not any(dist.glob("etl-*.zip")):
        raise EtlError(f"{dist}: no etl-<release>.zip here; run `etl package` (or make package) first")
    return sorted(path for path in dist.rglob("*") if path.is_file())


def deploy(client: Any, dist: Path, artifacts: str, say: Callable[[str], None] = print, replace: bool = False) -> list[str]:
    """Put every file of `dist` under `artifacts`; the URIs written, in order."""
    bucket, prefix = split_s3_uri(artifacts)
    files = {prefix + path.relative_to(dist).as_posix(): path.read_bytes() for path in dist_files(dist)}
    local = {key: hashlib.md5(body).hexdigest() for key, body in files.items()}
    there = _etags(client, bucket, prefix)
    if there == local:
        say(f"s3://{bucket}/{prefix} already holds this build: nothing to upload")
        return []
    if there and not replace:
        differing = sorted(key for key in there.keys() | local.keys() if there.get(key) != local.get(key))
        raise EtlError(
            f"s3://{bucket}/{prefix} holds another release ({len(differing)} file(s) differ, first s3://{bucket}/{differing[0]}): "
            "deploy this one under a new prefix (a new version), or pass --replace"
        )
    written = []
    for key, body in files.items():
        with aws_errors("S3"):
            client.put_object(Bucket=bucket, Key=key, Body=body)
        uri = f"s3://{bucket}/{key}"
        say(f"uploaded {uri} ({len(body)} bytes)")
        written.append(uri)
    return written


def _etags(client: Any, bucket: str, prefix: str) -> dict[str, str]:
    """Key -> ETag (without quotes) of every object under the prefix."""
    found: dict[str, str] = {}
    more: dict[str, str] = {}
    while True:
        with aws_errors("S3"):
            page = client.list_objects_v2(Bucket=bucket, Prefix=prefix, **more)
        found.update({item["Key"]: item["ETag"].strip('"') for item in page.get("Contents", [])})
        if not page.get("IsTruncated"):
            return found
        more = {"ContinuationToken": page["NextContinuationToken"]}
