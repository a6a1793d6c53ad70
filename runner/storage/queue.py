"""The queue as the drain sees it: what it claims, what it settles, and the interface.

:class:`Queue` is all the drain, the token provider and the run's supervisor ask of
the job store. :class:`runner.storage.store.Store` implements it on SQLite;
:class:`runner.testing.memqueue.MemoryQueue` implements it in memory, so the drain loop is
unit-tested without a database (as procrastinate's ``InMemoryConnector`` does).
Every time is passed in by the caller: the queue never reads the clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from runner.core.states import BlockReason, JobState, RecordState, StopReason
from runner.storage.counts import Counts


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    name: str
    account: str
    campaign: str
    state: JobState  # ACTIVE or BLOCKED as stored; DONE is derived by the reports
    blocked_reason: BlockReason | None
    number_format: str = "as_is"
    guard_cleared: bool = False
    # sha256 of the loading config's base_url and user_name (see AccountConfig.identity);
    # None for jobs loaded before it was recorded, which match any account of their name.
    account_identity: str | None = None
    blocked_message: str | None = None  # the words explaining blocked_reason
    waiting: str | None = None  # why the running process leaves this job pending, if it does
    # A job of several campaigns: their names (empty for a job of one, ``campaign``), and
    # those the API called invalid, each blocked alone: (campaign, reason, message).
    campaigns: tuple[str, ...] = ()
    blocked_campaigns: tuple[tuple[str, BlockReason, str | None], ...] = ()


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """A job's not-found guard, as the config that loaded it last set it."""

    sample: int
    max_ratio: float


# Not frozen (treated as immutable all the same): one is made for every request, and a
# frozen dataclass's __init__ sets each field through object.__setattr__, 5x slower.
@dataclass(slots=True)
class Claim:
    """A record taken for one request, and when that request starts."""

    record_id: int
    job_id: int
    phone: str
    name: str | None
    attempts: int
    account: str
    started_at: float
    interrupted: bool = False  # an earlier request of this record was cut off by a crash
    campaign: str | None = None  # the record's campaign; None: its job's one campaign

    def starting_at(self, at: float) -> Claim:
        """This claim with its request starting at ``at`` (built directly: on the drain's
        hot path, ``dataclasses.replace`` costs twice as much)."""
        return Claim(self.record_id, self.job_id, self.phone, self.name, self.attempts,
                     self.account, at, self.interrupted, self.campaign)  # fmt: skip


# Not frozen, for speed (see Claim).
@dataclass(slots=True)
class Settlement:
    """Everything one answer changes, written in one transaction."""

    state: RecordState
    reason: str | None
    attempts: int
    not_before: float
    http_status: int | None
    outcome: str  # the verdict's reason slug, kept in the audit row
    message: str  # already redacted
    body: str  # already redacted
    finished_at: float
    block_job: tuple[BlockReason, str] | None = None  # (code, message)
    stop_account: tuple[StopReason, str] | None = None  # (code, message), for claim.account
    deleted_count: int | None = None  # N of an "N Records Deleted Successfully" answer


@dataclass(frozen=True, slots=True)
class SenderNote:
    """What a process says about an account it drains, for ``runner status``."""

    account: str
    pid: int
    database: str
    mode: str  # "run" or "worker"
    state: str  # one of runner.sending.senderstate.SENDER_STATES
    note: str | None = None  # e.g. "token budget spent" (the time is in ``until``)
    until: float | None = None  # epoch seconds the account waits until, if it waits
    updated_at: float | None = None  # set by the store when the note is written
    since: float | None = None  # epoch seconds a hopeless state began (runner.sending.hopeless)


class Queue(Protocol):
    """The job store behind the drain."""

    async def jobs(self) -> list[Job]:
        """Every job, in id order."""
        ...

    async def claim_many(
        self, job_ids: Sequence[int], account: str, count: int, now: float
    ) -> list[Claim]:
        """Take up to ``count`` due records (``not_before <= now``) of the first jobs that
        have them, in that job order; due retries before fresh records, then file order.
        The records turn ``in_flight``; the claims start at ``now``."""
        ...

    async def release(self, claim: Claim) -> None:
        """Give a claimed record back unsent or unanswered: pending, no attempt used."""
        ...

    async def settle(self, claim: Claim, settlement: Settlement) -> None:
        """Record one answer (record, audit row, block, stop); returns once committed."""
        ...

    async def settle_many(self, answers: Sequence[tuple[Claim, Settlement]]) -> None:
        """Record these answers, in this order, as :meth:`settle` would one by one;
        returns once all are committed (the drain hands over a batch at a time)."""
        ...

    async def next_due(self, job_ids: Sequence[int]) -> float | None:
        """When the earliest pending record of these jobs may be sent; None if none is."""
        ...

    async def block_job(self, job_id: int, reason: BlockReason, message: str) -> None:
        ...

    async def stop_account(self, account: str, reason: StopReason, message: str, at: float) -> None:
        """Record an account stop found outside an answer (a token that cannot be had)."""
        ...

    async def recent_starts(self, account: str, since: float, limit: int) -> list[float]:
        """Start times of the account's latest requests since ``since``, oldest first."""
        ...

    async def state_counts(self) -> dict[int, Counts]:
        """{job id: its records in each state}; jobs without records are left out."""
        ...

    async def job_guards(self) -> dict[int, GuardSettings]:
        """{job id: its not-found guard} for the jobs loaded with one."""
        ...

    async def token_generations(self, identity: str, since: float) -> list[float]:
        """When tokens were generated for an account identity since ``since``, oldest first."""
        ...

    async def add_token_generation(self, identity: str, at: float) -> None:
        """Count one token generation (the time only; never the token)."""
        ...

    async def note_sender(self, note: SenderNote, now: float) -> None:
        """Say who sends for an account, and how it is doing (replaces the previous note)."""
        ...

    async def note_job_waiting(self, job_id: int, why: str | None) -> None:
        """Say why a pending job is not drained by the running process (None: it is)."""
        ...


class Reader(Protocol):
    """What ``runner status`` reads.

    :class:`runner.storage.store.Store` and read-only opens give it.
    """

    async def jobs(self) -> list[Job]: ...

    async def state_counts(self) -> dict[int, Counts]: ...

    async def campaign_counts(self) -> dict[int, dict[str, dict[str, int]]]:
        """{job id: {campaign: {state: count}}} for the jobs of several campaigns."""
        ...

    async def failure_reasons(self) -> dict[int, dict[str, int]]:
        """{job id: {reason: count}} over failed records."""
        ...

    async def interrupted_not_found(self) -> dict[int, int]:
        """{job id: records not_found with reason after_interrupted}."""
        ...

    async def recent_requests(self, since: float) -> dict[int, tuple[int, float, float]]:
        """{job id: (answered requests started since ``since``, first start, last start)}."""
        ...

    async def recent_finished(self, since: float) -> dict[int, tuple[int, float, float]]:
        """{job id: (records the API finished since ``since``, first, last finish)}."""
        ...

    async def last_activity(self) -> dict[int, float]:
        """{job id: time of its latest request start}."""
        ...

    async def request_totals(self) -> list[tuple[str, str, str, int]]:
        """(account, outcome, HTTP status, requests) over every request ever made."""
        ...

    async def account_stops(self) -> dict[str, tuple[StopReason, str | None, float]]:
        """{account: (reason code, message, stopped at)}."""
        ...

    async def senders(self) -> list[SenderNote]:
        """The latest note of every account a process drained or tried to."""
        ...
