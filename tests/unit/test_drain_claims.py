"""How the drain claims: batches sized to the pace, the next one claimed ahead."""

from __future__ import annotations

from collections.abc import Sequence

from test_drain import Rig, phones

from runner.core.states import RecordState
from runner.sending.claimsize import MAX_CLAIM
from runner.storage.queue import Claim
from runner.testing.memqueue import MemoryQueue


class CountingQueue(MemoryQueue):
    """The in-memory queue, noting the ``count`` of every claim asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[int] = []

    async def claim_many(
        self, job_ids: Sequence[int], account: str, count: int, now: float
    ) -> list[Claim]:
        self.asked.append(count)
        return await super().claim_many(job_ids, account, count, now)


async def test_a_lifted_limit_claims_many_records_per_claim() -> None:
    queue = CountingQueue()
    records = 3 * MAX_CLAIM + 8
    queue.add_job("big", phones(records))
    rig = Rig(rate=(100_000, 1.0), workers=4, queue=queue)
    await rig.run()
    assert rig.states() == [RecordState.DELETED] * records
    assert set(queue.asked) == {MAX_CLAIM}
    # Four full claims, and at the end one look per idle worker for work that came
    # back; not one claim per request or per four requests.
    assert len(queue.asked) <= records // MAX_CLAIM + 1 + 2 * rig.workers


async def test_at_the_apis_pace_each_claim_takes_one_record() -> None:
    queue = CountingQueue()
    queue.add_job("slow", phones(6))
    rig = Rig(rate=(100, 60.0), workers=4, queue=queue)
    await rig.run()
    assert rig.states() == [RecordState.DELETED] * 6
    assert set(queue.asked) == {1}
