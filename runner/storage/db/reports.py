"""What every backend's reader answers for ``runner status`` and ``runner export``,
shaped once.

The statements have the same names in ``queries.sql`` and its PostgreSQL twin and
return the same columns, so a backend's reader (:class:`runner.storage.db.reader.DbReader`,
:class:`runner.storage.pg.reader.PgReader`) only says which file its statements come from and
how it fetches and streams rows.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from runner.core.states import AFTER_INTERRUPTED, BlockReason, JobState, StopReason
from runner.intake.numbers import MIN_DIGITS
from runner.storage.counts import Counts
from runner.storage.db.queries import Queries
from runner.storage.queue import GuardSettings, Job

Rows = AsyncGenerator[tuple[Any, ...], None]


def export_params(
    jobs: Sequence[str] = (),
    states: Sequence[str] = (),
    phones: Sequence[str] = (),
    campaigns: Sequence[str] = (),
) -> dict[str, Any]:
    """The parameters of the export statements: each filter a JSON array.

    ``phones`` are significant digits (:func:`runner.reports.export.phone_digits`): a record
    matches when one number ends with the other and the shorter has at least
    MIN_DIGITS digits.
    """
    return {
        "jobs": json.dumps(list(jobs)),
        "states": json.dumps(list(states)),
        "phones": json.dumps(list(phones)),
        "campaigns": json.dumps(list(campaigns)),
        "min_digits": MIN_DIGITS,
    }


def job_of(row: Sequence[Any]) -> Job:
    """A Job from a row of the ``jobs`` statement."""
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


class ReportQueries:
    """The reports of :class:`runner.storage.queue.Reader`, over a backend's fetch and stream."""

    queries: Queries  # the backend's named statements (Q or PQ)
    # How the export filters are passed: JSON arrays here, text[] for PostgreSQL.
    export_params = staticmethod(export_params)

    async def _fetchall(self, sql: str, params: Any = None) -> Sequence[Sequence[Any]]:
        raise NotImplementedError

    def _stream(self, sql: str, params: dict[str, Any]) -> Rows:
        raise NotImplementedError

    async def jobs(self) -> list[Job]:
        """Every job, in id order."""
        return [job_of(row) for row in await self._fetchall(self.queries.jobs)]

    async def job_names(self) -> list[str]:
        return [str(row[0]) for row in await self._fetchall(self.queries.job_names)]

    async def state_counts(self) -> dict[int, Counts]:
        """{job id: its records in each state}."""
        counts: dict[int, dict[str, int]] = {}
        for job_id, state, count in await self._fetchall(self.queries.state_counts):
            counts.setdefault(int(job_id), {})[state] = int(count)
        return {job_id: Counts.of(states) for job_id, states in counts.items()}

    async def job_guards(self) -> dict[int, GuardSettings]:
        """{job id: its not-found guard} (a database at the latest version: the writer's)."""
        rows = await self._fetchall(self.queries.job_guards)
        return {int(job_id): GuardSettings(**json.loads(guard)) for job_id, guard in rows}

    async def campaign_counts(self) -> dict[int, dict[str, dict[str, int]]]:
        """{job id: {campaign: {state: count}}} for the jobs of several campaigns."""
        counts: dict[int, dict[str, dict[str, int]]] = {}
        for job_id, campaign, state, count in await self._fetchall(self.queries.campaign_counts):
            counts.setdefault(int(job_id), {}).setdefault(campaign, {})[state] = int(count)
        return counts

    async def failure_reasons(self) -> dict[int, dict[str, int]]:
        """{job id: {reason: count}} over failed records."""
        reasons: dict[int, dict[str, int]] = {}
        for job_id, reason, count in await self._fetchall(self.queries.failure_reasons):
            reasons.setdefault(int(job_id), {})[reason] = int(count)
        return reasons

    async def interrupted_not_found(self) -> dict[int, int]:
        """{job id: records not_found with reason after_interrupted}."""
        rows = await self._fetchall(
            self.queries.interrupted_not_found, {"reason": AFTER_INTERRUPTED}
        )
        return {int(job_id): int(count) for job_id, count in rows}

    async def recent_requests(self, since: float) -> dict[int, tuple[int, float, float]]:
        """{job id: (answered requests started since ``since``, first start, last start)}."""
        return await self._windows(self.queries.recent_requests, since)

    async def recent_finished(self, since: float) -> dict[int, tuple[int, float, float]]:
        """{job id: (records the API finished since ``since``, first, last finish)}."""
        return await self._windows(self.queries.recent_finished, since)

    async def _windows(self, sql: str, since: float) -> dict[int, tuple[int, float, float]]:
        rows = await self._fetchall(sql, {"since": since})
        return {
            int(job_id): (int(count), float(first), float(last))
            for job_id, count, first, last in rows
        }

    async def request_totals(self) -> list[tuple[str, str, str, int]]:
        """(account, outcome, HTTP status, requests) over every request ever made; a
        missing outcome or status is ''."""
        rows = await self._fetchall(self.queries.request_totals)
        return [
            (account, outcome or "", "" if status is None else str(status), int(count))
            for account, outcome, status, count in rows
        ]

    async def last_activity(self) -> dict[int, float]:
        """{job id: time of its latest request start}."""
        rows = await self._fetchall(self.queries.last_activity)
        return {int(job_id): float(at) for job_id, at in rows if at is not None}

    async def account_stops(self) -> dict[str, tuple[StopReason, str | None, float]]:
        """{account: (reason code, message, stopped at)}."""
        rows = await self._fetchall(self.queries.account_stops)
        return {
            account: (StopReason(reason), message, float(at))
            for account, reason, message, at in rows
        }

    def export_rows(
        self,
        jobs: Sequence[str] = (),
        states: Sequence[str] = (),
        phones: Sequence[str] = (),
        campaigns: Sequence[str] = (),
    ) -> Rows:
        """One tuple per record (EXPORT_COLUMNS), in job and file order; each filter
        keeps the rows matching one of its values (empty: any)."""
        return self._export(self.queries.export_records, jobs, states, phones, campaigns)

    def duplicate_rows(self, *filters: Sequence[str]) -> Rows:
        """One tuple per duplicate input line (EXPORT_COLUMNS), state ``duplicate``;
        the filters of :meth:`export_rows`."""
        return self._export(self.queries.export_duplicates, *filters)

    def request_rows(self, *filters: Sequence[str]) -> Rows:
        """One tuple per HTTP request, in the order they were sent; the filters of
        :meth:`export_rows` (``states`` on the record's state)."""
        return self._export(self.queries.export_requests, *filters)

    def _export(self, sql: str, *filters: Sequence[str]) -> Rows:
        return self._stream(sql, self.export_params(*filters))
