"""What to do with a record after an answer: pure decisions, no I/O.

Kept apart from the drain loop so that every rule of SPEC §1 (which answers are
final, which are retried, which use up an attempt) is a plain function to test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import StrEnum

from runner.classify import Outcome, Verdict


class Action(StrEnum):
    FINAL = "final"  # the record reaches a final state
    RETRY = "retry"  # back to pending after a backoff, one attempt used
    RATE_LIMITED = "rate_limited"  # back to pending, no attempt used; slow the account
    STOP_ACCOUNT = "stop_account"  # back to pending, no attempt used; stop the account
    BLOCK_JOB = "block_job"  # back to pending, no attempt used; block the job


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    state: str  # the record's next state
    reason: str | None
    attempts: int  # attempts used after this answer
    delay: float = 0.0  # seconds before the record may be sent again


# A Retry-After we cannot read, or none at all, still slows us down this long.
DEFAULT_RATE_LIMIT_PAUSE = 5.0
# A server asking for a pause longer than this is capped: the run must go on.
MAX_RATE_LIMIT_PAUSE = 600.0


def decide(
    verdict: Verdict,
    attempts_before: int,
    max_attempts: int,
    backoff: float,
    retry_after: float | None = None,
) -> Decision:
    """The next state of a record given the verdict on its latest request.

    ``backoff`` is the delay to use if the answer is retried (see :func:`backoff_delay`).
    """
    outcome = verdict.outcome
    if outcome in (Outcome.DELETED, Outcome.NOT_FOUND):
        return Decision(Action.FINAL, outcome.value, None, attempts_before + 1)
    if outcome is Outcome.FAILED:
        return Decision(Action.FINAL, "failed", verdict.reason, attempts_before + 1)
    if outcome is Outcome.AUTH:
        return Decision(Action.STOP_ACCOUNT, "pending", None, attempts_before)
    if outcome is Outcome.INVALID_CAMPAIGN:
        return Decision(Action.BLOCK_JOB, "pending", None, attempts_before)
    if outcome is Outcome.RATE_LIMITED:
        pause = rate_limit_pause(retry_after)
        return Decision(Action.RATE_LIMITED, "pending", None, attempts_before, pause)
    attempts = attempts_before + 1
    if attempts >= max_attempts:
        reason = "unexpected_response" if outcome is Outcome.UNEXPECTED else "exhausted_retries"
        return Decision(Action.FINAL, "failed", reason, attempts)
    return Decision(Action.RETRY, "pending", None, attempts, backoff)


def backoff_delay(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(maximum, initial·2^(attempt-1))].

    Full jitter spreads the retries of many records failing together, so they
    do not come back as one burst (AWS architecture blog, "Exponential Backoff
    And Jitter").
    """
    ceiling = min(maximum, initial * 2.0 ** max(attempt - 1, 0))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(text).timestamp() - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def rate_limit_pause(retry_after: float | None) -> float:
    """How long to pause an account after a rate-limit answer."""
    if retry_after is None:
        return DEFAULT_RATE_LIMIT_PAUSE
    return min(retry_after, MAX_RATE_LIMIT_PAUSE)


class CircuitBreaker:
    """Pauses an account whose server keeps failing, instead of burning every record's attempts.

    After ``threshold`` transient failures in a row the breaker trips and asks
    for a cool-down, doubling with every trip up to ``max_cooldown``. Any
    answer that shows the server working (deleted, not found, a permanent
    refusal) closes it again; rate-limit answers are the pacer's business and
    change nothing here.
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
        if outcome is Outcome.RATE_LIMITED:
            return None
        if outcome not in (Outcome.TRANSIENT, Outcome.UNEXPECTED):
            self.streak = self.trips = 0
            return None
        self.streak += 1
        if self.streak < self.threshold:
            return None
        self.streak = 0
        pause = min(self.max_cooldown, self.cooldown * 2.0**self.trips)
        self.trips += 1
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

    def record(self, state: str) -> str | None:
        """Count a record's final state; returns a block reason when the guard trips."""
        if self.armed and state in ("deleted", "not_found"):
            self.answered += 1
            self.not_found += state == "not_found"
        return self.judge()

    def judge(self) -> str | None:
        """The block reason once ``sample`` answers are in and too many were not found."""
        if not self.armed or self.answered < self.sample:
            return None
        self.armed = False
        ratio = self.not_found / self.answered
        if ratio <= self.max_ratio:
            return None
        return (
            f"not_found_guard: {self.not_found} of the first {self.answered} answers "
            f"({ratio:.0%}) were No Record Found; the numbers are probably not written the "
            "way the campaign stores them (see phone_format)"
        )
