"""The pure rules behind the drain: decisions, settlements, backoff, Retry-After, and watches."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.core.protocol import parse_retry_after
from runner.core.states import AFTER_INTERRUPTED, BlockReason, RecordState, StopReason
from runner.sending.classify import Outcome, Verdict
from runner.sending.policy import (
    DEFAULT_RATE_LIMIT_PAUSE,
    MAX_RATE_LIMIT_PAUSE,
    CircuitBreaker,
    Decision,
    NotFoundWatch,
    UnknownAnswers,
    backoff_delay,
    decide,
    rate_limit_pause,
    settlement,
)
from runner.storage.queue import Claim


def verdict(
    outcome: Outcome, reason: str = "r", message: str = "message", stop: StopReason | None = None
) -> Verdict:
    return Verdict(outcome, reason, message, stop)


def claim(attempts: int = 2, interrupted: bool = False, record_id: int = 1) -> Claim:
    return Claim(record_id, 1, "9876543210", None, attempts, "main", 0.0, interrupted)


# ---------------------------------------------------------------- decide


@pytest.mark.parametrize(
    ("outcome", "state", "attempts"),
    [
        (Outcome.DELETED, RecordState.DELETED, 3),
        (Outcome.NOT_FOUND, RecordState.NOT_FOUND, 3),
        (Outcome.FAILED, RecordState.FAILED, 3),
        (Outcome.STOP, RecordState.PENDING, 2),
        (Outcome.INVALID_CAMPAIGN, RecordState.PENDING, 2),
        (Outcome.TOKEN_REFUSED, RecordState.PENDING, 2),
        (Outcome.RATE_LIMITED, RecordState.PENDING, 2),
        (Outcome.TRANSIENT, RecordState.PENDING, 3),
        (Outcome.UNEXPECTED, RecordState.PENDING, 3),
    ],
)
def test_state_and_attempts_after_each_outcome(
    outcome: Outcome, state: RecordState, attempts: int
) -> None:
    decision = decide(verdict(outcome, stop=StopReason.AUTH), claim(2), 8, 7.0)
    assert (decision.state, decision.attempts) == (state, attempts)


def test_final_answers_change_nothing_else() -> None:
    for outcome in (Outcome.DELETED, Outcome.NOT_FOUND):
        decision = decide(verdict(outcome), claim(0), 8, 7.0)
        assert decision == Decision(decision.state, None, 1)


def test_not_found_after_an_interrupted_request() -> None:
    decision = decide(verdict(Outcome.NOT_FOUND), claim(1, interrupted=True), 8, 1.0)
    assert (decision.state, decision.reason) == (RecordState.NOT_FOUND, AFTER_INTERRUPTED)
    assert decide(verdict(Outcome.NOT_FOUND), claim(1), 8, 1.0).reason is None
    deleted = decide(verdict(Outcome.DELETED), claim(1, interrupted=True), 8, 1.0)
    assert deleted.reason is None


def test_failed_keeps_the_verdict_reason() -> None:
    decision = decide(verdict(Outcome.FAILED, "invalid_phone"), claim(0), 8, 1.0)
    assert (decision.reason, decision.event) == ("invalid_phone", "record_failed")


@pytest.mark.parametrize("stop", [StopReason.AUTH, StopReason.AUTH_SETTING, StopReason.REDIRECT])
def test_a_stop_carries_its_code_and_message(stop: StopReason) -> None:
    decision = decide(verdict(Outcome.STOP, message="why", stop=stop), claim(3), 8, 1.0)
    assert decision.stop == (stop, "why")
    assert (decision.state, decision.attempts, decision.block) == (RecordState.PENDING, 3, None)
    assert decision.event == "account_stopped"


def test_invalid_campaign_blocks_the_job_with_the_message() -> None:
    decision = decide(verdict(Outcome.INVALID_CAMPAIGN, message="Passed campaign are invalid"),
                      claim(0), 8, 1.0)  # fmt: skip
    assert decision.block == (BlockReason.INVALID_CAMPAIGN, "Passed campaign are invalid")
    assert (decision.state, decision.attempts, decision.stop) == (RecordState.PENDING, 0, None)


def test_token_refused_renews_and_uses_no_attempt() -> None:
    decision = decide(verdict(Outcome.TOKEN_REFUSED), claim(7), 8, 5.0)
    assert decision.renew_token
    assert (decision.state, decision.attempts, decision.delay) == (RecordState.PENDING, 7, 0.0)
    assert decision.stop is None and decision.pause is None


def test_rate_limited_pauses_and_uses_no_attempt_even_at_the_limit() -> None:
    decision = decide(verdict(Outcome.RATE_LIMITED), claim(7), 8, 1.0, retry_after=12.0)
    assert (decision.state, decision.attempts) == (RecordState.PENDING, 7)
    assert decision.pause == 12.0 and decision.delay == 12.0
    assert not decision.renew_token


def test_rate_limit_pause_defaults_and_caps() -> None:
    assert decide(verdict(Outcome.RATE_LIMITED), claim(0), 8, 1.0).pause == DEFAULT_RATE_LIMIT_PAUSE
    capped = decide(verdict(Outcome.RATE_LIMITED), claim(0), 8, 1.0, retry_after=1e9)
    assert capped.pause == MAX_RATE_LIMIT_PAUSE
    assert rate_limit_pause(0.0) == 0.0


def test_retry_waits_the_backoff() -> None:
    decision = decide(verdict(Outcome.TRANSIENT), claim(0), 8, backoff=7.5)
    assert (decision.delay, decision.event, decision.attempts) == (7.5, "retry", 1)


def test_last_transient_attempt_fails_as_exhausted() -> None:
    decision = decide(verdict(Outcome.TRANSIENT), claim(7), 8, 1.0)
    assert (decision.state, decision.reason, decision.attempts) == (
        RecordState.FAILED,
        "exhausted_retries",
        8,
    )


def test_last_unexpected_attempt_fails_as_unexpected_response() -> None:
    decision = decide(verdict(Outcome.UNEXPECTED), claim(7), 8, 1.0)
    assert (decision.state, decision.reason) == (RecordState.FAILED, "unexpected_response")


def test_one_attempt_allowed_fails_at_once() -> None:
    decision = decide(verdict(Outcome.TRANSIENT), claim(0), 1, 1.0)
    assert (decision.state, decision.attempts) == (RecordState.FAILED, 1)


# ---------------------------------------------------------------- settlement


def test_settlement_writes_the_decision_and_the_answer() -> None:
    answer = verdict(Outcome.TRANSIENT, "http_503", "HTTP 503")
    decision = decide(answer, claim(1), 8, 4.0)
    row = settlement(decision, answer, 503, "<html>", 1000.0)
    assert (row.state, row.attempts, row.not_before, row.finished_at) == (
        RecordState.PENDING, 2, 1004.0, 1000.0
    )  # fmt: skip
    assert (row.http_status, row.outcome, row.message, row.body) == (
        503, "http_503", "HTTP 503", "<html>"
    )  # fmt: skip
    assert row.stop_account is None and row.block_job is None


def test_settlement_carries_blocks_and_stops() -> None:
    blocked = verdict(Outcome.INVALID_CAMPAIGN, "invalid_campaign", "bad campaign")
    row = settlement(decide(blocked, claim(), 8, 1.0), blocked, 200, "{}", 5.0)
    assert row.block_job == (BlockReason.INVALID_CAMPAIGN, "bad campaign")
    stop = verdict(Outcome.STOP, "auth", "Invalid User Details", StopReason.AUTH)
    row = settlement(decide(stop, claim(), 8, 1.0), stop, 200, "{}", 5.0)
    assert row.stop_account == (StopReason.AUTH, "Invalid User Details")


def test_a_streak_stop_overrides_the_decision() -> None:
    odd = verdict(Outcome.UNEXPECTED, "unexpected_response", "odd")
    streak = (StopReason.UNKNOWN_ANSWERS, "20 records ...")
    row = settlement(decide(odd, claim(0), 8, 1.0), odd, 200, "{}", 5.0, stop=streak)
    assert row.stop_account == streak
    assert row.state is RecordState.PENDING


# ---------------------------------------------------------------- backoff


def test_backoff_is_full_jitter_under_a_doubling_ceiling() -> None:
    rng = random.Random(1)
    for attempt, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (9, 300.0), (30, 300.0)]:
        delays = [backoff_delay(attempt, 2.0, 300.0, rng) for _ in range(500)]
        assert all(0.0 <= d <= ceiling for d in delays)
        # Full jitter: spread over the whole range, not bunched at the top.
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9


def test_backoff_for_every_attempt_up_to_100_000() -> None:
    rng = random.Random(7)
    for attempt in range(1, 100_001):
        assert 0.0 <= backoff_delay(attempt, 2.0, 300.0, rng) <= 300.0


@settings(max_examples=300, deadline=None)
@given(
    attempt=st.integers(min_value=-5, max_value=10**6),
    initial=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    extra=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    seed=st.integers(0, 2**32),
)
def test_backoff_never_raises_and_stays_under_its_caps(
    attempt: int, initial: float, extra: float, seed: int
) -> None:
    maximum = initial + extra
    delay = backoff_delay(attempt, initial, maximum, random.Random(seed))
    assert 0.0 <= delay <= maximum
    doublings = max(attempt - 1, 0)
    if doublings < 60:
        assert delay <= initial * 2.0**doublings


# ---------------------------------------------------------------- Retry-After


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


# ---------------------------------------------------------------- the breaker


def test_breaker_trips_after_threshold_in_a_row_with_growing_cooldowns() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10.0, max_cooldown=25.0)
    trips = [breaker.record(Outcome.TRANSIENT) for _ in range(12)]
    assert trips == [None, None, 10.0, None, None, 20.0, None, None, 25.0, None, None, 25.0]


@pytest.mark.parametrize(
    "outcome", [Outcome.RATE_LIMITED, Outcome.UNEXPECTED, Outcome.TOKEN_REFUSED]
)
def test_breaker_neither_counts_nor_resets_on(outcome: Outcome) -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10.0)
    breaker.record(Outcome.TRANSIENT)
    breaker.record(Outcome.TRANSIENT)
    for _ in range(50):
        assert breaker.record(outcome) is None
    assert breaker.streak == 2
    assert breaker.record(Outcome.TRANSIENT) == 10.0


@pytest.mark.parametrize(
    "outcome",
    [Outcome.DELETED, Outcome.NOT_FOUND, Outcome.FAILED, Outcome.INVALID_CAMPAIGN, Outcome.STOP],
)
def test_breaker_resets_when_the_server_answers(outcome: Outcome) -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10.0)
    assert [breaker.record(Outcome.TRANSIENT) for _ in range(5)][2] == 10.0
    breaker.record(outcome)
    assert (breaker.streak, breaker.trips) == (0, 0)
    assert [breaker.record(Outcome.TRANSIENT) for _ in range(3)] == [None, None, 10.0]


@settings(max_examples=10, deadline=None)
@given(
    threshold=st.integers(min_value=1, max_value=20),
    cooldown=st.floats(min_value=0.0, max_value=1e4, allow_nan=False),
    extra=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
)
def test_breaker_survives_100_000_failures_in_a_row(
    threshold: int, cooldown: float, extra: float
) -> None:
    # 2.0 ** 1024 overflows: an uncapped exponent crashed after ~10,250 failures.
    max_cooldown = cooldown + extra
    breaker = CircuitBreaker(threshold=threshold, cooldown=cooldown, max_cooldown=max_cooldown)
    trips = 0
    for n in range(1, 100_001):
        pause = breaker.record(Outcome.TRANSIENT)
        if n % threshold == 0:
            assert pause is not None and 0.0 <= pause <= max_cooldown
            trips += 1
        else:
            assert pause is None
    assert trips == 100_000 // threshold


# ---------------------------------------------------------------- the not-found guard


def test_not_found_watch_blocks_when_nearly_all_first_answers_are_not_found() -> None:
    watch = NotFoundWatch(sample=10, max_ratio=0.8)
    assert [watch.record(RecordState.NOT_FOUND) for _ in range(9)] == [None] * 9
    block = watch.record(RecordState.NOT_FOUND)
    assert block is not None
    code, message = block
    assert code is BlockReason.NOT_FOUND_GUARD
    assert message.startswith("10 of the first 10 answers (100%)")
    assert watch.record(RecordState.NOT_FOUND) is None  # judged once


def test_not_found_watch_passes_a_healthy_job_and_then_stays_quiet() -> None:
    watch = NotFoundWatch(sample=10, max_ratio=0.8)
    for state in [RecordState.DELETED] * 2 + [RecordState.NOT_FOUND] * 8:
        assert watch.record(state) is None  # 80 % is not more than 80 %
    assert not watch.armed
    assert all(watch.record(RecordState.NOT_FOUND) is None for _ in range(100))


def test_not_found_watch_ignores_retries_and_failures() -> None:
    watch = NotFoundWatch(sample=2, max_ratio=0.5)
    for state in (RecordState.PENDING, RecordState.FAILED, RecordState.PENDING):
        assert watch.record(state) is None
    assert watch.answered == 0


def test_not_found_watch_starts_from_recorded_answers() -> None:
    watch = NotFoundWatch(sample=200, max_ratio=0.9, answered=250, not_found=240)
    block = watch.judge()
    assert block is not None and block[0] is BlockReason.NOT_FOUND_GUARD
    assert watch.judge() is None


# ---------------------------------------------------------------- unknown answers


def odd(message: str = "Something new") -> Verdict:
    return Verdict(Outcome.UNEXPECTED, "unexpected_response", message)


def test_twenty_records_in_a_row_with_the_same_odd_answer_stop_the_account() -> None:
    watch = UnknownAnswers()
    assert [watch.record(odd(), record_id) for record_id in range(1, 20)] == [None] * 19
    stop = watch.record(odd(), 20)
    assert stop is not None
    code, message = stop
    assert code is StopReason.UNKNOWN_ANSWERS
    assert "'Something new'" in message and "20 records" in message


def test_a_recognised_answer_in_between_starts_the_count_again() -> None:
    watch = UnknownAnswers(limit=20)
    for record_id in range(1, 20):
        assert watch.record(odd(), record_id) is None
    assert watch.record(Verdict(Outcome.DELETED, "deleted", "Deleted Successfully"), 99) is None
    for record_id in range(100, 119):
        assert watch.record(odd(), record_id) is None
    assert watch.record(odd(), 119) is not None


def test_server_trouble_neither_breaks_nor_extends_a_streak() -> None:
    watch = UnknownAnswers(limit=3)
    assert watch.record(odd(), 1) is None
    assert watch.record(Verdict(Outcome.TRANSIENT, "http_503", "HTTP 503"), 2) is None
    assert watch.record(Verdict(Outcome.RATE_LIMITED, "rate_limited", "HTTP 429"), 3) is None
    assert watch.record(odd(), 4) is None
    assert watch.record(odd(), 5) is not None


def test_one_record_getting_the_same_odd_answer_100_times_never_trips() -> None:
    watch = UnknownAnswers(limit=20)
    assert all(watch.record(odd(), 7) is None for _ in range(100))


def test_a_different_odd_answer_starts_the_count_again() -> None:
    watch = UnknownAnswers(limit=20)
    for record_id in range(1, 20):
        assert watch.record(odd("first"), record_id) is None
    assert watch.record(odd("second"), 20) is None
    for record_id in range(21, 39):
        assert watch.record(odd("second"), record_id) is None
    stop = watch.record(odd("second"), 39)
    assert stop is not None and "'second'" in stop[1]


def test_settlement_keeps_the_count_of_a_counted_deletion() -> None:
    """Found by mutation testing: the N of "N Records Deleted Successfully" reaches the row
    (and the export's deleted_count); a plain "Deleted Successfully" leaves it empty."""
    counted = Verdict(Outcome.DELETED, "deleted", "4 Records Deleted Successfully", count=4)
    row = settlement(decide(counted, claim(), 8, 1.0), counted, 200, "{}", 5.0)
    assert (row.state, row.deleted_count) == (RecordState.DELETED, 4)
    plain = verdict(Outcome.DELETED, "deleted", "Deleted Successfully")
    assert settlement(decide(plain, claim(), 8, 1.0), plain, 200, "{}", 5.0).deleted_count is None
