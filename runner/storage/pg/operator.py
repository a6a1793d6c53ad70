"""The operator's commands on a PostgreSQL queue (runner.storage.db.operator's twin): retry,
cancel, bring cancelled records back, prune, and take a corrected campaign. A base of
:class:`runner.storage.pg.store.PgStore`, which gives it its write transaction."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from runner.core.states import BlockReason
from runner.storage.db.jobs import KnownJobs
from runner.storage.db.pruning import Archiver, Pruned
from runner.storage.db.queries import PQ
from runner.storage.pg.reader import Connection, PgReader, export_params


class PgOperatorCommands(KnownJobs, PgReader):
    """What ``runner retry``, ``cancel``, ``retry --cancelled``, ``prune`` and a reload ask."""

    def _transaction(self) -> contextlib.AbstractAsyncContextManager[Connection]:
        raise NotImplementedError  # the store's one write transaction at a time

    async def retry(
        self, job_name: str | None = None, campaign: str | None = None
    ) -> tuple[int, int]:
        """Failed records and blocked jobs and campaigns back to pending: (records, blocks)."""
        chosen = {"job": job_name, "campaign": campaign}
        async with self._transaction() as conn:
            records = await conn.execute(PQ.retry_failed_records, chosen)
            await conn.execute(
                PQ.clear_guard, {"job": job_name, "guard": BlockReason.NOT_FOUND_GUARD}
            )
            jobs = await conn.execute(PQ.unblock_jobs, chosen)
            campaigns = await conn.execute(PQ.unblock_campaigns, chosen)
            return records.rowcount, jobs.rowcount + campaigns.rowcount

    async def cancel(
        self, job_names: Sequence[str], now: float, campaign: str | None = None
    ) -> int:
        chosen = {"jobs": list(job_names), "now": now, "campaign": campaign}
        async with self._transaction() as conn:
            return (await conn.execute(PQ.cancel_pending, chosen)).rowcount

    async def retry_cancelled(
        self, job_name: str | None = None, campaign: str | None = None
    ) -> int:
        async with self._transaction() as conn:
            chosen = {"job": job_name, "campaign": campaign}
            return (await conn.execute(PQ.retry_cancelled, chosen)).rowcount

    async def prune(self, before: float, now: float, archive: Archiver | None) -> Pruned:
        """Remove the jobs final since before ``before`` (see runner.storage.db.pruning), in one
        transaction; the chosen jobs stay row-locked until it ends."""
        async with self._transaction() as conn:
            chosen = await (await conn.execute(PQ.prunable_jobs, {"before": before})).fetchall()
            if not chosen:
                return Pruned((), 0, 0)
            names = [str(name) for _, name in chosen]
            ids = {"ids": [int(job_id) for job_id, _ in chosen]}
            if archive is not None:
                records = await _rows(conn, PQ.export_records, names)
                archive(names, records, await _rows(conn, PQ.export_requests, names))
            await conn.execute(PQ.keep_pruned_totals, ids | {"now": now})
            requests = await conn.execute(PQ.prune_requests, ids)
            await conn.execute(PQ.prune_duplicates, ids)
            records_gone = await conn.execute(PQ.prune_records, ids)
            await conn.execute(PQ.prune_sources, ids)
            await conn.execute(PQ.prune_jobs, ids)
            return Pruned(tuple(names), records_gone.rowcount, requests.rowcount)


async def _rows(conn: Connection, sql: str, names: Sequence[str]) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(sql, export_params(names, (), ()))
    return [tuple(row) for row in await cursor.fetchall()]
