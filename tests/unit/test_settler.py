"""Answers committed a batch at a time, counted only once committed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from runner.core.states import RecordState
from runner.sending.settler import Answer, Settler
from runner.storage.queue import Claim, Settlement


def answer(record_id: int) -> Answer:
    claim = Claim(record_id, 1, f"98765{record_id:05d}", None, 0, "main", 0.0)
    settlement = Settlement(RecordState.DELETED, None, 1, 0.0, 200, "deleted", "", "", 1.0)
    return claim, settlement


class Store:
    """Commits when told to, and remembers each batch it was handed."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.go = asyncio.Event()
        self.fail = False

    async def settle_many(self, answers: Sequence[Answer]) -> None:
        self.batches.append([claim.record_id for claim, _ in answers])
        await self.go.wait()
        if self.fail:
            raise OSError("disk full")


async def test_answers_that_come_during_a_commit_share_the_next_one() -> None:
    store, counted = Store(), list[int]()
    async with asyncio.TaskGroup() as tasks:
        settler = Settler(store.settle_many, tasks.create_task,
                          lambda batch: counted.extend(c.record_id for c, _ in batch))  # fmt: skip
        settler.add(*answer(1))
        await asyncio.sleep(0)  # the first commit is under way
        for record_id in (2, 3, 4):
            settler.add(*answer(record_id))
        assert counted == []  # nothing counts before it is committed
        store.go.set()
    assert store.batches == [[1], [2, 3, 4]]
    assert counted == [1, 2, 3, 4]


async def test_a_failed_commit_fails_the_drain_and_counts_nothing() -> None:
    store, counted = Store(), list[Answer]()
    store.fail = True
    store.go.set()
    with pytest.raises(ExceptionGroup) as caught:
        async with asyncio.TaskGroup() as tasks:
            settler = Settler(store.settle_many, tasks.create_task, counted.extend)
            settler.add(*answer(1))
    assert caught.group_contains(OSError)
    assert counted == []
