"""Reading a runner database: the reports of ``runner status`` and the export rows.

:class:`DbReader` implements :class:`runner.queue.Reader` over any connection; the
store (the writer) extends it, and :meth:`DbReader.open_readonly` gives one on a read-only
connection that never creates, migrates or writes the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Any, Final

import aiosqlite

from runner.counts import Counts
from runner.db.connection import explained, open_reader
from runner.db.queries import Q
from runner.numbers import MIN_DIGITS
from runner.queue import GuardSettings, Job, SenderNote
from runner.states import AFTER_INTERRUPTED, BlockReason, JobState, StopReason

# One row per record (Q.export_records), in this order.
EXPORT_COLUMNS: Final = (
    "job",
    "campaign",
    "file",
    "line",
    "phone",
    "state",
    "reason",
    "attempts",
    "last_http_status",
    "last_message",
    "finished_at",
    "cell",  # the phone cell as it stood in the input
    "name",
    "duplicate_of_file",  # a duplicate line: the file and line of the record it repeats
    "duplicate_of_line",
)

Rows = AsyncGenerator[tuple[Any, ...], None]


def job_of(row: Sequence[Any]) -> Job:
    """A Job from a row of Q.jobs."""
    (job_id, name, account, campaign, state, reason, number_format, guard_cleared,
     identity, message, waiting, campaigns, blocks) = row  # fmt: skip
    return Job(
        id=int(job_id),
        name=name,
        account=account,
        campaign=campaign,
        state=JobState(state),
        blocked_reason=None if reason is None else BlockReason(reason),
        number_format=number_format,
        guard_cleared=bool(guard_cleared),
        account_identity=identity,
        blocked_message=message,
        waiting=waiting,
        campaigns=tuple(json.loads(campaigns)) if campaigns else (),
        blocked_campaigns=tuple(
            (name, BlockReason(code), words) for name, code, words in json.loads(blocks or "[]")
        ),
    )


def export_params(
    jobs: Sequence[str],
    states: Sequence[str],
    phones: Sequence[str],
    campaigns: Sequence[str] = (),
) -> dict[str, Any]:
    """The parameters of Q.export_records / Q.export_requests: each filter a JSON array.

    ``phones`` are significant digits (runner.export.phone_digits)."""
    return {
        "jobs": json.dumps(list(jobs)),
        "states": json.dumps(list(states)),
        "phones": json.dumps(list(phones)),
        "campaigns": json.dumps(list(campaigns)),
        "min_digits": MIN_DIGITS,
    }


async def stream(conn: aiosqlite.Connection, sql: str, params: dict[str, Any]) -> Rows:
    """Rows as the cursor yields them: aiosqlite fetches a chunk at a time.

    A caller that stops early must ``aclose()`` the generator (``contextlib.aclosing``)
    while the connection is open: left to the garbage collector, the cursor would
    be closed after the connection and fail.
    """
    async with conn.execute(sql, params) as cursor:
        async for row in cursor:
            yield tuple(row)


class DbReader:
    """The reports over one connection (see :class:`runner.queue.Reader`)."""

    def __init__(self, conn: aiosqlite.Connection, path: Path | str) -> None:
        self._conn = conn
        self.path = path

    @staticmethod
    async def open_readonly(path: Path) -> DbReader:
        """A read-only reader: never creates, migrates or writes ``path``.

        A database older than this runner reads, newer than it knows, or missing is
        a StoreError saying what to do.
        """
        return DbReader(await open_reader(path), path)

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> DbReader:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connection(self) -> aiosqlite.Connection:
        """For the export's streaming queries."""
        return self._conn

    async def _fetchall(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        async with explained(self.path), self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _fetchone(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        async with explained(self.path), self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def jobs(self) -> list[Job]:
        """Every job, in id order."""
        return [job_of(row) for row in await self._fetchall(Q.jobs)]

    async def job_names(self) -> list[str]:
        return [str(row[0]) for row in await self._fetchall(Q.job_names)]

    async def state_counts(self) -> dict[int, Counts]:
        """{job id: its records in each state}."""
        counts: dict[int, dict[str, int]] = {}
        for job_id, state, count in await self._fetchall(Q.state_counts):
            counts.setdefault(int(job_id), {})[state] = int(count)
        return {job_id: Counts.of(states) for job_id, states in counts.items()}

    async def job_guards(self) -> dict[int, GuardSettings]:
        """{job id: its not-found guard} (a database at the latest version: the writer's)."""
        rows = await self._fetchall(Q.job_guards)
        return {int(job_id): GuardSettings(**json.loads(guard)) for job_id, guard in rows}

    async def campaign_counts(self) -> dict[int, dict[str, dict[str, int]]]:
        """{job id: {campaign: {state: count}}} for the jobs of several campaigns."""
        counts: dict[int, dict[str, dict[str, int]]] = {}
        for job_id, campaign, state, count in await self._fetchall(Q.campaign_counts):
            counts.setdefault(int(job_id), {}).setdefault(campaign, {})[state] = int(count)
        return counts

    async def failure_reasons(self) -> dict[int, dict[str, int]]:
        """{job id: {reason: count}} over failed records."""
        reasons: dict[int, dict[str, int]] = {}
        for job_id, reason, count in await self._fetchall(Q.failure_reasons):
            reasons.setdefault(int(job_id), {})[reason] = int(count)
        return reasons

    async def interrupted_not_found(self) -> dict[int, int]:
        """{job id: records not_found with reason after_interrupted}."""
        rows = await self._fetchall(Q.interrupted_not_found, {"reason": AFTER_INTERRUPTED})
        return {int(job_id): int(count) for job_id, count in rows}

    async def recent_requests(self, since: float) -> dict[int, tuple[int, float, float]]:
        """{job id: (answered requests started since ``since``, first start, last start)}."""
        rows = await self._fetchall(Q.recent_requests, {"since": since})
        return {
            int(job_id): (int(count), float(first), float(last))
            for job_id, count, first, last in rows
        }

    async def recent_finished(self, since: float) -> dict[int, tuple[int, float, float]]:
        """{job id: (records the API finished since ``since``, first, last finish)}."""
        rows = await self._fetchall(Q.recent_finished, {"since": since})
        return {
            int(job_id): (int(count), float(first), float(last))
            for job_id, count, first, last in rows
        }

    async def request_totals(self) -> list[tuple[str, str, str, int]]:
        """(account, outcome, HTTP status, requests) over every request ever made; a
        missing outcome or status is ''."""
        rows = await self._fetchall(Q.request_totals)
        return [
            (account, outcome or "", "" if status is None else str(status), int(count))
            for account, outcome, status, count in rows
        ]

    async def last_activity(self) -> dict[int, float]:
        """{job id: time of its latest request start}."""
        rows = await self._fetchall(Q.last_activity)
        return {int(job_id): float(at) for job_id, at in rows if at is not None}

    async def account_stops(self) -> dict[str, tuple[StopReason, str | None, float]]:
        """{account: (reason code, message, stopped at)}."""
        rows = await self._fetchall(Q.account_stops)
        return {
            account: (StopReason(reason), message, float(at))
            for account, reason, message, at in rows
        }

    async def senders(self) -> list[SenderNote]:
        """The latest note of every account a process drained or tried to."""
        return [
            SenderNote(account, int(pid), database, mode, state, note, until, updated_at, since)
            for account, pid, database, mode, state, note, until, updated_at, since in await (
                self._fetchall(Q.senders)
            )
        ]

    def export_rows(
        self,
        jobs: Sequence[str] = (),
        states: Sequence[str] = (),
        phones: Sequence[str] = (),
        campaigns: Sequence[str] = (),
    ) -> Rows:
        """One tuple per record (EXPORT_COLUMNS), in job and file order."""
        params = export_params(jobs, states, phones, campaigns)
        return stream(self._conn, Q.export_records, params)

    def duplicate_rows(
        self,
        jobs: Sequence[str] = (),
        states: Sequence[str] = (),
        phones: Sequence[str] = (),
        campaigns: Sequence[str] = (),
    ) -> Rows:
        """One tuple per duplicate input line (EXPORT_COLUMNS), state ``duplicate``."""
        params = export_params(jobs, states, phones, campaigns)
        return stream(self._conn, Q.export_duplicates, params)

    def request_rows(
        self,
        jobs: Sequence[str] = (),
        states: Sequence[str] = (),
        phones: Sequence[str] = (),
        campaigns: Sequence[str] = (),
    ) -> Rows:
        """One tuple per HTTP request, in the order they were sent."""
        params = export_params(jobs, states, phones, campaigns)
        return stream(self._conn, Q.export_requests, params)
