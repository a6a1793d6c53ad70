"""Reading a PostgreSQL queue: what ``runner status`` and ``runner export`` read.

:class:`PgReader` is :class:`runner.db.reader.DbReader` on PostgreSQL (the same
:class:`runner.queue.Reader` and export rows); :class:`runner.pg.store.PgStore`
extends it. A reader's session is read-only, so a role with only the select privilege is enough.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg

from runner.counts import Counts
from runner.db.queries import PQ
from runner.db.reader import Rows, job_of
from runner.numbers import MIN_DIGITS
from runner.pg.connection import explained, open_reader, schema_version
from runner.pg.url import PgUrl
from runner.queue import GuardSettings, Job, SenderNote
from runner.states import AFTER_INTERRUPTED, StopReason

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


def export_params(
    jobs: Sequence[str],
    states: Sequence[str],
    phones: Sequence[str],
    campaigns: Sequence[str] = (),
) -> dict[str, Any]:
    """The parameters of PQ.export_records / PQ.export_requests: each filter a text[]."""
    return {"jobs": list(jobs), "states": list(states), "phones": list(phones),
            "campaigns": list(campaigns), "min_digits": MIN_DIGITS}  # fmt: skip


def sender_of(row: Sequence[Any]) -> SenderNote:
    """A SenderNote from a row of PQ.senders; the host goes before the database."""
    account, pid, database, mode, state, note, until, updated_at, since, host = row
    where = f"{host}: {database}" if host else database
    return SenderNote(account, int(pid), where, mode, state, note, until, updated_at, since)


class PgReader:
    """The reports over one PostgreSQL connection (see :class:`runner.queue.Reader`)."""

    def __init__(self, conn: Connection, database: PgUrl) -> None:
        self._conn = conn
        self.path = database

    @staticmethod
    async def open_readonly(database: PgUrl) -> PgReader:
        return PgReader(await open_reader(database), database)

    @staticmethod
    async def is_empty(database: PgUrl) -> bool:
        """Whether no runner has used the database yet (status: nothing loaded, no error)."""
        conn = await open_reader(database, empty_ok=True)
        try:
            async with explained(database):
                return await schema_version(conn) == 0
        finally:
            await conn.close()

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> PgReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _fetchall(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        async with explained(self.path):
            cursor = await self._conn.execute(sql, params)
            return await cursor.fetchall()

    async def _fetchone(self, sql: str, params: Any = None) -> tuple[Any, ...] | None:
        async with explained(self.path):
            cursor = await self._conn.execute(sql, params)
            return await cursor.fetchone()

    async def jobs(self) -> list[Job]:
        return [job_of(row) for row in await self._fetchall(PQ.jobs)]

    async def job_names(self) -> list[str]:
        return [str(row[0]) for row in await self._fetchall(PQ.job_names)]

    async def state_counts(self) -> dict[int, Counts]:
        """{job id: its records in each state}."""
        counts: dict[int, dict[str, int]] = {}
        for job_id, state, count in await self._fetchall(PQ.state_counts):
            counts.setdefault(int(job_id), {})[state] = int(count)
        return {job_id: Counts.of(states) for job_id, states in counts.items()}

    async def job_guards(self) -> dict[int, GuardSettings]:
        """{job id: its not-found guard}."""
        rows = await self._fetchall(PQ.job_guards)
        return {int(job_id): GuardSettings(**json.loads(guard)) for job_id, guard in rows}

    async def campaign_counts(self) -> dict[int, dict[str, dict[str, int]]]:
        counts: dict[int, dict[str, dict[str, int]]] = {}
        for job_id, campaign, state, count in await self._fetchall(PQ.campaign_counts):
            counts.setdefault(int(job_id), {}).setdefault(campaign, {})[state] = int(count)
        return counts

    async def failure_reasons(self) -> dict[int, dict[str, int]]:
        reasons: dict[int, dict[str, int]] = {}
        for job_id, reason, count in await self._fetchall(PQ.failure_reasons):
            reasons.setdefault(int(job_id), {})[reason] = int(count)
        return reasons

    async def interrupted_not_found(self) -> dict[int, int]:
        rows = await self._fetchall(PQ.interrupted_not_found, {"reason": AFTER_INTERRUPTED})
        return {int(job_id): int(count) for job_id, count in rows}

    async def recent_requests(self, since: float) -> dict[int, tuple[int, float, float]]:
        rows = await self._fetchall(PQ.recent_requests, {"since": since})
        return {
            int(job_id): (int(count), float(first), float(last))
            for job_id, count, first, last in rows
        }

    async def recent_finished(self, since: float) -> dict[int, tuple[int, float, float]]:
        rows = await self._fetchall(PQ.recent_finished, {"since": since})
        return {
            int(job_id): (int(count), float(first), float(last))
            for job_id, count, first, last in rows
        }

    async def request_totals(self) -> list[tuple[str, str, str, int]]:
        rows = await self._fetchall(PQ.request_totals)
        return [
            (account, outcome or "", "" if status is None else str(status), int(count))
            for account, outcome, status, count in rows
        ]

    async def last_activity(self) -> dict[int, float]:
        rows = await self._fetchall(PQ.last_activity)
        return {int(job_id): float(at) for job_id, at in rows if at is not None}

    async def account_stops(self) -> dict[str, tuple[StopReason, str | None, float]]:
        rows = await self._fetchall(PQ.account_stops)
        return {
            account: (StopReason(reason), message, float(at))
            for account, reason, message, at in rows
        }

    async def senders(self) -> list[SenderNote]:
        return [sender_of(row) for row in await self._fetchall(PQ.senders)]

    def export_rows(
        self,
        jobs: Sequence[str] = (),
        states: Sequence[str] = (),
        phones: Sequence[str] = (),
        campaigns: Sequence[str] = (),
    ) -> Rows:
        params = export_params(jobs, states, phones, campaigns)
        return self._stream(PQ.export_records, params)

    def duplicate_rows(
        self,
        jobs: Sequence[str] = (),
        states: Sequence[str] = (),
        phones: Sequence[str] = (),
        campaigns: Sequence[str] = (),
    ) -> Rows:
        params = export_params(jobs, states, phones, campaigns)
        return self._stream(PQ.export_duplicates, params)

    def request_rows(
        self,
        jobs: Sequence[str] = (),
        states: Sequence[str] = (),
        phones: Sequence[str] = (),
        campaigns: Sequence[str] = (),
    ) -> Rows:
        params = export_params(jobs, states, phones, campaigns)
        return self._stream(PQ.export_requests, params)

    async def _stream(self, sql: str, params: dict[str, Any]) -> Rows:
        """Rows as the server sends them (libpq's single-row mode): bounded memory."""
        async with explained(self.path), self._conn.cursor() as cursor:
            async for row in cursor.stream(sql, params):
                yield tuple(row)
