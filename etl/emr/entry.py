"""What main.py runs on the cluster: `etl run` / `etl backfill` with the conf/ packaged in the zip.

EMR copies only etl-<release>.zip and main.py to the node; spark-submit --py-files puts the zip on
sys.path. The configuration travels inside the zip, so a step needs nothing else: its conf/ is
extracted into a temporary folder for the run (--conf-dir overrides it).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import date, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import NoReturn

from etl.context import parse_day
from etl.errors import ConfigError, EtlError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error ends with the same `etl: error: ...` line as every other failure."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(2, f"etl: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="main.py",
        description="Run one etl job, as `etl run` (--run-date) or `etl backfill` (--from/--to) do, with the conf/ packaged in the zip. "
        "Usage: spark-submit --py-files etl-<release>.zip main.py --job JOB --env ENV (--run-date D | --from D --to D | "
        "--scheduled-time T [--timezone TZ] [--days-before N])",
    )
    parser.add_argument("--job", required=True, help="a job of conf/jobs/")
    parser.add_argument("--env", default=os.environ.get("ETL_ENV", "emr"), help="conf/env/ENV.yaml (default: $ETL_ENV or emr)")
    days = parser.add_mutually_exclusive_group(required=True)
    days.add_argument("--run-date", type=parse_day, metavar="YYYY-MM-DD", help="load one day (etl run)")
    days.add_argument("--from", dest="first", type=parse_day, metavar="YYYY-MM-DD", help="first day of a backfill, with --to")
    days.add_argument(
        "--scheduled-time",
        metavar="TIMESTAMP",
        help="load the day of this time in --timezone (less --days-before): EventBridge Scheduler's scheduled time, "
        "e.g. 2026-01-02T01:30:00Z, which a schedule of `etl schedule` passes",
    )
    parser.add_argument("--to", dest="last", type=parse_day, metavar="YYYY-MM-DD", help="last day of a backfill")
    parser.add_argument("--timezone", default="UTC", help="with --scheduled-time: the schedule's time zone (default UTC)")
    parser.add_argument("--days-before", type=int, default=0, metavar="N", help="with --scheduled-time: load N days before its day")
    parser.add_argument("--conf-dir", help="read the configuration from this folder instead of the conf/ in the zip")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.first is None) != (args.last is None):
        parser.error("--from and --to go together (or give --run-date)")
    if args.scheduled_time is not None:
        try:
            args.run_date = scheduled_day(args.scheduled_time, args.timezone, args.days_before)
        except EtlError as error:
            parser.error(str(error))
    if args.run_date is not None:
        command = ["run", args.job, "--env", args.env, "--run-date", args.run_date.isoformat()]
    else:
        command = ["backfill", args.job, "--env", args.env, "--from", args.first.isoformat(), "--to", args.last.isoformat()]
    with ExitStack() as cleanup:
        try:
            conf_dir = args.conf_dir or _packaged_conf(cleanup)
        except EtlError as error:
            print(f"etl: error: {error}", file=sys.stderr)
            return 1
        from etl.cli import main as etl

        return etl([*(["--conf-dir", str(conf_dir)] if conf_dir else []), *command])


def scheduled_day(scheduled_time: str, timezone: str, days_before: int = 0) -> date:
    """The day of `scheduled_time` (ISO 8601 with its offset, as EventBridge Scheduler writes it: ...Z) in
    `timezone`, less `days_before` days: the same day whenever the run starts or is retried."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        moment = datetime.fromisoformat(scheduled_time)
    except ValueError:
        raise EtlError(f"--scheduled-time {scheduled_time!r} is not an ISO 8601 time such as 2026-01-02T01:30:00Z") from None
    if moment.tzinfo is None:
        raise EtlError(f"--scheduled-time {scheduled_time!r} has no UTC offset (EventBridge Scheduler writes ...Z)")
    if days_before < 0:
        raise EtlError(f"--days-before must be 0 or more, got {days_before}")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise EtlError(
            f"--timezone {timezone!r}: no such time zone here (an IANA name such as Europe/Berlin; pip install tzdata)"
        ) from None
    return moment.astimezone(zone).date() - timedelta(days=days_before)


def _packaged_conf(cleanup: ExitStack) -> Path | None:
    archive = packaged_zip()
    if archive is None:
        return None  # a source checkout: the etl command's own lookup ($ETL_CONF_DIR, ./conf)
    folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="etl-conf-")))
    return extract_conf(archive, folder)


def packaged_zip() -> Path | None:
    """The zip the etl package was imported from, else the first zip on sys.path holding conf/base.yaml; None when neither."""
    import etl

    archive = getattr(etl.__spec__.loader if etl.__spec__ else None, "archive", None)  # zipimport's loader knows its zip
    if archive:
        return Path(archive)
    for entry in sys.path:
        if entry.endswith(".zip") and zipfile.is_zipfile(entry):
            with zipfile.ZipFile(entry) as candidate:
                if "conf/base.yaml" in candidate.namelist():
                    return Path(entry)
    return None


def extract_conf(archive: Path, into: Path) -> Path:
    """Copy the zip's conf/ to <into>/conf and return that folder."""
    with zipfile.ZipFile(archive) as source:
        names = [name for name in source.namelist() if name.startswith("conf/") and not name.endswith("/")]
        if "conf/base.yaml" not in names:
            raise ConfigError(f"{archive.name}: holds no conf/base.yaml; build it with `etl package`, or pass --conf-dir")
        for name in names:
            parts = PurePosixPath(name).parts
            if ".." in parts:
                raise ConfigError(f"{archive.name}: entry {name!r} points outside conf/")
            target = into.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read(name))
    return into / "conf"
