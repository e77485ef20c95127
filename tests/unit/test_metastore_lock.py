"""The local metastore's lock (etl/metastore_lock.py), in one process: a flock is held per open file, so a
second take() here meets the first as another command would. The two-command cases, through the real
`etl`, are in tests/integration/test_local_metastore_lock.py."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from etl.config import ConfigDir
from etl.errors import MetastoreInUse
from etl.metastore_lock import lock_path, take

REPO_CONF = Path(__file__).resolve().parents[2] / "conf"


def test_only_envs_with_an_embedded_derby_metastore_have_the_lock(tmp_path: Path) -> None:
    conf = ConfigDir(REPO_CONF, environ={"ETL_LAKE_ROOT": str(tmp_path / "lake"), "ETL_METASTORE_URIS": "thrift://127.0.0.1:9083"})
    assert lock_path(conf.env("local")) == tmp_path / "lake" / "metastore.lock"
    assert lock_path(conf.env("test")) == tmp_path / "lake" / "metastore.lock"
    assert lock_path(conf.env("local-hms")) is None  # a metastore service: etl/state/lock.py's job lock is enough


def test_a_second_taker_is_told_who_holds_it_until_it_is_released(tmp_path: Path) -> None:
    path = tmp_path / "lake" / "metastore.lock"
    held = take(path, "etl run sales_warehouse\n  --run-date 1992-01-01")
    expected = (
        re.escape(
            f"the local metastore under {path.parent} is in use by `etl run sales_warehouse --run-date 1992-01-01` (pid {os.getpid()}, since "
        )
        + r"\d\d:\d\d:\d\d\); wait for it, or pass --wait"
    )
    with pytest.raises(MetastoreInUse) as refused:
        take(path, "etl sql 'SELECT 1'")
    assert re.fullmatch(expected, str(refused.value))
    held.release()
    assert path.read_text() == ""  # released: no one's name left in it
    again = take(path, "etl sql 'SELECT 1'")
    again.release()


def test_a_lock_file_without_a_readable_holder_still_refuses(tmp_path: Path) -> None:
    path = tmp_path / "metastore.lock"
    held = take(path, "etl sql x")
    path.write_text("")  # as in the instant between a holder's flock and its writing its name
    with pytest.raises(MetastoreInUse, match=r"^the local metastore under .* is in use by another process; wait for it, or pass --wait$"):
        take(path, "etl sql y")
    held.release()
