"""The database file: created without access for others, never opened through a link."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from runner.core.errors import ConfigError
from runner.storage.db.connection import open_writer


def test_the_database_and_its_wal_are_created_without_access_for_others(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        database = tmp_path / "runner.db"

        async def open_and_write() -> None:
            conn = await open_writer(database)
            await conn.execute("CREATE TABLE t (x)")
            assert stat.S_IMODE(Path(f"{database}-wal").stat().st_mode) == 0o640
            await conn.close()

        asyncio.run(open_and_write())
    finally:
        os.umask(old)
    assert stat.S_IMODE(database.stat().st_mode) == 0o640


def test_a_symlinked_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere.db").write_bytes(b"")
    (tmp_path / "runner.db").symlink_to(tmp_path / "elsewhere.db")
    with pytest.raises(ConfigError, match="is a symbolic link"):
        asyncio.run(open_writer(tmp_path / "runner.db"))


def test_a_database_folder_writable_by_all_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ConfigError, match=f"{shared}: the database's folder is writable by every"):
        asyncio.run(open_writer(shared / "runner.db"))
    assert not (shared / "runner.db").exists()
