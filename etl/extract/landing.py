"""Where a job's file sources land, looked at before Spark starts: a local source folder that does not
exist means that nothing has landed there yet, and a run can say so without creating anything."""

from __future__ import annotations

import re

from etl.config.models import EnvConfig, JobConfig, SourceConfig
from etl.zones import Zones, local_path

_GLOB = re.compile(r"[*?\[{]")


def landing_folder(source: SourceConfig, zones: Zones) -> str:
    """The folder a file source's files land under: its path up to the first part that is a glob."""
    parts = str(source.path).strip("/").split("/")
    fixed = parts[: next((at for at, part in enumerate(parts) if _GLOB.search(part)), len(parts))]
    return zones.uri(source.zone, *fixed)


def nothing_landed(config: JobConfig, env: EnvConfig, zones: Zones) -> dict[str, str]:
    """When none of the job's local landing folders exists, each of them (source name -> URI); else none.
    Not looked at: sources that wait for their input (wait_for), streams read from Kinesis, and folders
    not on the local disk (on s3:// the run's own read says what is missing)."""
    folders = {
        name: landing_folder(source, zones)
        for name, source in config.sources.items()
        if source.path is not None and source.wait_for is None and not (source.stream and env.streams_from == "kinesis")
    }
    local = {name: local_path(folder) for name, folder in folders.items()}
    if any(path is None or path.exists() for path in local.values()):
        return {}
    return folders
