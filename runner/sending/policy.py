"""What to do with a record after an answer: pure decisions, no I/O.

Kept apart from the drain loop so that every rule of the answer table (which
answers are final, which are retried, which use up an attempt, which stop an
account or block a job) is a plain function to test. :func:`decide` gives the
whole outcome of one answer; :func:`settlement` turns it into the row the
queue writes; the drain only carries out what the decision says.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from runner.core.states import AFTER_INTERRUPTED, BlockReason, RecordState, StopReason
from runner.sending.classify import Outcome, Verdict
from runner.storage.queue import Claim, Settlement


# Not frozen, for speed: see runner.storage.queue.Claim.
@dataclass(slots=True)
class Decision:
    """Everything one answer changes: the record, the account, the job."""

    state: RecordState  # the record's next state
    reason: str | None
    attempts: int  # attempts used after this answer
    delay: float = 0.0  # seconds before the record may be sent again
    event: str | None = None  # the log line this answer deserves, if any
    pause: float | None = None  # rate-limited: start nothing for this long, then go slower
    renew_token: bool = False  # the bearer token was refused: renew it, then send again
    block: tuple[BlockReason, str] | None = None  # block the record's job
    stop: tuple[StopReason, str] | None = None  # stop the account


# A Retry-After we cannot read, or none at all, still slows us down this long.
DEFAULT_RATE_LIMIT_PAUSE = 5.0
# A server asking for a pause longer than this is capped: the run must go on.
MAX_RATE_LIMIT_PAUSE = 600.0
# Exponents are capped before exponentiating: 2.0 ** 1024 raises OverflowError, and a
# week-long run can reach any count. 2 ** 62 seconds is far past any maximum delay.
MAX_DOUBLINGS = 62


def decide(
    verdict: Verdict,
    claim: Claim,
    max_attempts: int,
    backoff: float,
    retry_after: float | None = None,
) -> Decision:
    """The whole outcome of the latest answer for ``claim``'s record.

    ``backoff`` is the delay to use if the answer is retried (see :func:`backoff_delay`).
    """
    outcome, before = verdict.outcome, claim.attempts
    if outcome is Outcome.DELETED:
        return Decision(RecordState.DELETED, None, before + 1)
    if outcome is Outcome.NOT_FOUND:
        # Its earlier request was cut off by a crash: that request probably deleted it.
        reason = AFTER_INTERRUPTED if claim.interrupted else None
        return Decision(RecordState.NOT_FOUND, reason, before + 1)
    if outcome is Outcome.FAILED:
        return Decision(RecordState.FAILED, verdict.reason, before + 1, event="record_failed")
    if outcome is Outcome.STOP:
        stop = (verdict.stop or StopReason.AUTH, verdict.message)
        return Decision(RecordState.PENDING, None, before, event="account_stopped", stop=stop)
    if outcome is Outcome.INVALID_CAMPAIGN:
        block = (BlockReason.INVALID_CAMPAIGN, verdict.message)
        return Decision(RecordState.PENDING, None, before, event="job_blocked", block=block)
    if outcome is Outcome.TOKEN_REFUSED:
        return Decision(RecordState.PENDING, None, before, event="token_refused", renew_token=True)
    if outcome is Outcome.RATE_LIMITED:
        pause = rate_limit_pause(retry_after)
        return Decision(RecordState.PENDING, None, before, pause, event="rate_limited", pause=pause)
    attempts = before + 1
    if attempts >= max_attempts:
        reason = "unexpected_response" if outcome is Outcome.UNEXPECTED else "exhausted_retries"
        return Decision(RecordState.FAILED, reason, attempts, event="record_failed")
    return Decision(RecordState.PENDING, None, attempts, backoff, event="retry")


def settlement(
    decision: Decision,
    verdict: Verdict,
    http_status: int | None,
    body: str,
    now: float,
    *,
    stop: tuple[StopReason, str] | None = None,
    block: tuple[BlockReason, str] | None = None,
) -> Settlement:
    """The row the queue writes for one answer. ``stop`` overrides the decision's
    (an account stopped by a streak of answers rather than by this one alone), and
    ``block`` too (a job its not-found guard stops at this answer)."""
    return Settlement(
        state=decision.state,
        reason=decision.reason,
        attempts=decision.attempts,
        not_before=now + decision.delay,
        http_status=http_status,
        outcome=verdict.reason,
        message=verdict.message,
        body=body,
        finished_at=now,
        block_job=block or decision.block,
        stop_account=stop or decision.stop,
        deleted_count=verdict.count,
    )


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(maximum, initial·2^(attempt-1))].

    Full jitter spreads the retries of many records failing together, so they
    do not come back as one burst (AWS architecture blog, "Exponential Backoff
    And Jitter").
    """
    doublings = min(max(attempt - 1, 0), MAX_DOUBLINGS)
    ceiling = min(maximum, initial * 2.0**doublings)
    return rng.uniform(0.0, ceiling)


