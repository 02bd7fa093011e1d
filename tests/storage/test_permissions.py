"""The data directory and the database the app creates are private to its user (issue 17, item 11)."""

from __future__ import annotations

import stat
from pathlib import Path

from pertinent.storage.base import EventRow
from pertinent.storage.factory import open_store
from tests.support.common import make_settings


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_created_data_dir_and_database_are_private(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"
    store = open_store(make_settings(data))
    try:
        with store.transaction() as tx:  # a write: SQLite creates its -wal and -shm files now
            tx.insert_events([EventRow("m1", "track", "E", "p1", 1.0, 1.0, True)])
    finally:
        store.close()
    assert _mode(data) == 0o700
    for path in data.iterdir():
        if path.is_file():
            assert _mode(path) == 0o600, path.name


def test_existing_data_dir_is_left_as_the_operator_made_it(tmp_path: Path) -> None:
    data = tmp_path / "shared"
    data.mkdir(mode=0o750)
    data.chmod(0o750)
    open_store(make_settings(data)).close()
    assert _mode(data) == 0o750
    assert _mode(data / "pertinent.db") == 0o600
