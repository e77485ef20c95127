"""`etl new-job NAME`: a first job to start from (its module, config, suite and unit test), written
beside the project's own (conf/, jobs/, tests/unit/), never over an existing file unless asked."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from etl.config import ConfigDir
from etl.errors import ConfigError, EtlError
from etl.scaffold import templates
from etl.zones import local_path

DATABASE = "warehouse"
# Lower case: the metastore keeps table names in lower case, and the job's name is its table's.
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class Layout:
    """Where the files go: the conf folder, the jobs package's folder, the unit tests' folder."""

    conf: Path
    jobs: Path
    tests: Path

    @classmethod
    def beside(cls, conf: Path, jobs: Path | None = None, tests: Path | None = None) -> Layout:
        """The project's layout: jobs/ and tests/unit/ next to conf/, unless given."""
        return cls(conf, jobs or conf.parent / "jobs", tests or conf.parent / "tests" / "unit")


def check_name(name: str) -> str:
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise EtlError(
            f"job name {name!r}: use lower-case letters, digits and _, not starting with a digit (it names a module and a table)"
        )
    return name


def class_name(name: str) -> str:
    """orders -> Orders, daily_sales -> DailySales."""
    return "".join(part.capitalize() for part in name.split("_")) or "Job"


def raw_path(name: str) -> str:
    """The job's source folder under the raw zone."""
    return name


def files_of(name: str, layout: Layout) -> dict[Path, str]:
    """Each file the scaffold writes, with its text."""
    values = {
        "name": name,
        "cls": class_name(name),
        "package": layout.jobs.name,
        "table": f"{DATABASE}.{name}",
        "path": raw_path(name),
    }
    files = {
        layout.jobs / f"{name}.py": templates.JOB.substitute(values),
        layout.conf / "jobs" / f"{name}.yaml": templates.CONFIG.substitute(values),
        layout.conf / "expectations" / f"{name}.yaml": templates.SUITE.substitute(values),
        layout.tests / f"test_{name}.py": templates.TEST.substitute(values),
    }
    if not (layout.jobs / "__init__.py").exists():
        files[layout.jobs / "__init__.py"] = ""  # a package, so that `class: jobs.NAME:Class` imports
    return files


def sample_file(raw_folder: Path, day: date) -> Path:
    return raw_folder / f"dt={day.isoformat()}" / "orders.csv"


def write(files: dict[Path, str], force: bool) -> list[Path]:
    """Write them all, or none when one exists already (unless force)."""
    existing = [path for path in files if path.exists()]
    if existing and not force:
        raise EtlError(f"not overwriting {', '.join(shown(path) for path in existing)} (--force replaces them)")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def require_free_table(conf: ConfigDir, name: str) -> None:
    """Another job loading the same table would overwrite its data: say which one."""
    table = f"{DATABASE}.{name}"
    for other in conf.names("jobs"):
        if other == name:
            continue
        try:
            targets = conf.job(other).targets.values()
        except ConfigError:
            continue  # `etl check-config` reports it
        if any(target.table == table for target in targets):
            raise EtlError(f"{table} is loaded by conf/jobs/{other}.yaml already: choose another job name")


def next_steps(name: str, layout: Layout, raw: str, env: str, sample: date | None) -> str:
    """What to do after the scaffold, as commands to copy."""
    folder = local_path(raw)
    landing = f"{shown(folder) if folder else raw}/dt=YYYY-MM-DD/"
    day = sample.isoformat() if sample else "YYYY-MM-DD"
    land = (
        f"done for {day} (--sample); other days: a CSV in {landing}" if sample else f"a CSV with the header {templates.HEADER} in {landing}"
    )
    steps = [
        ("run its unit test", f"pytest {shown(layout.tests / f'test_{name}.py')}"),
        ("land a day of input", land),
        ("load that day", f"etl run {name} --env {env} --run-date {day}"),
        ("see what it loaded", f'etl sql --env {env} "SELECT * FROM {DATABASE}.{name} ORDER BY dt, customer"'),
    ]
    width = max(len(what) for what, _ in steps) + 1
    return "next:\n" + "\n".join(f"  {what + ':':<{width}} {how}" for what, how in steps)


def shown(path: Path) -> str:
    """A path relative to the current folder where it is under it (as a user types it), else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())
