"""Loading records in short write transactions, so a runner draining the same
database (another process) never waits long for its own commits.

A load commits whenever its transaction has held the write lock for a while or
holds enough rows (runner.storage.db.cadence: 0.1 s while another process drains the
database, longer while none does), and leaves the write lock free for a moment
(``YIELD_SECONDS``) after each commit: SQLite has no queue of waiting writers,
and a writer only gets the lock if it is free when it looks (the store's
writers look every few milliseconds, see runner.storage.db.connection.begin).
Committing every 5,000-row batch instead rewrote the same index pages into the
WAL again and again; a crash mid-way loses at most the uncommitted part, which
the next load inserts again.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Final

import aiosqlite

from runner.core.clock import Ticks
from runner.intake.inputs import InvalidRow, Row
from runner.storage.db.cadence import SHORT, Cadence
from runner.storage.db.connection import begin
from runner.storage.db.queries import Q

# Rows sent to SQLite per executemany while loading (the loader's batch size).
INSERT_BATCH: Final = 5000
YIELD_SECONDS: Final = 0.005
# The order of insert_record's parameters, named for insert_duplicate.
RECORD_KEYS: Final = ("job_id", "source_id", "line", "phone", "name", "cell", "campaign")


@dataclass(frozen=True, slots=True)
class LoadCounts:
    new: int = 0
    duplicate: int = 0
    invalid: int = 0

    def __add__(self, other: LoadCounts) -> LoadCounts:
        return LoadCounts(
            self.new + other.new,
            self.duplicate + other.duplicate,
            self.invalid + other.invalid,
        )


async def insert_batch(
    conn: aiosqlite.Connection,
    job_id: int,
    source_id: int,
    rows: Sequence[Row | InvalidRow],
    campaigns: Sequence[str],
) -> LoadCounts:
    """Enqueue parsed rows inside the caller's transaction; records already there are
    counted. A valid row is one record per campaign, next to each other (so a blocked
    campaign's records never stand long between a claim and the next sendable one);
    an invalid row is one record of the job."""
    valid = [
        (job_id, source_id, r.line, r.phone, r.name, r.cell, campaign)
        for r in rows if isinstance(r, Row)
        for campaign in campaigns
    ]  # fmt: skip
    invalid = [
        (job_id, source_id, r.line, r.raw, r.reason, r.raw)
        for r in rows
        if isinstance(r, InvalidRow)
    ]
    before = conn.total_changes
    await conn.executemany(Q.insert_record, valid)
    new = conn.total_changes - before
    if new < len(valid):  # some numbers were there already: keep the repeating lines
        named = [dict(zip(RECORD_KEYS, values, strict=True)) for values in valid]
        await conn.executemany(Q.insert_duplicate, named)
    await conn.executemany(Q.insert_invalid_record, invalid)
    return LoadCounts(new=new, duplicate=len(valid) - new, invalid=len(invalid))


async def insert_all(
    conn: aiosqlite.Connection,
    job_id: int,
    source_id: int,
    batches: AsyncIterator[Sequence[Row | InvalidRow]],
    campaigns: Sequence[str],
    clock: Ticks = time.monotonic,
    cadence: Callable[[], Cadence] = lambda: SHORT,
) -> LoadCounts:
    """Enqueue a whole input in short transactions (the caller holds the store's lock)."""
    counts = LoadCounts()
    rows = 0
    started = 0.0
    in_transaction = False
    try:
        async for batch in batches:
            if not in_transaction:
                await begin(conn)
                in_transaction, started, rows = True, clock(), 0
            counts += await insert_batch(conn, job_id, source_id, batch, campaigns)
            rows += len(batch)
            if cadence().due(rows, started, clock()):
                await conn.execute(Q.commit)
                in_transaction = False
                await asyncio.sleep(YIELD_SECONDS)  # let a waiting writer in
        if in_transaction:
            await conn.execute(Q.commit)
            in_transaction = False
    finally:
        if in_transaction:  # also when COMMIT itself failed (a full disk)
            with contextlib.suppress(sqlite3.Error, ValueError):
                await conn.execute(Q.rollback)
    return counts
