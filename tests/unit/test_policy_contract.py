"""The policy's documented numbers and names: the log events the README lists for each
answer, the circuit breaker's 10 failures / 30 s / 10 min, and the unknown-answer
watch that stops an account on 20 answers from as few as two records."""

from __future__ import annotations

import pytest

from runner.core.states import BlockReason, RecordState, StopReason
from runner.sending.classify import Outcome, Verdict
from runner.sending.policy import CircuitBreaker, NotFoundWatch, UnknownAnswers, decide
from runner.storage.queue import Claim


def claim(attempts: int = 0, record_id: int = 1) -> Claim:
    return Claim(record_id, 1, "9876543210", None, attempts, "main", 0.0, False)


@pytest.mark.parametrize(
    ("outcome", "attempts", "event"),
    [
        (Outcome.DELETED, 0, None),
        (Outcome.FAILED, 0, "record_failed"),
        (Outcome.TRANSIENT, 7, "record_failed"),  # its last attempt
        (Outcome.UNEXPECTED, 7, "record_failed"),
        (Outcome.TRANSIENT, 0, "retry"),
        (Outcome.STOP, 0, "account_stopped"),
        (Outcome.INVALID_CAMPAIGN, 0, "job_blocked"),
        (Outcome.TOKEN_REFUSED, 0, "token_refused"),
        (Outcome.RATE_LIMITED, 0, "rate_limited"),
    ],
)
def test_each_answer_logs_the_event_the_readme_names(
    outcome: Outcome, attempts: int, event: str | None
) -> None:
    verdict = Verdict(outcome, "r", "m", StopReason.AUTH if outcome is Outcome.STOP else None)
    assert decide(verdict, claim(attempts), 8, 1.0).event == event


def test_the_breaker_by_default_trips_after_10_for_30_s_doubling_up_to_10_min() -> None:
    breaker = CircuitBreaker()
    pauses = [breaker.record(Outcome.TRANSIENT) for _ in range(70)]
    assert [(n + 1, pause) for n, pause in enumerate(pauses) if pause is not None] == [
        (10, 30.0), (20, 60.0), (30, 120.0), (40, 240.0), (50, 480.0), (60, 600.0), (70, 600.0)
    ]  # fmt: skip


def test_the_not_found_guard_explains_itself() -> None:
    watch = NotFoundWatch(sample=4, max_ratio=0.5)
    for state in (RecordState.NOT_FOUND, RecordState.NOT_FOUND, RecordState.NOT_FOUND):
        assert watch.record(state) is None
    assert watch.record(RecordState.DELETED) == (
        BlockReason.NOT_FOUND_GUARD,
        "3 of the first 4 answers (75%) were No Record Found; the numbers are probably not "
        "written the way the campaign stores them (see phone_format)",
    )


def odd(message: str = "Something new") -> Verdict:
    return Verdict(Outcome.UNEXPECTED, "unexpected_response", message)


def test_twenty_odd_answers_from_two_records_stop_the_account() -> None:
    """Retries come back first, so a streak may hold only two records: that is enough."""
    watch = UnknownAnswers()
    results = [watch.record(odd(), record_id=1 + n % 2) for n in range(20)]
    assert results[:19] == [None] * 19
    assert results[19] == (
        StopReason.UNKNOWN_ANSWERS,
        "20 answers in a row (2 records) were the same unrecognised answer 'Something new': "
        "the API has changed or the account is misconfigured",
    )


def test_a_long_odd_answer_is_quoted_to_200_characters() -> None:
    watch = UnknownAnswers(limit=2)
    watch.record(odd("y" * 300), record_id=1)
    stop = watch.record(odd("y" * 300), record_id=2)
    assert stop is not None and repr("y" * 200) + ":" in stop[1]
    assert repr("y" * 201) not in stop[1]
