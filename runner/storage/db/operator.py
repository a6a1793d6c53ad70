"""The operator's ways out of a mistake, on the store: cancel, bring cancelled records back,
prune, and take a corrected campaign. A base of :class:`runner.storage.store.Store`, which gives
it its write transaction."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence

import aiosqlite

from runner.storage.db import pruning
from runner.storage.db.jobs import KnownJobs
from runner.storage.db.pruning import Archiver, Pruned
from runner.storage.db.queries import Q
from runner.storage.db.reader import DbReader


class OperatorCommands(KnownJobs, DbReader):
    """What ``runner cancel``, ``retry --cancelled``, ``prune`` and a reload ask."""

    def _transaction(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]:
        raise NotImplementedError  # the store's one write transaction at a time

    async def cancel(
        self, job_names: Sequence[str], now: float, campaign: str | None = None
    ) -> int:
        """Pending records of these jobs (all jobs when empty) become cancelled, only
        ``campaign``'s when given; how many."""
        chosen = {"jobs": json.dumps(list(job_names)), "now": now, "campaign": campaign}
        async with self._transaction() as conn:
            cursor = await conn.execute(Q.cancel_pending, chosen)
            return cursor.rowcount

    async def prune(self, before: float, now: float, archive: Archiver | None) -> Pruned:
        """Remove the jobs final since before ``before`` (see runner.storage.db.pruning)."""
        async with self._transaction() as conn:
            return await pruning.prune(conn, before, now, archive)

    async def retry_cancelled(
        self, job_name: str | None = None, campaign: str | None = None
    ) -> int:
        """Cancelled records back to pending (only ``campaign``'s when given); how many."""
        async with self._transaction() as conn:
            cursor = await conn.execute(
                Q.retry_cancelled, {"job": job_name, "campaign": campaign}
            )
            return cursor.rowcount
