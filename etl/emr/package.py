"""Build dist/: what a cluster needs to run a job, and nothing else.

    dist/etl-<release>.zip   the etl and jobs packages and conf/, for spark-submit --py-files; the release is
                             <version>-<the first 12 hex digits of the zip's sha256>: the name says what it holds
    dist/main.py             the spark-submit entry point (a copy of etl/emr/main.py)
    dist/conf/               the same conf/, readable without unzipping (and for `etl submit`)
    dist/requirements.txt    exact pins (name==version) of setup.py's install_requires without pyspark (EMR
                             ships Spark) and of all they need, as installed where the release is built:
                             the test suite's environment, so a night's cluster runs what the tests ran
    dist/etl-catalog.jar     the driver's helper for the metastore's partitions, for spark-submit --jars
                             (etl/jvm/etl/hive/, built by `make setup`: Java 8 bytecode that is the same
                             whether compiled against Spark 3.5's jars or 4.0's, so EMR 7 and 8 run one release)
    dist/pyspark_venv.tar.gz with --venv-pack: a virtual environment holding requirements.txt, packed
                             with venv-pack, for EMR Serverless (which has no bootstrap actions)

The zip is reproducible: the same source gives the same bytes (sorted entries, fixed timestamps and
permissions, one compression level), so two builds of one commit are interchangeable, and the steps
that `etl emr-step` / `etl cluster` print name the zip the checkout they run from would build. A checkout
with uncommitted changes to what the release holds is built only with allow_dirty (--allow-dirty).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from etl.emr.steps import CATALOG_JAR_NAME, VENV_ARCHIVE_NAME
from etl.errors import EtlError
from etl.session import CATALOG_JAR

# The packages the zip carries, and the folders of them that never run on a cluster.
PACKAGES = ("etl", "jobs")
EXCLUDED = (PurePosixPath("etl/dev"), PurePosixPath("etl/jvm"))  # local test services; Java sources for a local jar
# Files other than .py that the code reads at run time (etl/session.py: the local log4j2 configuration).
PACKAGE_DATA = (PurePosixPath("etl/log4j2.properties"),)
# Requirements the cluster provides itself.
PROVIDED_BY_EMR = frozenset({"pyspark"})

ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
_FILE_MODE = 0o100644 << 16
_DIR_MODE = (0o040755 << 16) | 0x10  # 0x10: the MS-DOS directory flag
_UNIX = 3


@dataclass(frozen=True)
class Package:
    """What `build` wrote."""

    out: Path
    zip: Path
    main: Path
    conf: Path
    requirements: Path
    entries: tuple[str, ...]
    catalog_jar: Path


def default_source_root() -> Path:
    """The checkout this etl package was imported from (the folder holding setup.py)."""
    return Path(__file__).resolve().parents[2]


def source_version(root: Path) -> str:
    """The version in <root>/etl/version.py, read as text: the source being packaged, not the etl that runs."""
    text = _read(root / "etl" / "version.py")
    found = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.MULTILINE)
    if not found:
        raise EtlError(f"{root / 'etl' / 'version.py'}: no __version__ = '...' line")
    return found.group(1)


def runtime_requirements(root: Path) -> list[str]:
    """install_requires of <root>/setup.py (the single list of requirements), without what EMR provides."""
    setup_py = root / "setup.py"
    for node in ast.walk(ast.parse(_read(setup_py), str(setup_py))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            for keyword in node.keywords:
                if keyword.arg == "install_requires":
                    try:
                        requirements = ast.literal_eval(keyword.value)
                    except ValueError:
                        raise EtlError(f"{setup_py}: install_requires must be a literal list of strings") from None
                    return [line for line in requirements if _requirement_name(line) not in PROVIDED_BY_EMR]
    raise EtlError(f"{setup_py}: no setup(install_requires=[...]) found")


def locked(requirements: list[str]) -> list[str]:
    """`name==version` of each requirement and of everything it needs (markers evaluated for this Python),
    as installed here; an error when one is missing or its version is not what setup.py allows."""
    from importlib import metadata

    from packaging.requirements import Requirement

    pins: dict[str, str] = {}
    seen: set[tuple[str, tuple[str, ...]]] = set()  # a package with some extras: their requirements too
    todo = [Requirement(line) for line in requirements]
    while todo:
        requirement = todo.pop()
        name, extras = _requirement_name(requirement.name), tuple(sorted(requirement.extras))
        if name in PROVIDED_BY_EMR or (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            installed = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            raise EtlError(f"cannot pin the requirements: {requirement.name} is not installed here (make setup installs them)") from None
        if not requirement.specifier.contains(installed.version, prereleases=True):
            raise EtlError(f"cannot pin the requirements: {requirement.name} {installed.version} is installed, {requirement} is needed")
        pins[name] = installed.version
        for text in installed.requires or []:
            needed = Requirement(text)
            if needed.marker is None or any(needed.marker.evaluate({"extra": extra}) for extra in ("", *extras)):
                todo.append(needed)
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _python() -> str:
    import sys

    return ".".join(map(str, sys.version_info[:2]))


def _requirement_name(requirement: str) -> str:
    name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement.strip())
    return re.sub(r"[-_.]+", "-", name.group(0)).lower() if name else requirement


def zip_files(root: Path) -> dict[str, Path]:
    """Entry name -> file, for every file the zip carries: the packages' .py files and data, and conf/."""
    files: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*")):
            entry = PurePosixPath(path.relative_to(root).as_posix())
            if not path.is_file() or _skipped(entry) or any(entry.is_relative_to(excluded) for excluded in EXCLUDED):
                continue
            if entry.suffix == ".py" or entry in PACKAGE_DATA:
                files[str(entry)] = path
    for name, path in conf_files(root).items():
        files[f"conf/{name}"] = path
    missing = [str(data) for data in PACKAGE_DATA if str(data) not in files]
    if missing:
        raise EtlError(f"package data missing from {root}: {', '.join(missing)}")
    return files


