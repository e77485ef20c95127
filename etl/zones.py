"""Storage zones as URIs: s3://bucket/prefix/<zone> on EMR, file:///abs/lake/<zone> locally."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from etl.config.models import ZONE_NAMES, EnvConfig, ZoneName


def as_uri(location: str) -> str:
    """A URI for a location: URIs pass through; a plain path becomes an absolute file:// URI."""
    if "://" in location:
        return location.rstrip("/")
    return Path(location).expanduser().resolve().as_uri()


def local_path(uri: str) -> Path | None:
    """The local folder of a file:// URI, or None for remote storage."""
    parsed = urlparse(uri)
    return Path(parsed.path) if parsed.scheme == "file" else None


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *(part.strip("/") for part in parts if part)])


@dataclass(frozen=True)
class Zones:
    lake_root: str
    raw: str
    curated: str
    quarantine: str
    dq: str
    checkpoints: str

    @classmethod
    def from_env(cls, env: EnvConfig) -> Zones:
        root = as_uri(env.lake_root)
        configured = env.zones.model_dump()
        uris = {zone: as_uri(configured[zone]) if configured[zone] else join(root, zone) for zone in ZONE_NAMES}
        return cls(lake_root=root, **uris)

    def uri(self, zone: ZoneName, *parts: str) -> str:
        return join(getattr(self, zone), *parts)
