"""etl package: a reproducible zip that runs with nothing but itself and main.py (no Spark started here)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from etl.cli import main
from etl.emr.package import Package, build
from etl.version import __version__
from tests.release import release_zip

REPO = Path(__file__).resolve().parents[2]
SITE_PACKAGES = sysconfig.get_paths()["purelib"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return build(REPO, tmp_path_factory.mktemp("build") / "dist", allow_dirty=True)


def isolated_python(args: list[str], zip_path: Path, cwd: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Python as a cluster node runs main.py: the zip first on the path, then only the installed third-party
    packages. -S skips site, so the editable install's finder (which would reach this checkout) is never loaded."""
    environ = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join([str(zip_path), SITE_PACKAGES]), **variables}
    return subprocess.run([sys.executable, "-S", "-s", *args], cwd=cwd, env=environ, capture_output=True, text=True, timeout=120)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_source_same_bytes(built: Package, tmp_path: Path) -> None:
    again = build(REPO, tmp_path / "dist", allow_dirty=True)
    assert again.zip.name == built.zip.name == f"etl-{__version__}-{hashlib.sha256(built.zip.read_bytes()).hexdigest()[:12]}.zip"
    assert sha256(again.zip) == sha256(built.zip)
    assert again.requirements.read_bytes() == built.requirements.read_bytes()
    with zipfile.ZipFile(built.zip) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {info.external_attr >> 16 for info in infos if not info.is_dir()} == {0o100644}


def test_zip_holds_the_packages_and_conf_and_nothing_local(built: Package) -> None:
    with zipfile.ZipFile(built.zip) as archive:
        names = set(archive.namelist())
    for needed in ("etl/__init__.py", "etl/log4j2.properties", "etl/demo/tpch.py", "jobs/sales_warehouse.py", "conf/base.yaml"):
        assert needed in names
    assert "conf/jobs/sales_warehouse.yaml" in names
    assert "conf/env/emr.yaml" in names
    assert not [
        name for name in names if name.startswith(("etl/dev/", "etl/jvm/", "tests/")) or "__pycache__" in name or name.endswith(".pyc")
    ]
    assert {name.rsplit(".", 1)[-1] for name in names if not name.startswith("conf/") and not name.endswith("/")} == {"py", "properties"}
    # the dist/ copy of conf/ is the zip's
    assert sorted(str(p.relative_to(built.out).as_posix()) for p in built.conf.rglob("*") if p.is_file()) == sorted(
        name for name in names if name.startswith("conf/") and not name.endswith("/")
    )


def test_the_catalog_helper_ships_beside_the_zip(built: Package) -> None:
    from etl.session import CATALOG_JAR

    assert built.catalog_jar == built.out / "etl-catalog.jar"
    assert built.catalog_jar.read_bytes() == CATALOG_JAR.read_bytes()  # the jar `make setup` built
    with zipfile.ZipFile(built.catalog_jar) as jar:
        assert "etl/hive/PartitionBatches.class" in jar.namelist()


def test_requirements_pin_what_the_tests_run_with(built: Package) -> None:
    """Every requirement of setup.py (not pyspark) and all it needs, at the version pip says this venv holds."""
    lines = [line for line in built.requirements.read_text().splitlines() if not line.startswith("#")]
    frozen = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True).stdout
    installed = {
        re.sub(r"[-_.]+", "-", name).lower(): version for name, _, version in (line.partition("==") for line in frozen.splitlines())
    }
    pins = dict(line.split("==") for line in lines)
    assert list(pins) == sorted(pins) and all(installed[name] == version for name, version in pins.items())
    assert {"great-expectations", "pydantic", "pyyaml", "pandas", "boto3"} <= set(pins)  # setup.py's install_requires
    assert {"botocore", "numpy", "jinja2", "pydantic-core"} <= set(pins)  # what they need
    assert not {"pyspark", "py4j", "pytest", "moto", "chispa", "duckdb"} & set(pins)  # EMR's, and the tests' own


def test_modules_import_from_the_zip_alone(built: Package, tmp_path: Path) -> None:
    code = (
        "import etl.job, jobs.sales_warehouse, etl.cli, etl.demo.tpch; print(etl.job.__file__); print(jobs.sales_warehouse.__file__)\n"
        "try:\n    import etl.dev\nexcept ImportError:\n    print('no etl.dev')\n"
    )
    done = isolated_python(["-c", code], built.zip, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(built.zip / "etl" / "job.py"), str(built.zip / "jobs" / "sales_warehouse.py"), "no etl.dev"]