def conf_files(root: Path) -> dict[str, Path]:
    """Path under conf/ -> file, for every file of <root>/conf (hidden files and caches left out)."""
    conf = root / "conf"
    if not (conf / "base.yaml").is_file():
        raise EtlError(f"{conf}: no base.yaml; etl package builds from a source checkout (pass --source)")
    return {
        path.relative_to(conf).as_posix(): path
        for path in sorted(conf.rglob("*"))
        if path.is_file() and not _skipped(PurePosixPath(path.relative_to(conf).as_posix()))
    }


def _skipped(name: PurePosixPath) -> bool:
    return any(part == "__pycache__" or part.startswith(".") for part in name.parts) or name.name.endswith(("~", ".pyc"))


def release_name(root: Path) -> str:
    """<version>-<12 hex digits of the sha256 of the zip built from root>."""
    files = zip_files(root)
    signature = tuple((name, path.stat().st_mtime_ns, path.stat().st_size) for name, path in files.items())
    return _release_name(root, signature)


@functools.lru_cache(maxsize=8)
def _release_name(root: Path, signature: tuple[tuple[str, int, int], ...]) -> str:
    """Cached by the files' names, times and sizes: a command building several steps zips once."""
    buffer = io.BytesIO()
    write_zip(buffer, zip_files(root))
    return f"{source_version(root)}-{hashlib.sha256(buffer.getvalue()).hexdigest()[:12]}"


def uncommitted(root: Path) -> list[str]:
    """The files of a git checkout's release paths with uncommitted changes ([] outside git)."""
    if not (root / ".git").exists() or shutil.which("git") is None:
        return []
    paths = [*PACKAGES, "conf", "setup.py"]
    done = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all", "--", *paths], capture_output=True, text=True
    )
    if done.returncode != 0:
        return []
    return [line[3:] for line in done.stdout.splitlines() if line.strip()]


