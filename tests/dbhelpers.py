"""Helpers of the store's tests: one-batch loads and single claims, through the Queue API."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence

from runner.intake.inputs import InvalidRow, Row
from runner.storage.db.loading import LoadCounts
from runner.storage.queue import Claim
from runner.storage.store import Store


async def insert_rows(
    store: Store, job_id: int, source_id: int, rows: Sequence[Row | InvalidRow]
) -> LoadCounts:
    """Enqueue ``rows`` as one batch of ``Store.insert_all``."""

    async def one_batch() -> AsyncIterator[Sequence[Row | InvalidRow]]:
        yield rows

    return await store.insert_all(job_id, source_id, one_batch())


async def claim(
    store: Store, job_ids: Sequence[int], account: str, at: float | None = None
) -> Claim | None:
    """The next due record (due at ``at``, default now), started at ``at``; None if none."""
    claims = await store.claim_many(job_ids, account, 1, time.time() if at is None else at)
    return claims[0] if claims else None
