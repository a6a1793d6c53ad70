"""The queue in memory: the same interface as the SQLite store, for unit tests of the drain.

It keeps the rules the drain relies on (due retries before fresh records, then
file order; claims turn records ``in_flight``; settling writes the record, an
audit entry, a block and a stop together), and nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from runner.core.states import BlockReason, JobState, RecordState, StopReason
from runner.storage.counts import Counts
from runner.storage.queue import Claim, GuardSettings, Job, SenderNote, Settlement


@dataclass
class MemoryRecord:
    id: int
    job_id: int
    phone: str
    name: str | None = None
    state: RecordState = RecordState.PENDING
    reason: str | None = None
    attempts: int = 0
    not_before: float = 0.0
    interrupted: bool = False


@dataclass
class MemoryQueue:
    """Jobs, records and what was written about them, as plain lists and dicts."""

    jobs_by_id: dict[int, Job] = field(default_factory=dict)
    records: dict[int, MemoryRecord] = field(default_factory=dict)
    requests: list[tuple[Claim, Settlement]] = field(default_factory=list)
    stops: dict[str, tuple[StopReason, str, float]] = field(default_factory=dict)
    generations: dict[str, list[float]] = field(default_factory=dict)
    notes: dict[str, SenderNote] = field(default_factory=dict)
    waiting: dict[int, str | None] = field(default_factory=dict)
    guards: dict[int, GuardSettings] = field(default_factory=dict)  # job id → its guard

    # -- filling it (tests) --------------------------------------------------

    def add_job(self, name: str, phones: Sequence[str], account: str = "main") -> Job:
        job = Job(len(self.jobs_by_id) + 1, name, account, "Sales", JobState.ACTIVE, None)
        self.jobs_by_id[job.id] = job
        for phone in phones:
            record_id = len(self.records) + 1
            self.records[record_id] = MemoryRecord(record_id, job.id, phone)
        return job

    def states(self) -> dict[str, RecordState]:
        return {record.phone: record.state for record in self.records.values()}

    # -- the Queue interface -------------------------------------------------

    async def jobs(self) -> list[Job]:
        return [self.jobs_by_id[job_id] for job_id in sorted(self.jobs_by_id)]

    async def claim_many(
        self, job_ids: Sequence[int], account: str, count: int, now: float
    ) -> list[Claim]:
        claims: list[Claim] = []
        for job_id in job_ids:
            due = [
                r
                for r in self.records.values()
                if r.job_id == job_id and r.state is RecordState.PENDING and r.not_before <= now
            ]
            due.sort(key=lambda r: (-r.not_before, r.id))
            for record in due[: count - len(claims)]:
                record.state = RecordState.IN_FLIGHT
                claims.append(Claim(record.id, job_id, record.phone, record.name,
                                    record.attempts, account, now, record.interrupted))  # fmt: skip
            if len(claims) >= count:
                break
        return claims

    async def release(self, claim: Claim) -> None:
        record = self.records[claim.record_id]
        if record.state is RecordState.IN_FLIGHT:
            record.state = RecordState.PENDING

    async def settle(self, claim: Claim, settlement: Settlement) -> None:
        record = self.records[claim.record_id]
        record.state, record.reason = settlement.state, settlement.reason
        record.attempts, record.not_before = settlement.attempts, settlement.not_before
        self.requests.append((claim, settlement))
        if settlement.block_job is not None:
            await self.block_job(claim.job_id, *settlement.block_job)
        if settlement.stop_account is not None:
            reason, message = settlement.stop_account
            await self.stop_account(claim.account, reason, message, settlement.finished_at)

    async def settle_many(self, answers: Sequence[tuple[Claim, Settlement]]) -> None:
        for claim, settlement in answers:
            await self.settle(claim, settlement)

    async def next_due(self, job_ids: Sequence[int]) -> float | None:
        due = [
            r.not_before
            for r in self.records.values()
            if r.job_id in job_ids and r.state is RecordState.PENDING
        ]
        return min(due) if due else None

    async def block_job(self, job_id: int, reason: BlockReason, message: str) -> None:
        job = self.jobs_by_id[job_id]
        self.jobs_by_id[job_id] = replace(
            job, state=JobState.BLOCKED, blocked_reason=reason, blocked_message=message
        )

    async def stop_account(self, account: str, reason: StopReason, message: str, at: float) -> None:
        self.stops[account] = (reason, message, at)

    async def recent_starts(self, account: str, since: float, limit: int) -> list[float]:
        starts = [c.started_at for c, _ in self.requests if c.account == account]
        return sorted(at for at in starts if at >= since)[-limit:]

    async def job_guards(self) -> dict[int, GuardSettings]:
        return dict(self.guards)

    async def state_counts(self) -> dict[int, Counts]:
        counts: dict[int, dict[str, int]] = {}
        for record in self.records.values():
            per_job = counts.setdefault(record.job_id, {})
            per_job[record.state] = per_job.get(record.state, 0) + 1
        return {job_id: Counts.of(states) for job_id, states in counts.items()}

    async def token_generations(self, identity: str, since: float) -> list[float]:
        return sorted(at for at in self.generations.get(identity, []) if at >= since)

    async def add_token_generation(self, identity: str, at: float) -> None:
        self.generations.setdefault(identity, []).append(at)

    async def note_sender(self, note: SenderNote, now: float) -> None:
        self.notes[note.account] = replace(note, updated_at=now)

    async def note_job_waiting(self, job_id: int, why: str | None) -> None:
        self.waiting[job_id] = why
