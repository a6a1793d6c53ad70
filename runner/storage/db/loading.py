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

What a million-row load costs is SQLite's: its inserts into ``records`` and its
indexes, above all the identity index, which takes the numbers in random order. The
rest is kept off that path: a batch is one statement per STATEMENT_ROWS records,
read from JSON by SQLite (not a million bound tuples, nor a GIL hand-over per row),
built while the previous batch is written; while the load runs its connection has a
larger page cache, statement journals in memory, and checkpoints only at the
cadence's pace (runner.storage.db.cadence).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Final

import aiosqlite

from runner.core.clock import Ticks
from runner.core.errors import first_error
from runner.intake.inputs import InvalidRow, Row
from runner.storage.db.cadence import SHORT, Cadence
from runner.storage.db.connection import begin, writers_waiting
from runner.storage.db.queries import Q
from runner.storage.db.writer import on_thread

# Rows the loader parses at a time (runner.commands.loader) and hands to insert_all.
INSERT_BATCH: Final = 5000
# Records per insert_record statement. One statement, one step: SQLite's thread holds the
# GIL once per statement, not once per row (the parser's thread runs meanwhile). A
# statement that calls SQL functions (json_extract) keeps a journal of the pages it
# changes, in memory while loading (load_temp_store): this bounds it to about 4 MB.
STATEMENT_ROWS: Final = 1000
YIELD_SECONDS: Final = 0.005
# SQLite's page cache while loading (KiB; its default is 2,000). The identity index of a
# million records is about 27 MB and takes the numbers in random order: in a 2 MB cache
# nearly every insert reads a page, and writes one out to make room. The peak RSS of
# `runner load` of a million rows stays under 100 MB (bench/: memory).
LOAD_CACHE_KIB: Final = 24 * 1024
# A valid record's values, named for insert_duplicate (insert_record reads the last five
# from its JSON array).
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


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch as its statements bind it, built while the previous batch is written."""

    rows: int  # input rows, for the cadence
    job_source: tuple[int, int]
    # (records, JSON array of as many [line, phone, name, cell, campaign]), in file order
    valid: list[tuple[int, str]]
    invalid: list[tuple[object, ...]]  # insert_invalid_record's

    @classmethod
    def of(
        cls, job_id: int, source_id: int, rows: Sequence[Row | InvalidRow], campaigns: Sequence[str]
    ) -> Prepared:
        """A valid row is one record per campaign, next to each other (so a blocked
        campaign's records never stand long between a claim and the next sendable one);
        an invalid row is one record of the job."""
        valid = [
            (r.line, r.phone, r.name, r.cell, campaign)
            for r in rows if isinstance(r, Row)
            for campaign in campaigns
        ]  # fmt: skip
        invalid: list[tuple[object, ...]] = [
            (job_id, source_id, r.line, r.raw, r.reason, r.raw)
            for r in rows
            if isinstance(r, InvalidRow)
        ]
        return cls(len(rows), (job_id, source_id), json_chunks(valid), invalid)


def json_chunks(values: Sequence[tuple[object, ...]]) -> list[tuple[int, str]]:
    """``values`` as JSON arrays of at most STATEMENT_ROWS each, with their lengths (a
    million bound tuples cost more than the JSON that SQLite reads back in C)."""
    chunks = (
        values[start : start + STATEMENT_ROWS] for start in range(0, len(values), STATEMENT_ROWS)
    )
    return [(len(chunk), json.dumps(chunk, ensure_ascii=False)) for chunk in chunks]


async def insert_batch(conn: aiosqlite.Connection, batch: Prepared) -> LoadCounts:
    """Enqueue a batch inside the caller's transaction, in one call on SQLite's thread
    (between two statements it only waits for the GIL, not for the event loop too)."""
    return await on_thread(conn, write_batch, batch)


def write_batch(raw: sqlite3.Connection, batch: Prepared) -> LoadCounts:
    """The batch's records; records already there are counted, and the lines repeating
    them kept as duplicates."""
    job_id, source_id = batch.job_source
    counts = LoadCounts(invalid=len(batch.invalid))
    for records, rows in batch.valid:
        before = raw.total_changes
        raw.execute(Q.insert_record, {"job_id": job_id, "source_id": source_id, "rows": rows})
        new = raw.total_changes - before
        if new < records:  # some numbers were there already: keep the repeating lines
            keyed = [(*batch.job_source, *row) for row in json.loads(rows)]
            named = [dict(zip(RECORD_KEYS, row, strict=True)) for row in keyed]
            raw.executemany(Q.insert_duplicate, named)
        counts += LoadCounts(new=new, duplicate=records - new)
    raw.executemany(Q.insert_invalid_record, batch.invalid)
    return counts


async def insert_all(
    conn: aiosqlite.Connection,
    job_id: int,
    source_id: int,
    batches: AsyncIterator[Sequence[Row | InvalidRow]],
    campaigns: Sequence[str],
    clock: Ticks = time.monotonic,
    cadence: Callable[[], Cadence] = lambda: SHORT,
) -> LoadCounts:
    """Enqueue a whole input in short transactions (the caller holds the store's lock).

    Each batch is prepared (its JSON built) while the one before it is written: SQLite's
    thread then never waits for Python between two batches."""
    prepared: asyncio.Queue[Prepared | None] = asyncio.Queue(maxsize=1)

    async def prepare() -> None:
        async for batch in batches:
            await prepared.put(Prepared.of(job_id, source_id, batch, campaigns))
        await prepared.put(None)  # the end

    await set_pragmas(conn, Q.load_cache_size.format(kib=int(LOAD_CACHE_KIB)),
                      Q.load_temp_store, Q.load_no_autocheckpoint)  # fmt: skip
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(prepare())
            return await write_all(conn, prepared, clock, cadence)
    except BaseExceptionGroup as failure:
        raise first_error(failure) from None
    finally:
        await set_pragmas(conn, Q.default_cache_size, Q.default_temp_store,
                          Q.default_autocheckpoint, cadence().final)  # fmt: skip


async def set_pragmas(conn: aiosqlite.Connection, *pragmas: str) -> None:
    """Also after a failure (a full disk: the checkpoint fails, the settings do not). Each
    statement is closed: a checkpoint answers a row, and an open one blocks a commit."""
    for pragma in pragmas:
        with contextlib.suppress(sqlite3.Error, ValueError):
            await (await conn.execute(pragma)).close()


async def write_all(
    conn: aiosqlite.Connection,
    prepared: asyncio.Queue[Prepared | None],
    clock: Ticks,
    cadence: Callable[[], Cadence],
) -> LoadCounts:
    """Write the prepared batches up to the end (None), committing as the cadence says."""
    counts = LoadCounts()
    rows = commits = 0
    started = 0.0
    in_transaction = False
    try:
        while (batch := await prepared.get()) is not None:
            if not in_transaction:
                await begin(conn)
                in_transaction, started, rows = True, clock(), 0
            counts += await insert_batch(conn, batch)
            rows += batch.rows
            if (now := cadence()).due(rows, started, clock()) or writers_waiting():
                await conn.execute(Q.commit)
                in_transaction, commits = False, commits + 1
                if commits % now.checkpoint_every == 0:
                    await set_pragmas(conn, Q.checkpoint)
                await asyncio.sleep(YIELD_SECONDS)  # let a waiting writer in
        if in_transaction:
            await conn.execute(Q.commit)
            in_transaction = False
    finally:
        if in_transaction:  # also when COMMIT itself failed (a full disk)
            with contextlib.suppress(sqlite3.Error, ValueError):
                await conn.execute(Q.rollback)
    return counts
