"""runner.storage.db.writer.GroupWriter on a real SQLite file: merged transactions, one hop each."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from runner.core.errors import StoreError
from runner.storage.db.writer import GroupWriter


@pytest.fixture
async def conn(tmp_path: Path) -> AsyncIterator[aiosqlite.Connection]:
    connection = await aiosqlite.connect(tmp_path / "w.db", isolation_level=None)
    await connection.execute("PRAGMA journal_mode = WAL")
    await connection.execute("CREATE TABLE t (v INTEGER NOT NULL)")
    yield connection
    await connection.close()


def make_writer(conn: aiosqlite.Connection, batches: list[list[Any]]) -> GroupWriter:
    lock = asyncio.Lock()

    def write_items(raw: sqlite3.Connection, items: list[Any]) -> None:
        batches.append(list(items))
        raw.executemany("INSERT INTO t VALUES (?)", [(item,) for item in items])

    return GroupWriter(conn, lambda: lock, "w.db", write_items)


def count(raw: sqlite3.Connection) -> int:
    return int(raw.execute("SELECT COUNT(*) FROM t").fetchone()[0])


async def test_answers_and_claims_queued_together_share_one_transaction(
    conn: aiosqlite.Connection,
) -> None:
    batches: list[list[Any]] = []
    writer = make_writer(conn, batches)
    results = await asyncio.gather(
        writer.add([1]), writer.add([2]), writer.run(count), writer.add([3]), writer.run(count)
    )
    # The items are written first, once, together; each op sees them and gets its result.
    assert batches == [[1, 2, 3]]
    assert results == [None, None, 3, None, 3]


async def test_a_failed_transaction_fails_every_operation_and_writes_nothing(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    writer = make_writer(conn, [])

    def broken(raw: sqlite3.Connection) -> None:
        raw.execute("INSERT INTO missing VALUES (1)")

    outcomes = await asyncio.gather(writer.add([1]), writer.run(broken), return_exceptions=True)
    assert all(isinstance(outcome, StoreError) for outcome in outcomes)
    assert await writer.run(count) == 0
    await writer.add([4])  # the writer goes on after a failure
    with closing(sqlite3.connect(tmp_path / "w.db")) as other:
        assert other.execute("SELECT v FROM t").fetchall() == [(4,)]


async def test_waits_for_another_connections_write_lock(
    conn: aiosqlite.Connection, tmp_path: Path
) -> None:
    writer = make_writer(conn, [])
    with closing(sqlite3.connect(tmp_path / "w.db", isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (7)")
        pending = asyncio.ensure_future(writer.add([8]))
        await asyncio.sleep(0.05)
        assert not pending.done()  # still waiting for the lock, not failed
        other.execute("COMMIT")
        await pending
        assert sorted(other.execute("SELECT v FROM t").fetchall()) == [(7,), (8,)]