def rate_limit_pause(retry_after: float | None) -> float:
    """How long to pause an account after a rate-limit answer."""
    if retry_after is None:
        return DEFAULT_RATE_LIMIT_PAUSE
    return min(retry_after, MAX_RATE_LIMIT_PAUSE)


class CircuitBreaker:
    """Pauses an account whose server keeps failing, instead of burning every record's attempts.

    After ``threshold`` server failures in a row (5xx, timeouts, bodies that are
    not JSON) the breaker trips and asks for a cool-down, doubling with every
    trip up to ``max_cooldown``. Any answer that shows the server working
    (deleted, not found, a permanent refusal) closes it again. Rate-limit
    answers are the pacer's business, token renewals the token provider's, and
    unrecognised JSON answers the :class:`UnknownAnswers` watch's: they change
    nothing here.
    """

    def __init__(
        self, threshold: int = 10, cooldown: float = 30.0, max_cooldown: float = 600.0
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.max_cooldown = max_cooldown
        self.streak = 0  # transient failures in a row
        self.trips = 0  # times tripped since the server last worked

    def record(self, outcome: Outcome) -> float | None:
        """Count one answer; returns the cool-down in seconds when the breaker trips."""
        if outcome in (Outcome.RATE_LIMITED, Outcome.UNEXPECTED, Outcome.TOKEN_REFUSED):
            return None
        if outcome is not Outcome.TRANSIENT:
            self.streak = self.trips = 0
            return None
        self.streak += 1
        if self.streak < self.threshold:
            return None
        self.streak = 0
        pause = min(self.max_cooldown, self.cooldown * 2.0 ** min(self.trips, MAX_DOUBLINGS))
        self.trips = min(self.trips + 1, MAX_DOUBLINGS)
        return pause


class NotFoundWatch:
    """A job's not-found guard: judges its first ``sample`` answers, once.

    When more than ``max_ratio`` of them are "No Record Found" the numbers are
    almost surely written differently from the campaign's, and the job would
    "succeed" having deleted nothing: :meth:`record` then returns the reason to
    block it with. Counts start from the job's recorded answers, so a restart
    neither resets nor repeats the judgement.
    """

    def __init__(self, sample: int, max_ratio: float, answered: int = 0, not_found: int = 0):
        self.sample = sample
        self.max_ratio = max_ratio
        self.answered = answered
        self.not_found = not_found
        self.armed = True

    def record(self, state: RecordState) -> tuple[BlockReason, str] | None:
        """Count a record's final state; returns the block (code, words) when the guard trips."""
        if self.armed and state in (RecordState.DELETED, RecordState.NOT_FOUND):
            self.answered += 1
            self.not_found += state is RecordState.NOT_FOUND
        return self.judge()

    def judge(self) -> tuple[BlockReason, str] | None:
        """The block once ``sample`` answers are in and too many were not found."""
        if not self.armed or self.answered < self.sample:
            return None
        self.armed = False
        ratio = self.not_found / self.answered
        if ratio <= self.max_ratio:
            return None
        return BlockReason.NOT_FOUND_GUARD, (
            f"{self.not_found} of the first {self.answered} answers ({ratio:.0%}) were No "
            "Record Found; the numbers are probably not written the way the campaign stores "
            "them (see phone_format)"
        )


class UnknownAnswers:
    """Stops an account that gets the same unrecognised answer ``limit`` times in a row.

    Then the API has changed or the account is misconfigured, and retrying every
    record up to its attempt limit would take weeks. Any recognised answer in
    between starts the count again; a streak of one record alone (it keeps getting
    an odd answer) never stops the account, so that record still fails alone.
    """

    def __init__(self, limit: int = 20) -> None:
        self.limit = limit
        self._answer: str | None = None
        self._records: set[int] = set()
        self._answers = 0

    def record(self, verdict: Verdict, record_id: int) -> tuple[StopReason, str] | None:
        """Count one answer; returns the stop (code, message) when the streak is complete."""
        if verdict.outcome in (Outcome.TRANSIENT, Outcome.RATE_LIMITED):
            return None  # no answer from the API itself: neither breaks nor extends a streak
        if verdict.outcome is not Outcome.UNEXPECTED:
            self._answer = None
            self._records.clear()
            self._answers = 0
            return None
        if verdict.message != self._answer:
            self._answer = verdict.message
            self._records.clear()
            self._answers = 0
        self._records.add(record_id)
        self._answers += 1
        # Retries come back before fresh records, so a streak may hold few records many
        # times; but one record alone never stops the account: it fails by itself.
        if self._answers < self.limit or len(self._records) < 2:
            return None
        return StopReason.UNKNOWN_ANSWERS, (
            f"{self._answers} answers in a row ({len(self._records)} records) were the same "
            "unrecognised answer "
            f"{verdict.message[:200]!r}: the API has changed or the account is misconfigured"
        )
