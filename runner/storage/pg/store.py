"""The PostgreSQL queue: :class:`runner.storage.store.Store`'s twin, for many processes
on many hosts.

The same :class:`runner.storage.queue.Queue` (and, through
:class:`runner.storage.pg.reader.PgReader`, :class:`runner.storage.queue.Reader`), the same
loading and operator methods. Differences that come from sharing the queue between hosts:
claims skip the rows another claim has locked (two processes never claim one record), loads
COPY each batch into a temporary table and insert it with ``ON CONFLICT DO NOTHING``, and a
recovery of records left in flight can be limited to one account (the one a process has just
taken over). One connection; its transactions are taken one at a time under an
``asyncio.Lock``, as in the SQLite store.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.core.states import BlockReason, RecordState, StopReason
from runner.intake.inputs import FileStamp, InvalidRow, Row
from runner.storage.db import params
from runner.storage.db.drainwrites import BODY_LIMIT, block_statement_names
from runner.storage.db.jobs import campaign_spelling
from runner.storage.db.loading import LoadCounts
from runner.storage.db.queries import PQ
from runner.storage.groupcommit import GroupCommit
from runner.storage.pg.connection import explained, open_writer, schema_version
from runner.storage.pg.operator import PgOperatorCommands
from runner.storage.pg.reader import Connection, PgReader
from runner.storage.pg.url import PgUrl
from runner.storage.queue import Claim, GuardSettings, Queue, Reader, SenderNote, Settlement


class PgStore(PgOperatorCommands):
    """The queue on PostgreSQL: loading, claiming, settling, the operator's commands."""

    def __init__(self, conn: Connection, database: PgUrl) -> None:
        super().__init__(conn, database)
        self._write_lock: asyncio.Lock | None = None
        self._settlements = GroupCommit(self._write_settlements)

    @classmethod
    async def open(cls, database: PgUrl, *, create: bool = True) -> PgStore:
        return cls(await open_writer(database, create=create), database)

    async def __aenter__(self) -> PgStore:
        return self

    async def close(self) -> None:
        await self._settlements.flush()  # answers already received are committed first
        await super().close()

    async def schema_version(self) -> int:
        return await schema_version(self._conn)

    def _lock(self) -> asyncio.Lock:
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Connection]:
        async with self._lock(), explained(self.path), self._conn.transaction():
            yield self._conn

    # Reads take the lock too: between its statements another task's transaction (and the
    # settlements' pipeline) leaves the connection busy, and a read slipped in there fails
    # with "another command is already in progress" (two workers, 50 accounts each).
    async def _fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with self._lock():
            return await super()._fetchall(sql, params)

    async def _fetchone(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        async with self._lock():
            return await super()._fetchone(sql, params)

    async def _write(self, sql: str, params: Any = None) -> int:
        """One statement in its own transaction; the rows it changed."""
        async with self._transaction() as conn:
            cursor = await conn.execute(sql, params)
            return cursor.rowcount

    async def _insert(self, sql: str, params: dict[str, Any]) -> int:
        """An insert returning an id, in its own transaction; the id (0: none inserted)."""
        async with self._transaction() as conn:
            row = await (await conn.execute(sql, params)).fetchone()
            return int(row[0]) if row else 0

    # -- jobs and loading --------------------------------------------------

    async def ensure_job(
        self,
        name: str,
        account: str,
        campaign: str | Sequence[str],
        number_format: str = "as_is",
        account_identity: str | None = None,
    ) -> int:
        """The id of job ``name``, created if new (see runner.storage.store.Store.ensure_job)."""
        campaigns, shown, listed = campaign_spelling(campaign)
        row = await self._fetchone(PQ.job_by_name, {"name": name})
        if row is not None:
            return await self._known_job(row, name, (account, shown, number_format),
                                         account_identity)  # fmt: skip
        job = params.new_job(name, account, (shown, listed), number_format, account_identity)
        job_id = await self._insert(PQ.insert_job, job)
        if job_id == 0:  # another process created it meanwhile: check it as above
            return await self.ensure_job(name, account, campaigns, number_format, account_identity)
        return job_id

    async def set_job_guard(self, job_id: int, guard: GuardSettings | None) -> None:
        await self._write(PQ.set_job_guard, {"id": job_id, "guard": params.guard_text(guard)})

    async def source(self, job_id: int, path: Path, stamp: FileStamp) -> tuple[int, bool]:
        """(source id, already fully loaded unchanged) for an input file of a job, whose
        size and time the loader read (the store reads no input file)."""
        row = await self._fetchone(PQ.source_by_path, {"job_id": job_id, "path": str(path)})
        if row is not None:
            return params.source_state(row, stamp)
        source_id = await self._insert(PQ.insert_source, params.new_source(job_id, path, stamp))
        if source_id == 0:  # another process is loading the same file: both insert, once
            return await self.source(job_id, path, stamp)
        return source_id, False

    async def mark_loaded(self, source_id: int, stamp: FileStamp) -> None:
        await self._write(PQ.mark_source_loaded, params.loaded_source(source_id, stamp))

    async def insert_all(
        self,
        job_id: int,
        source_id: int,
        batches: AsyncIterator[Sequence[Row | InvalidRow]],
        campaigns: Sequence[str] = (),
    ) -> LoadCounts:
        """Enqueue a whole input, one transaction per batch (PostgreSQL has row locks:
        a drain beside the load never waits for more than one batch); one record per
        number and campaign (``campaigns`` empty: the job's one campaign)."""
        campaigns = campaigns or await self._job_campaigns(job_id)
        counts = LoadCounts()
        async for batch in batches:
            async with self._transaction() as conn:
                counts += await _insert_batch(conn, job_id, source_id, batch, campaigns)
        return counts

    async def _job_campaigns(self, job_id: int) -> tuple[str, ...]:
        row = await self._fetchone(PQ.job_campaigns, {"id": job_id})
        assert row is not None, f"no job {job_id}"
        return params.job_campaigns(row)

    # -- the queue (runner.storage.queue.Queue) ------------------------------------

    async def claim_many(
        self, job_ids: Sequence[int], account: str, count: int, now: float
    ) -> list[Claim]:
        claims: list[Claim] = []
        async with self._transaction() as conn:
            for job_id in job_ids:
                params = {"job_id": job_id, "now": now, "count": count - len(claims)}
                rows = await (await conn.execute(PQ.claim, params)).fetchall()
                for record_id, job, phone, name, attempts, _, interrupted, campaign in sorted(
                    rows, key=lambda row: (-row[5], row[0])
                ):
                    claims.append(
                        Claim(int(record_id), int(job), phone, name, int(attempts), account,
                              now, bool(interrupted), campaign)
                    )  # fmt: skip
                if len(claims) >= count:
                    break
        return claims

    async def release(self, claim: Claim) -> None:
        await self._write(PQ.release, {"id": claim.record_id})

    async def next_due(self, job_ids: Sequence[int]) -> float | None:
        row = await self._fetchone(PQ.next_due, {"job_ids": list(job_ids)})
        return None if row is None or row[0] is None else float(row[0])

    async def settle(self, claim: Claim, settlement: Settlement) -> None:
        await self.settle_many([(claim, settlement)])

    async def settle_many(self, answers: Sequence[tuple[Claim, Settlement]]) -> None:
        """Record these answers; returns once committed (answers arriving together share
        a transaction: runner.storage.groupcommit)."""
        await self._settlements.add(answers)

    async def _write_settlements(self, batch: list[tuple[Claim, Settlement]]) -> None:
        # Pipeline mode: the batch's statements go out without waiting for each answer.
        async with self._transaction() as conn, conn.pipeline():
            for claim, settlement in batch:
                await _write_settlement(conn, claim, settlement)

    async def block_job(self, job_id: int, reason: BlockReason, message: str) -> None:
        await self._write(PQ.block_job, {"id": job_id, "reason": reason, "message": message})

    async def stop_account(self, account: str, reason: StopReason, message: str, at: float) -> None:
        await self._write(
            PQ.stop_account,
            {"account": account, "reason": reason, "message": message, "stopped_at": at},
        )

    async def recover_in_flight(self, now: float, account: str | None = None) -> int:
        """Records left ``in_flight`` back to pending, marked ``interrupted``, with an
        ``interrupted`` audit row; only those of ``account`` when given (a process that
        has just taken an account over: other accounts' records may be in flight)."""
        async with self._transaction() as conn:
            await conn.execute(PQ.audit_interrupted, {"now": now, "account": account})
            cursor = await conn.execute(PQ.requeue_interrupted, {"account": account})
            return cursor.rowcount

    async def clear_account_stops(self) -> None:
        await self._write(PQ.clear_account_stops)

    async def recent_starts(self, account: str, since: float, limit: int) -> list[float]:
        rows = await self._fetchall(
            PQ.recent_starts, {"account": account, "since": since, "limit": limit}
        )
        return sorted(float(row[0]) for row in rows)

    async def token_generations(self, identity: str, since: float) -> list[float]:
        rows = await self._fetchall(PQ.token_generations, {"identity": identity, "since": since})
        return [float(row[0]) for row in rows]

    async def add_token_generation(self, identity: str, at: float) -> None:
        await self._write(PQ.add_token_generation, {"identity": identity, "at": at})

    async def note_sender(self, note: SenderNote, now: float) -> None:
        await self._write(
            PQ.note_sender,
            {"account": note.account, "pid": note.pid, "database": note.database,
             "mode": note.mode, "state": note.state, "note": note.note,
             "until": note.until, "updated_at": now, "since": note.since,
             "host": socket.gethostname()},
        )  # fmt: skip

    async def note_job_waiting(self, job_id: int, why: str | None) -> None:
        await self._write(PQ.note_job_waiting, {"id": job_id, "why": why})


async def _insert_batch(
    conn: Connection,
    job_id: int,
    source_id: int,
    rows: Sequence[Row | InvalidRow],
    campaigns: Sequence[str],
) -> LoadCounts:
    """COPY a batch into load_rows (a valid row once per campaign), then queue it; records
    already queued are counted, and the lines repeating them kept as duplicates."""
    await conn.execute(PQ.create_load_rows)
    copied = [line for row in rows for line in _copied(row, campaigns)]
    async with conn.cursor() as cursor, cursor.copy(PQ.copy_load_rows) as copy:
        for seq, line in enumerate(copied):
            await copy.write_row((seq, *line))
    invalid = sum(isinstance(row, InvalidRow) for row in rows)
    valid = len(copied) - invalid
    params = {"job_id": job_id, "source_id": source_id}
    new = (await conn.execute(PQ.insert_record, params | {"state": RecordState.PENDING})).rowcount
    if new < valid:  # some numbers were there already: keep the repeating lines
        await conn.execute(PQ.insert_duplicate, params)
    await conn.execute(PQ.insert_record, params | {"state": RecordState.INVALID})
    return LoadCounts(new=new, duplicate=valid - new, invalid=invalid)


def _copied(row: Row | InvalidRow, campaigns: Sequence[str]) -> list[tuple[Any, ...]]:
    """The load_rows of one input row (after seq): one per campaign, or one invalid row."""
    if isinstance(row, Row):
        return [(row.line, row.phone, row.name, "pending", None, row.cell, campaign)
                for campaign in campaigns]  # fmt: skip
    raw = row.raw.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL
    return [(row.line, raw, None, "invalid", row.reason, raw, None)]


async def _write_settlement(conn: Connection, claim: Claim, s: Settlement) -> None:
    """The writes of one answer, inside the caller's transaction."""
    finished = None if s.state == RecordState.PENDING else s.finished_at
    await conn.execute(
        PQ.settle_record,
        (s.state, s.reason, s.attempts, s.not_before, s.http_status, s.message, finished,
         claim.record_id),
    )  # fmt: skip
    await conn.execute(
        PQ.insert_request,
        (claim.record_id, claim.job_id, claim.account, claim.started_at, s.finished_at,
         s.http_status, s.outcome, s.message, s.body[:BODY_LIMIT], s.deleted_count,
         claim.campaign, claim.job_id),
    )  # fmt: skip
    if s.block_job is not None:
        block, why = s.block_job
        params = {"id": claim.job_id, "reason": block, "message": why, "campaign": claim.campaign}
        for name in block_statement_names(block, claim.campaign):
            await conn.execute(getattr(PQ, name), params)
    if s.stop_account is not None:
        stop, why = s.stop_account
        await conn.execute(
            PQ.stop_account,
            {"account": claim.account, "reason": stop, "message": why,
             "stopped_at": s.finished_at},
        )  # fmt: skip


if TYPE_CHECKING:

    def _implements(store: PgStore, reader: PgReader) -> tuple[Queue, Reader, Reader]:
        return store, store, reader
