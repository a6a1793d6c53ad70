"""Retry decisions, backoff and Retry-After: the pure rules behind the drain."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from runner.classify import Outcome, Verdict
from runner.policy import (
    DEFAULT_RATE_LIMIT_PAUSE,
    MAX_RATE_LIMIT_PAUSE,
    Action,
    CircuitBreaker,
    NotFoundWatch,
    backoff_delay,
    decide,
    parse_retry_after,
)


def verdict(outcome: Outcome, reason: str = "r") -> Verdict:
    return Verdict(outcome, reason, "message")


@pytest.mark.parametrize(
    ("outcome", "action", "state", "attempts"),
    [
        (Outcome.DELETED, Action.FINAL, "deleted", 3),
        (Outcome.NOT_FOUND, Action.FINAL, "not_found", 3),
        (Outcome.FAILED, Action.FINAL, "failed", 3),
        (Outcome.AUTH, Action.STOP_ACCOUNT, "pending", 2),
        (Outcome.INVALID_CAMPAIGN, Action.BLOCK_JOB, "pending", 2),
        (Outcome.RATE_LIMITED, Action.RATE_LIMITED, "pending", 2),
        (Outcome.TRANSIENT, Action.RETRY, "pending", 3),
        (Outcome.UNEXPECTED, Action.RETRY, "pending", 3),
    ],
)
def test_decide(outcome: Outcome, action: Action, state: str, attempts: int) -> None:
    decision = decide(verdict(outcome), attempts_before=2, max_attempts=8, backoff=7.0)
    assert (decision.action, decision.state, decision.attempts) == (action, state, attempts)


def test_failed_keeps_the_verdict_reason() -> None:
    decision = decide(verdict(Outcome.FAILED, "invalid_phone"), 0, 8, 1.0)
    assert decision.reason == "invalid_phone"


def test_retry_waits_the_backoff() -> None:
    assert decide(verdict(Outcome.TRANSIENT), 0, 8, backoff=7.5).delay == 7.5


def test_last_transient_attempt_fails_as_exhausted() -> None:
    decision = decide(verdict(Outcome.TRANSIENT), attempts_before=7, max_attempts=8, backoff=1)
    assert (decision.state, decision.reason, decision.attempts) == (
        "failed",
        "exhausted_retries",
        8,
    )


def test_last_unexpected_attempt_fails_as_unexpected_response() -> None:
    decision = decide(verdict(Outcome.UNEXPECTED), 7, 8, 1.0)
    assert (decision.state, decision.reason) == ("failed", "unexpected_response")


def test_rate_limited_never_exhausts_attempts() -> None:
    decision = decide(verdict(Outcome.RATE_LIMITED), 7, 8, 1.0, retry_after=12.0)
    assert (decision.state, decision.attempts, decision.delay) == ("pending", 7, 12.0)


def test_rate_limit_pause_defaults_and_caps() -> None:
    assert decide(verdict(Outcome.RATE_LIMITED), 0, 8, 1.0).delay == DEFAULT_RATE_LIMIT_PAUSE
    capped = decide(verdict(Outcome.RATE_LIMITED), 0, 8, 1.0, retry_after=1e9)
    assert capped.delay == MAX_RATE_LIMIT_PAUSE


def test_backoff_is_full_jitter_under_a_doubling_ceiling() -> None:
    rng = random.Random(1)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (9, 300.0), (30, 300.0)]:
        delays = [backoff_delay(attempt, 2.0, 300.0, rng) for _ in range(500)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter: spread over the whole range, not bunched at the top.
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("5", 5.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("soon", None),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=1000.0) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert parse_retry_after(header, now.timestamp()) == pytest.approx(30.0)


def test_breaker_trips_after_threshold_in_a_row_with_growing_cooldowns() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10.0, max_cooldown=25.0)
    trips = [breaker.record(Outcome.TRANSIENT) for _ in range(12)]
    assert trips == [None, None, 10.0, None, None, 20.0, None, None, 25.0, None, None, 25.0]


def test_breaker_resets_when_the_server_works_and_ignores_429s() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10.0)
    for outcome in (Outcome.TRANSIENT, Outcome.UNEXPECTED, Outcome.RATE_LIMITED):
        assert breaker.record(outcome) is None
    assert breaker.record(Outcome.TRANSIENT) == 10.0  # the 429 neither counted nor reset
    breaker.record(Outcome.TRANSIENT)
    breaker.record(Outcome.NOT_FOUND)  # the server answers again
    assert (breaker.streak, breaker.trips) == (0, 0)
    assert [breaker.record(Outcome.TRANSIENT) for _ in range(3)][-1] == 10.0


def test_not_found_watch_blocks_when_nearly_all_first_answers_are_not_found() -> None:
    watch = NotFoundWatch(sample=10, max_ratio=0.8)
    verdicts = [watch.record("not_found") for _ in range(9)]
    assert verdicts == [None] * 9
    reason = watch.record("not_found")
    assert reason is not None and reason.startswith("not_found_guard: 10 of the first 10")
    assert watch.record("not_found") is None  # judged once


def test_not_found_watch_passes_a_healthy_job_and_then_stays_quiet() -> None:
    watch = NotFoundWatch(sample=10, max_ratio=0.8)
    for state in ["deleted"] * 3 + ["not_found"] * 7:
        assert watch.record(state) is None
    assert not watch.armed
    assert all(watch.record("not_found") is None for _ in range(100))


def test_not_found_watch_ignores_retries_and_failures() -> None:
    watch = NotFoundWatch(sample=2, max_ratio=0.5)
    for state in ("pending", "failed", "pending"):
        assert watch.record(state) is None
    assert watch.answered == 0


def test_not_found_watch_starts_from_recorded_answers() -> None:
    watch = NotFoundWatch(sample=200, max_ratio=0.9, answered=250, not_found=240)
    assert watch.judge() is not None
