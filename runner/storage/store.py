"""The SQLite queue: jobs, records, and the audit trail of every request.

:class:`Store` implements :class:`runner.storage.queue.Queue` (what the drain asks) and,
through :class:`runner.storage.db.reader.DbReader`, :class:`runner.storage.queue.Reader` (what
``runner status`` reads). The SQL is in ``runner/storage/db/queries.sql``.

One writer connection in autocommit mode; every write is one ``BEGIN
IMMEDIATE … COMMIT`` taken under an ``asyncio.Lock``, because coroutines
sharing an aiosqlite connection share its transaction. Answers are
group-committed. A result is committed before the record counts as done.
Times are passed in by the caller, except the creation times written while
loading.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import aiosqlite

from runner.core.states import BlockReason, StopReason
from runner.intake.inputs import FileStamp, InvalidRow, Row
from runner.storage.db import cadence, drainwrites, loading, params
from runner.storage.db.connection import begin, explained, open_writer
from runner.storage.db.connection import schema_version as _schema_version
from runner.storage.db.drainwrites import BODY_LIMIT as BODY_LIMIT
from runner.storage.db.jobs import campaign_spelling
from runner.storage.db.loading import LoadCounts
from runner.storage.db.operator import OperatorCommands
from runner.storage.db.queries import Q
from runner.storage.db.reader import DbReader
from runner.storage.db.writer import GroupWriter
from runner.storage.queue import Claim, GuardSettings, Queue, Reader, SenderNote, Settlement


class Store(OperatorCommands):
    """The queue: loading, claiming, settling, the operator's commands, the reports."""

    def __init__(self, conn: aiosqlite.Connection, path: Path | str) -> None:
        super().__init__(conn, path)
        self._write_lock: asyncio.Lock | None = None  # made inside the running loop
        # Claims, releases and answers: merged transactions, one thread hop each.
        self._writer = GroupWriter(conn, self._lock, path, drainwrites.settlements)

    # -- opening -----------------------------------------------------------

    @classmethod
    async def open(cls, path: Path | str, *, create: bool = True) -> Store:
        """Open (and create or migrate) the database at ``path``; ``":memory:"`` works too."""
        return cls(await open_writer(path, create=create), path)

    async def close(self) -> None:
        if self._writer.task is not None:
            with contextlib.suppress(Exception):
                await self._writer.task  # answers already received are committed first
        await self._conn.close()

    async def __aenter__(self) -> Store:
        return self

    async def schema_version(self) -> int:
        return await _schema_version(self._conn)

    def _lock(self) -> asyncio.Lock:
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time on the shared writer connection.

        Claims and releases take one too (not autocommit statements): waiting for
        another process's write lock is then done by ``begin``, which polls often.
        """
        async with self._lock(), explained(self.path):
            await begin(self._conn)
            try:
                yield self._conn
                await self._conn.execute(Q.commit)
            except BaseException:
                # Also when COMMIT itself failed (a full disk): never leave it open.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await self._conn.execute(Q.rollback)
                raise

    # -- jobs and loading --------------------------------------------------

    async def ensure_job(
        self,
        name: str,
        account: str,
        campaign: str | Sequence[str],
        number_format: str = "as_is",
        account_identity: str | None = None,
    ) -> int:
        """The id of job ``name``, created if new (with the account's identity); a job
        loaded again is checked, or its campaign corrected, by runner.storage.db.jobs."""
        _, shown, listed = campaign_spelling(campaign)
        row = await self._fetchone(Q.job_by_name, {"name": name})
        if row is not None:
            return await self._known_job(row, name, (account, shown, number_format),
                                         account_identity)  # fmt: skip
        job = params.new_job(name, account, (shown, listed), number_format, account_identity)
        async with self._transaction() as conn:
            cursor = await conn.execute(Q.insert_job, job)
            return int(cursor.lastrowid or 0)

    async def set_job_guard(self, job_id: int, guard: GuardSettings | None) -> None:
        async with self._transaction() as conn:
            await conn.execute(Q.set_job_guard, {"id": job_id, "guard": params.guard_text(guard)})

    async def source(self, job_id: int, path: Path, stamp: FileStamp) -> tuple[int, bool]:
        """(source id, already fully loaded unchanged) for an input file of a job, whose
        size and time the loader read (the store reads no input file)."""
        row = await self._fetchone(Q.source_by_path, {"job_id": job_id, "path": str(path)})
        if row is not None:
            return params.source_state(row, stamp)
        async with self._transaction() as conn:
            cursor = await conn.execute(Q.insert_source, params.new_source(job_id, path, stamp))
            return int(cursor.lastrowid or 0), False

    async def mark_loaded(self, source_id: int, stamp: FileStamp) -> None:
        async with self._transaction() as conn:
            await conn.execute(Q.mark_source_loaded, params.loaded_source(source_id, stamp))

    async def insert_all(
        self,
        job_id: int,
        source_id: int,
        batches: AsyncIterator[Sequence[Row | InvalidRow]],
        campaigns: Sequence[str] = (),
    ) -> LoadCounts:
        """Enqueue a whole input in short transactions (see runner.storage.db.loading); one record
        per number and campaign (``campaigns`` empty: the job's one campaign)."""
        campaigns = campaigns or await self._job_campaigns(job_id)
        async with self._lock(), explained(self.path):
            return await loading.insert_all(
                self._conn, job_id, source_id, batches, campaigns,
                cadence=lambda: cadence.for_database(self.path),
            )  # fmt: skip

    async def _job_campaigns(self, job_id: int) -> tuple[str, ...]:
        row = await self._fetchone(Q.job_campaigns, {"id": job_id})
        assert row is not None, f"no job {job_id}"
        return params.job_campaigns(row)

    # -- the queue (runner.storage.queue.Queue) ------------------------------------

    async def claim_many(
        self, job_ids: Sequence[int], account: str, count: int, now: float
    ) -> list[Claim]:
        """Take up to ``count`` due records, from the first jobs that have them.

        Due retries go before fresh records, then file order; one statement per
        job, all in one transaction. The claims start at ``now``.
        """
        return await self._writer.run(
            lambda raw: drainwrites.claim(raw, job_ids, account, count, now)
        )

    async def release(self, claim: Claim) -> None:
        """Give a claimed record back unsent or unanswered (shutdown): no attempt used."""
        await self._writer.run(lambda raw: drainwrites.release(raw, claim.record_id))

    async def next_due(self, job_ids: Sequence[int]) -> float | None:
        """When the earliest pending record of these jobs may be sent, or None if none is."""
        row = await self._fetchone(Q.next_due, {"job_ids": json.dumps(list(job_ids))})
        return None if row is None or row[0] is None else float(row[0])

    async def settle(self, claim: Claim, settlement: Settlement) -> None:
        """Record the answer to one request: the record, its audit row, any block or stop."""
        await self.settle_many([(claim, settlement)])

    async def settle_many(self, answers: Sequence[tuple[Claim, Settlement]]) -> None:
        """Record these answers; returns once committed.

        Answers arriving together are committed together (group commit): one
        transaction for many records costs about as much as one for a single
        record, which keeps the queue's overhead far below the API's.
        """
        await self._writer.add(answers)

    async def block_job(self, job_id: int, reason: BlockReason, message: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(Q.block_job, {"id": job_id, "reason": reason, "message": message})

    async def stop_account(self, account: str, reason: StopReason, message: str, at: float) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                Q.stop_account,
                {"account": account, "reason": reason, "message": message, "stopped_at": at},
            )

    async def recover_in_flight(self, now: float) -> int:
        """Records left ``in_flight`` by a run that died go back to pending, marked
        ``interrupted``; each gets an ``interrupted`` audit row started at ``now``."""
        async with self._transaction() as conn:
            await conn.execute(Q.audit_interrupted, {"now": now})
            cursor = await conn.execute(Q.requeue_interrupted)
            return cursor.rowcount

    async def clear_account_stops(self) -> None:
        async with self._transaction() as conn:
            await conn.execute(Q.clear_account_stops)

    async def recent_starts(self, account: str, since: float, limit: int) -> list[float]:
        """Start times of the latest requests of an account, oldest first."""
        rows = await self._fetchall(
            Q.recent_starts, {"account": account, "since": since, "limit": limit}
        )
        return sorted(float(row[0]) for row in rows)

    async def token_generations(self, identity: str, since: float) -> list[float]:
        """When tokens were generated for an account identity since ``since``, oldest first."""
        rows = await self._fetchall(Q.token_generations, {"identity": identity, "since": since})
        return [float(row[0]) for row in rows]

    async def add_token_generation(self, identity: str, at: float) -> None:
        """Count one token generation: the time only, never the token."""
        async with self._transaction() as conn:
            await conn.execute(Q.add_token_generation, {"identity": identity, "at": at})

    async def note_sender(self, note: SenderNote, now: float) -> None:
        """Replace the account's note of who sends for it and how it is doing."""
        async with self._transaction() as conn:
            await conn.execute(
                Q.note_sender,
                {"account": note.account, "pid": note.pid, "database": note.database,
                 "mode": note.mode, "state": note.state, "note": note.note,
                 "until": note.until, "updated_at": now, "since": note.since},
            )  # fmt: skip

    async def note_job_waiting(self, job_id: int, why: str | None) -> None:
        async with self._transaction() as conn:
            await conn.execute(Q.note_job_waiting, {"id": job_id, "why": why})

    # -- operator commands -------------------------------------------------

    async def retry(
        self, job_name: str | None = None, campaign: str | None = None
    ) -> tuple[int, int]:
        """Failed records and blocked jobs and campaigns back to pending (only ``campaign``'s
        when given): (records, blocks lifted)."""
        chosen = {"job": job_name, "campaign": campaign}
        async with self._transaction() as conn:
            records = await conn.execute(Q.retry_failed_records, chosen)
            await conn.execute(
                Q.clear_guard, {"job": job_name, "guard": BlockReason.NOT_FOUND_GUARD}
            )
            jobs = await conn.execute(Q.unblock_jobs, chosen)
            campaigns = await conn.execute(Q.unblock_campaigns, chosen)
            return records.rowcount, jobs.rowcount + campaigns.rowcount

# Kept importable from here: older callers import them from the store.
block_statements = drainwrites.block_statements


if TYPE_CHECKING:  # mypy checks here that the store is what the drain and status use

    def _implements(store: Store, reader: DbReader) -> tuple[Queue, Reader, Reader]:
        return store, store, reader