def write_zip(path: Path | BinaryIO, files: dict[str, Path]) -> tuple[str, ...]:
    """A zip of `files` (entry name -> file) whose bytes depend only on the names and contents.

    Every folder gets its own entry: Python 3.11's zipimport finds a namespace package (a folder
    without __init__.py, like etl/demo) only through one."""
    folders = {str(parent) + "/" for name in files for parent in PurePosixPath(name).parents if str(parent) != "."}
    entries = tuple(sorted(folders | set(files)))
    with zipfile.ZipFile(path, "w") as archive:
        for name in entries:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.create_system = _UNIX
            if name.endswith("/"):
                info.external_attr = _DIR_MODE
                archive.writestr(info, b"", compress_type=zipfile.ZIP_STORED)
            else:
                info.external_attr = _FILE_MODE
                archive.writestr(info, files[name].read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return entries


def build(root: Path, out: Path, allow_dirty: bool = False) -> Package:
    """Write dist/ (`out`) from the source checkout `root`, replacing an earlier build there."""
    root = root.resolve()
    changed = uncommitted(root)
    if changed and not allow_dirty:
        shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
        raise EtlError(f"{root} has uncommitted changes ({shown}): commit them, or build anyway with --allow-dirty")
    files = zip_files(root)
    if not CATALOG_JAR.is_file():
        raise EtlError(f"{CATALOG_JAR} is missing: `make setup` builds it from etl/jvm/etl/hive/ (it needs javac, from a JDK 17)")
    _clear(out)
    out.mkdir(parents=True, exist_ok=True)

    zip_path = out / f"etl-{release_name(root)}.zip"
    entries = write_zip(zip_path, files)
    main = out / "main.py"
    shutil.copyfile(root / "etl" / "emr" / "main.py", main)
    for name, path in conf_files(root).items():
        (out / "conf" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, out / "conf" / name)
    requirements = out / "requirements.txt"
    header = [
        f"# The cluster nodes' Python requirements, pinned as installed where this release was built (Python {_python()}):",
        f"# setup.py's install_requires without {', '.join(sorted(PROVIDED_BY_EMR))} (EMR ships it), and all they need.",
    ]
    requirements.write_text("\n".join([*header, *locked(runtime_requirements(root))]) + "\n")
    catalog_jar = out / CATALOG_JAR_NAME
    shutil.copyfile(CATALOG_JAR, catalog_jar)
    return Package(out, zip_path, main, out / "conf", requirements, entries, catalog_jar)


def pack_venv(venv: Path, out: Path) -> tuple[Path, str]:
    """<out>/pyspark_venv.tar.gz: the virtual environment `venv` packed with venv-pack, for EMR Serverless
    (spark.archives). The venv must be built for the cluster: Amazon Linux 2023 on the application's
    architecture, with the release's Python at the path the venv links to, and `pip install -r
    dist/requirements.txt`. Returns the archive and the venv's Python ("3.11.7 (/usr/bin/python3.11)")."""
    try:
        import venv_pack
    except ImportError:
        raise EtlError("--venv-pack needs venv-pack: pip install venv-pack (in .venv: make setup)") from None
    config = venv / "pyvenv.cfg"
    if not config.is_file():
        raise EtlError(f"{venv}: not a virtual environment (no pyvenv.cfg); make one with python3 -m venv")
    settings = dict(line.split("=", 1) for line in config.read_text().splitlines() if "=" in line)
    settings = {key.strip(): value.strip() for key, value in settings.items()}
    python = settings.get("version") or settings.get("version_info") or "?"
    archive = out / VENV_ARCHIVE_NAME
    try:
        venv_pack.pack(prefix=str(venv), output=str(archive), format="tar.gz", force=True, verbose=False)
    except venv_pack.VenvPackException as error:
        raise EtlError(f"venv-pack {venv}: {' '.join(str(error).split())}") from None
    return archive, f"{python} ({settings.get('home', '?')})"


# What a build writes; an output folder holding anything else is not a build's, and is left alone.
def _ours(path: Path) -> bool:
    return (
        path.name in ("main.py", "requirements.txt", "conf", CATALOG_JAR_NAME, VENV_ARCHIVE_NAME)
        or re.fullmatch(r"etl-.+\.zip", path.name) is not None
    )


def _clear(out: Path) -> None:
    """Remove an earlier build (old versions' zips too, so a deploy uploads one release), nothing else."""
    if not out.exists():
        return
    if not out.is_dir():
        raise EtlError(f"{out}: not a folder")
    foreign = sorted(path.name for path in out.iterdir() if not _ours(path))
    if foreign:
        raise EtlError(f"{out}: holds files a build did not write ({', '.join(foreign[:5])}); choose an empty or new output folder")
    for path in out.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        raise EtlError(f"{path}: not found; etl package builds from a source checkout (pass --source)") from None
