"""One judge per answer: what an answer means for the record, the job and the account.

:func:`runner.sending.policy.decide` says what one answer alone means. The :class:`Judge` of an
account's drain adds what it means among the others: the circuit breaker, the streak
of one unrecognised answer, the hopeless-account timer, the jobs' not-found guards and
(passed in) the token provider's verdict. It returns one :class:`Ruling`, and the one
:class:`runner.storage.queue.Settlement` that writes it: every block and stop an answer causes
is written with that answer. The drain paces, claims, sends and carries the ruling out.

No I/O: time is passed in; the hopeless watch logs when the account's state changes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.config import RetryConfig
from runner.core.logs import get_logger
from runner.core.states import BlockReason, StopReason
from runner.sending.client import Reply
from runner.sending.hopeless import Hope, Hopeless, HopelessWatch
from runner.sending.policy import (
    CircuitBreaker,
    Decision,
    NotFoundWatch,
    UnknownAnswers,
    backoff_delay,
    decide,
    settlement,
)
from runner.storage.counts import Counts, JobCounts, of_job
from runner.storage.queue import Claim, GuardSettings, Job, Settlement

Stop = tuple[StopReason, str]
Block = tuple[BlockReason, str]


# Not frozen, for speed: see runner.storage.queue.Claim.
@dataclass(slots=True)
class Ruling:
    """Everything one answer changes, judged once."""

    decision: Decision  # the answer alone (runner.sending.policy.decide)
    reply: Reply
    stop: Stop | None = None  # the account's stop: a streak, hopelessness, or the answer
    hopeless_stop: Stop | None = None  # this answer made a run give the account up
    guard_block: Block | None = None  # this answer tripped its job's not-found guard
    cooldown: float | None = None  # the breaker tripped: send nothing for this long
    probe: bool = False  # a worker's hopeless account: one request now and then

    @property
    def quiet(self) -> bool:
        """Nothing for the log: the record deleted or not found, the account going on."""
        decision = self.decision
        return (decision.event is None and decision.block is None and self.stop is None
                and self.cooldown is None)  # fmt: skip

    def settlement(self, now: float, token_stop: Stop | None = None) -> Settlement:
        """The one row the queue writes for this answer: a token stop (found when the
        token provider was told of the answer) comes first."""
        reply = self.reply
        return settlement(self.decision, reply.verdict, reply.http_status, reply.body, now,
                          stop=token_stop or self.stop, block=self.guard_block)  # fmt: skip


def guard_watch(job: Job, guard: GuardSettings | None, counts: Counts) -> NotFoundWatch | None:
    """A job's not-found watch from its guard's settings, counting from its recorded
    answers (so a restart neither resets nor repeats the judgement); None without one."""
    if guard is None or job.guard_cleared:
        return None
    return NotFoundWatch(guard.sample, guard.max_ratio, counts.answered, counts.not_found)


def guard_watches(
    settings: Mapping[int, GuardSettings], jobs: Sequence[Job], counts: JobCounts
) -> dict[int, NotFoundWatch]:
    """The watch of each of ``jobs`` loaded with a guard (``settings``, by job id)."""
    watches = {job.id: guard_watch(job, settings.get(job.id), of_job(counts, job.id))
               for job in jobs}  # fmt: skip
    return {job_id: watch for job_id, watch in watches.items() if watch is not None}


class Judge:
    """The rules of one account's answers, and the state they keep between answers."""

    def __init__(
        self,
        retry: RetryConfig,
        *,
        rng: random.Random | None = None,
        breaker: CircuitBreaker | None = None,
        unknown: UnknownAnswers | None = None,
        guards: Mapping[int, NotFoundWatch] | None = None,
        hopeless: HopelessWatch | None = None,
        give_up: bool = True,
        log: Any = None,
    ) -> None:
        self.retry = retry
        self.rng = rng or random.Random()
        self.breaker = breaker or CircuitBreaker()
        self.unknown = unknown or UnknownAnswers()
        self.guards = dict(guards or {})
        # No usable answer for too long: a run gives up (stops the account), a worker probes.
        self.hope = Hope(hopeless, give_up, log or get_logger()) if hopeless else None
        self.stopped = False  # a run gave the account up: it is not judged hopeless again

    def guard(self, job_id: int, watch: NotFoundWatch | None) -> None:
        """Guard a job adopted by the drain (its watch made from its own settings)."""
        if watch is not None and job_id not in self.guards:
            self.guards[job_id] = watch

    def due_blocks(self, job_ids: set[int]) -> list[tuple[int, Block]]:
        """Guards whose judgement was due before this drain (no answer to write it with)."""
        due = ((job_id, guard.judge()) for job_id, guard in self.guards.items())
        return [(job_id, block) for job_id, block in due if block and job_id in job_ids]

    @property
    def hopeless(self) -> Hopeless | None:
        """The account's hopeless state, while it lasts (for ``runner status``)."""
        return self.hope.state if self.hope is not None else None

    def answer(self, claim: Claim, reply: Reply, now: float) -> Ruling:
        """Judge one answer to ``claim``'s request."""
        verdict = reply.verdict
        backoff = backoff_delay(claim.attempts + 1, self.retry.backoff_initial_seconds,
                                self.retry.backoff_max_seconds, self.rng)  # fmt: skip
        decision = decide(verdict, claim, self.retry.max_attempts, backoff, reply.retry_after)
        hopeless, probe = self._hope(reply, now)
        # Rate limits, unrecognised answers and token refusals leave the breaker as it is.
        cooldown = self.breaker.record(verdict.outcome)
        streak = self.unknown.record(verdict, claim.record_id) or hopeless
        guard = self.guards.get(claim.job_id)
        block = guard.record(decision.state) if guard is not None else None
        return Ruling(decision, reply, streak or decision.stop, hopeless, block, cooldown, probe)

    def _hope(self, reply: Reply, now: float) -> tuple[Stop | None, bool]:
        """Count the answer in the hopeless watch: (a run's stop, a worker's probing)."""
        if self.hope is None:
            return None, False
        self.hope.watch.record(reply.verdict, now)
        stop = self.hopeless_stop(now)
        return stop, self.hope.state is not None and not self.hope.give_up

    def hopeless_stop(self, now: float) -> Stop | None:
        """A run's stop when the account has become hopeless; a worker only notes it."""
        if self.hope is None or self.stopped:
            return None
        return self.hope.judge(now)
