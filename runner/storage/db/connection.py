"""Opening a runner database: read-write (configured and migrated) or read-only.

The writer is one connection in autocommit mode (``isolation_level=None``): the
store issues ``BEGIN IMMEDIATE … COMMIT`` itself, under a lock, because coroutines
sharing an aiosqlite connection share its transaction. WAL with
``synchronous=NORMAL`` keeps every commit through a process crash.

A reader never creates, migrates or writes the file, and works for a user who
may read the database but not write it or its folder (``runner status`` and
``runner export`` as another user, during a run and after it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import aiosqlite

from runner.core.errors import StoreError
from runner.core.safefiles import check_folder, create_private, refuse_symlink
from runner.storage.db.queries import Q

MIGRATION_NAME: Final = re.compile(r"^(\d+)_.*\.sql$")
# The oldest schema the readers' queries match (they read columns and tables added by
# 0007: records.campaign, jobs.campaigns, campaign_blocks, requests.deleted_count).
OLDEST_READABLE: Final = 7
# How long a writer waits for another connection's write lock before giving up.
BUSY_SECONDS: Final = 5.0
# Between two tries. SQLite has no queue of waiting writers: its own busy handler backs
# off to 100 ms sleeps and, beside a load committing every 0.1 s, keeps missing the
# moments the lock is free. Polling every few ms finds them.
BUSY_POLL_SECONDS: Final = 0.002
# Rows fetched per hop to aiosqlite's thread: bounds memory; 1024 exports 30 % faster than 64.
CHUNK_ROWS: Final = 1024


def migrations_dir() -> Path:
    """``runner/migrations`` in an installed wheel, ``migrations/`` in a checkout."""
    packaged = Path(__file__).parents[2] / "migrations"
    return packaged if packaged.is_dir() else Path(__file__).parents[3] / "migrations"


def read_migrations(folder: Path) -> list[tuple[int, str]]:
    """Numbered migration scripts, in order: [(version, sql), ...]."""
    found = []
    for path in folder.iterdir():
        match = MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"{folder}: migrations must be numbered 1..n without gaps: {versions}")
    return found


def latest_version() -> int:
    migrations = read_migrations(migrations_dir())
    return migrations[-1][0] if migrations else 0


def describe(error: sqlite3.Error, database: Path | str) -> str:
    """A one-line explanation of an SQLite failure, with what to do about it."""
    text = str(error)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        hint = "the file is corrupt or not a runner database; restore it or move it aside"
    elif "readonly" in lowered or "read-only" in lowered:
        hint = "the database (or its folder) is read-only; fix its permissions"
    elif "full" in lowered:
        hint = "the disk is full; free space and run again: results recorded so far are kept"
    elif "locked" in lowered or "busy" in lowered:
        hint = "another program holds the database; stop it and run again"
    elif "unable to open" in lowered:
        hint = "cannot open the file; check that its folder exists and is writable"
    else:
        hint = "SQLite error"
    return f"{database}: {hint} ({text})"


def no_database(database: Path | str) -> StoreError:
    return StoreError(f"{database}: no database here (run `runner load` or `runner run` first)")


def schema_problem(version: int, latest: int, database: Path | str, *, reader: bool) -> str | None:
    """Why a database of schema ``version`` cannot be used, or None if it can.

    A writer migrates anything older than ``latest``; a reader cannot migrate, so it
    needs at least ``OLDEST_READABLE``.
    """
    if version > latest:
        return (
            f"{database}: database schema version {version} is newer than this runner "
            f"knows ({latest}); upgrade runner"
        )
    if reader and version == 0:
        return f"{database}: not a runner database (no schema version)"
    if reader and version < OLDEST_READABLE:
        return (
            f"{database}: database schema version {version} is older than this runner "
            f"reads ({OLDEST_READABLE}); run `runner load` or `runner run` once to upgrade"
        )
    return None


@contextlib.asynccontextmanager
async def explained(database: Path | str) -> AsyncIterator[None]:
    """SQLite failures become a one-line StoreError naming the database and the cause."""
    try:
        yield
    except sqlite3.Error as error:
        raise StoreError(describe(error, database)) from None


async def schema_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute(Q.user_version) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def open_writer(path: Path | str, *, create: bool = True) -> aiosqlite.Connection:
    """The writer connection, WAL, migrated to the latest schema; ``":memory:"`` works too."""
    if not create and str(path) != ":memory:" and not Path(path).exists():
        raise no_database(path)
    if str(path) != ":memory:":
        prepare_file(Path(path))
    async with explained(path):
        conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        async with explained(path):
            for pragma in (
                Q.writer_busy_timeout, Q.journal_wal, Q.synchronous_normal, Q.foreign_keys_on
            ):
                await conn.execute(pragma)
            await _migrate(conn, path, read_migrations(migrations_dir()))
    except BaseException:
        await conn.close()
        raise
    return conn


def prepare_file(path: Path) -> None:
    """Before SQLite opens ``path`` (it follows links, and creates with the umask's mode):
    refuse a shared folder and symlinks, and create the file 0640 (safefiles)."""
    check_folder(path.parent, "the database's folder")
    for part in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        refuse_symlink(part)
    create_private(path)


async def _migrate(
    conn: aiosqlite.Connection, path: Path | str, migrations: list[tuple[int, str]]
) -> None:
    current = await schema_version(conn)
    latest = migrations[-1][0] if migrations else 0
    problem = schema_problem(current, latest, path, reader=False)
    if problem is not None:
        raise StoreError(problem)
    for version, script in migrations:
        if version > current:
            await conn.execute(Q.foreign_keys_off)  # a script may rebuild a table (0006)
            try:
                # executescript commits first; the script runs in its own transaction.
                await conn.executescript(
                    f"{Q.begin_immediate};\n{script}\n"
                    f"{Q.set_user_version.format(version=int(version))};\n{Q.commit};"
                )
            finally:
                await conn.execute(Q.foreign_keys_on)


class Wait:
    """A writer's wait for another connection's write lock (begin, the group writer),
    counted from its first refusal: a load of this process, seeing one, commits now
    rather than at its cadence."""

    waiting = 0  # of this process, now

    def __init__(self) -> None:
        self.counted = False

    def __enter__(self) -> Wait:
        return self

    def __exit__(self, *_: object) -> None:
        if self.counted:
            Wait.waiting -= 1

    def refused(self) -> None:
        if not self.counted:
            Wait.waiting += 1
            self.counted = True


def writers_waiting() -> bool:
    """Whether a writer of this process waits for the write lock (another process's
    senders are seen by their lock: runner.storage.db.cadence)."""
    return Wait.waiting > 0


async def begin(conn: aiosqlite.Connection) -> None:
    """``BEGIN IMMEDIATE``, retried every few ms for up to BUSY_SECONDS while another
    connection (a load, a run) holds the write lock."""
    deadline = time.monotonic() + BUSY_SECONDS
    with Wait() as wait:
        while True:
            try:
                await conn.execute(Q.begin_immediate)
                return
            except sqlite3.OperationalError as error:
                busy = "locked" in str(error) or "busy" in str(error)
                if not busy or time.monotonic() >= deadline:
                    raise
            wait.refused()
            await asyncio.sleep(BUSY_POLL_SECONDS)


def reader_uri(database: Path, *, wal_exists: bool, folder_writable: bool) -> str:
    """The URI a reader opens ``database`` with.

    ``mode=ro`` cannot create or change the file; but when no ``-wal`` exists (no
    writer has it open) and the folder is not writable, SQLite cannot create the
    ``-wal``/``-shm`` a WAL database needs and ``mode=ro`` fails: ``immutable=1``
    then reads the file as it is, safe because no writer is active. While a ``-wal``
    exists a writer may be active, so immutable (which ignores it) is never used
    then. The path is URL-quoted: ``?``, ``#`` and ``%`` are legal in file names.
    """
    flag = "mode=ro" if wal_exists or folder_writable else "immutable=1"
    return "file:" + urllib.parse.quote(str(database.resolve())) + "?" + flag


async def open_reader(database: Path) -> aiosqlite.Connection:
    """A read-only connection to a database of a schema this runner reads."""
    if not database.is_file():
        raise no_database(database)
    uri = reader_uri(
        database,
        wal_exists=Path(f"{database}-wal").exists(),
        folder_writable=os.access(database.parent, os.W_OK),
    )
    async with explained(database):
        conn = await aiosqlite.connect(uri, uri=True, iter_chunk_size=CHUNK_ROWS)
    try:
        async with explained(database):
            await conn.execute(Q.busy_timeout)
            problem = schema_problem(
                await schema_version(conn), latest_version(), database, reader=True
            )
        if problem is not None:
            raise StoreError(problem)
    except BaseException:
        await conn.close()
        raise
    return conn