def test_main_py_runs_from_the_zip_and_reads_its_conf(built: Package, tmp_path: Path) -> None:
    # what EMR gives spark-submit: the zip and main.py in one folder, nothing else
    (tmp_path / "main.py").write_bytes(built.main.read_bytes())
    (tmp_path / built.zip.name).write_bytes(built.zip.read_bytes())
    zip_path = tmp_path / built.zip.name

    done = isolated_python(["main.py", "--help"], zip_path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: main.py")

    # the conf/ inside the zip answers (a config error comes before Spark would start)
    run = ["main.py", "--job", "nightly", "--env", "emr", "--run-date", "1992-01-01"]
    done = isolated_python(run, zip_path, tmp_path)
    assert (done.returncode, done.stderr.strip()) == (
        1,
        "etl: error: conf/env/emr.yaml: lake_root: environment variable ETL_BUCKET is not set (and no ${ETL_BUCKET:-default} is given)",
    )
    done = isolated_python(run, zip_path, tmp_path, ETL_BUCKET="lake-bucket")
    assert (done.returncode, done.stderr.strip()) == (
        1,
        "etl: error: conf/jobs/nightly.yaml: not found (known: clickstream_sessions, daily_kpis, iot_telemetry, sales_warehouse)",
    )

    done = isolated_python(["main.py", "--job", "sales_warehouse", "--from", "1992-01-01"], zip_path, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "etl: error: --from and --to go together (or give --run-date)"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([built.zip.name, "main.py"])  # the extracted conf/ was cleaned up


def test_main_py_without_the_zip_says_so(built: Package, tmp_path: Path) -> None:
    (tmp_path / "main.py").write_bytes(built.main.read_bytes())
    environ = {"PATH": "/usr/bin:/bin", "PYTHONPATH": SITE_PACKAGES}
    done = subprocess.run([sys.executable, "-S", "-s", "main.py", "--help"], cwd=tmp_path, env=environ, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("etl: error: cannot import the etl package")


def test_entry_translates_to_the_etl_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from etl.emr import entry

    calls: list[list[str]] = []
    monkeypatch.setattr("etl.cli.main", lambda argv: calls.append(list(argv)) or 0)
    assert entry.main(["--job", "j", "--env", "emr", "--from", "1992-01-01", "--to", "1992-01-03", "--conf-dir", str(tmp_path)]) == 0
    assert entry.main(["--job", "j", "--env", "test", "--run-date", "1992-01-02", "--conf-dir", str(tmp_path)]) == 0
    assert calls == [
        ["--conf-dir", str(tmp_path), "backfill", "j", "--env", "emr", "--from", "1992-01-01", "--to", "1992-01-03"],
        ["--conf-dir", str(tmp_path), "run", "j", "--env", "test", "--run-date", "1992-01-02"],
    ]


def test_package_command_and_a_foreign_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dist"
    assert main(["package", "--out", str(out), "--allow-dirty"]) == 0  # the tests run in a checkout being changed, too
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{out / built_zip_name()}  sha256 {sha256(out / built_zip_name())}")
    (out / "etl-0.0.9.zip").write_bytes(b"an older release")
    assert main(["package", "--out", str(out), "--allow-dirty"]) == 0  # an earlier build, old zips included, is replaced
    assert sorted(p.name for p in out.iterdir()) == sorted(["conf", "etl-catalog.jar", "main.py", "requirements.txt", built_zip_name()])
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["package", "--out", str(out), "--allow-dirty"]) == 1
    assert (
        capsys.readouterr().err.strip()
        == f"etl: error: {out}: holds files a build did not write (notes.txt); choose an empty or new output folder"
    )
    assert (out / "notes.txt").read_text() == "mine"


def built_zip_name() -> str:
    return release_zip()


def test_a_checkout_with_uncommitted_changes_is_built_only_when_asked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "source"
    for part in ("etl", "jobs", "conf"):
        shutil.copytree(REPO / part, source / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "setup.py", source / "setup.py")
    git = ["git", "-C", str(source), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "release"]):
        subprocess.run([*git, *command], check=True, capture_output=True)
    package = ["package", "--source", str(source), "--out", str(tmp_path / "dist")]
    assert main(package) == 0
    clean = capsys.readouterr().out.splitlines()[0]

    with (source / "conf" / "jobs" / "daily_kpis.yaml").open("a") as handle:
        handle.write("# changed\n")
    (source / "jobs" / "new_job.py").write_text("x = 1\n")
    assert main(package) == 1
    assert capsys.readouterr().err == (
        f"etl: error: {source} has uncommitted changes (conf/jobs/daily_kpis.yaml, jobs/new_job.py): "
        "commit them, or build anyway with --allow-dirty\n"
    )
    assert main([*package, "--allow-dirty"]) == 0
    dirty = capsys.readouterr().out.splitlines()[0]
    # another content, another name: etl-<version>-<12 digits of the zip's sha256>.zip
    for line in (clean, dirty):
        zip_path = Path(line.split("  ")[0])
        assert zip_path.name == f"etl-{__version__}-{line.split('sha256 ')[1][:12]}.zip"
    assert clean.split("  ")[0] != dirty.split("  ")[0]
