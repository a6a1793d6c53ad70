"""One judge per answer: the rules among answers ranked into one ruling and one settlement."""

from __future__ import annotations

from fakes import DELETED, NOT_FOUND, SERVER_ERROR

from runner.config import RetryConfig
from runner.core.states import BlockReason, JobState, RecordState, StopReason
from runner.sending.classify import Outcome, Verdict
from runner.sending.client import Reply
from runner.sending.hopeless import HopelessWatch
from runner.sending.judge import Judge, guard_watch, guard_watches
from runner.sending.policy import CircuitBreaker, NotFoundWatch, UnknownAnswers
from runner.storage.counts import Counts
from runner.storage.queue import Claim, GuardSettings, Job

RETRY = RetryConfig(max_attempts=3, backoff_initial_seconds=0.0, backoff_max_seconds=0.0)
ODD = Reply(Verdict(Outcome.UNEXPECTED, "unexpected_response", "Deleted, kind of"), 200, "")


def claim(record_id: int = 1, job_id: int = 1, attempts: int = 0) -> Claim:
    return Claim(record_id, job_id, "9876543210", None, attempts, "main", 0.0)


def job(job_id: int = 1, cleared: bool = False) -> Job:
    return Job(job_id, f"job{job_id}", "main", "Sales", JobState.ACTIVE, None,
               guard_cleared=cleared)  # fmt: skip


def test_the_guard_block_is_written_with_the_answer_that_trips_it() -> None:
    judge = Judge(RETRY, guards={1: NotFoundWatch(sample=3, max_ratio=0.5)})
    rulings = [judge.answer(claim(n), NOT_FOUND, 10.0 + n) for n in range(3)]
    assert [r.guard_block is not None for r in rulings] == [False, False, True]
    written = rulings[-1].settlement(13.0)
    assert written.state is RecordState.NOT_FOUND
    assert written.block_job is not None and written.block_job[0] is BlockReason.NOT_FOUND_GUARD
    assert judge.answer(claim(9), NOT_FOUND, 14.0).guard_block is None  # judged once


def test_a_token_stop_outranks_a_streak_which_outranks_nothing() -> None:
    judge = Judge(RETRY, unknown=UnknownAnswers(limit=2))
    judge.answer(claim(1), ODD, 1.0)
    ruling = judge.answer(claim(2), ODD, 2.0)
    assert ruling.stop is not None and ruling.stop[0] is StopReason.UNKNOWN_ANSWERS
    assert ruling.settlement(2.0).stop_account == ruling.stop
    token = (StopReason.AUTH, "a fresh token was refused")
    assert ruling.settlement(2.0, token).stop_account == token
    assert judge.answer(claim(3), DELETED, 3.0).settlement(3.0).stop_account is None


def test_the_breaker_and_the_hopeless_timer_are_in_the_ruling() -> None:
    judge = Judge(RETRY, breaker=CircuitBreaker(threshold=2, cooldown=30.0),
                  hopeless=HopelessWatch(give_up_after=60.0, grace=60.0))  # fmt: skip
    assert judge.answer(claim(1), SERVER_ERROR, 0.0).cooldown is None
    assert judge.answer(claim(2), SERVER_ERROR, 1.0).cooldown == 30.0
    ruling = judge.answer(claim(3), SERVER_ERROR, 61.0)
    assert ruling.hopeless_stop is not None and ruling.stop == ruling.hopeless_stop
    assert judge.hopeless is not None
    judge.stopped = True  # a stopped account is not judged again
    assert judge.answer(claim(4), SERVER_ERROR, 200.0).hopeless_stop is None


def test_guards_come_from_the_job_and_count_its_recorded_answers() -> None:
    settings = {1: GuardSettings(10, 0.5), 2: GuardSettings(10, 0.5)}
    watches = guard_watches(settings, [job(1), job(2, cleared=True), job(3)],
                            {1: Counts(deleted=2, not_found=7, pending=5)})  # fmt: skip
    assert list(watches) == [1]  # job 2's guard was cleared, job 3 has none
    assert (watches[1].answered, watches[1].not_found) == (9, 7)
    assert guard_watch(job(1), None, Counts()) is None
