"""The operator's ways out of a mistake, on the store: cancel, bring cancelled records back,
prune, and take a corrected campaign. A base of :class:`runner.storage.store.Store`, which gives
it its write transaction."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Sequence

import aiosqlite

from runner.core.states import BlockReason
from runner.storage.db import pruning
from runner.storage.db.pruning import Archiver, Pruned
from runner.storage.db.queries import Q
from runner.storage.db.reader import DbReader


class OperatorCommands(DbReader):
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

    async def _corrects_campaign(
        self, row: sqlite3.Row, account: str, campaign: str, number_format: str
    ) -> bool:
        """Whether loading the job with ``campaign`` corrects a mistyped one: blocked for
        invalid_campaign, same account and format, and nothing deleted with the old one."""
        if not campaign_correctable(
            tuple(row[1:4]), row[5], row[6], (account, campaign, number_format)
        ):
            return False
        answered = await self._fetchone(Q.job_answered, {"id": row[0]})
        return answered is not None and not answered[0]


def campaign_correctable(
    stored: tuple[str, str, str], state: str, reason: str | None, wanted: tuple[str, str, str]
) -> bool:
    """(account, campaign, number_format) as stored and as loaded now: only the campaign
    differs, and the job is blocked because the API refused its campaign."""
    same_rest = (stored[0], stored[2]) == (wanted[0], wanted[2])
    blocked = state == "blocked" and reason == BlockReason.INVALID_CAMPAIGN
    return same_rest and stored[1] != wanted[1] and blocked
