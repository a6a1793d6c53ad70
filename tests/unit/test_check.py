"""`runner status --check`: the verdict of a report as an exit code."""

from __future__ import annotations

from runner.core.states import BlockReason, JobState, StopReason
from runner.reports.check import check_code
from runner.reports.report import (
    AccountStatus,
    Counts,
    JobStatus,
    Report,
    RunnerStatus,
    SenderStatus,
)

NOW = 1_000.0


def job(
    name: str, state: JobState = JobState.DONE, account: str = "main", **counts: int
) -> JobStatus:
    blocked = BlockReason.INVALID_CAMPAIGN if state is JobState.BLOCKED else None
    return JobStatus(1, name, account, "Sales", state, Counts(**counts), blocked_reason=blocked)


def sender(state: str, current: bool = True) -> SenderStatus:
    return SenderStatus(42, "/db", "worker", state, None, None, NOW, current)


def report(*jobs: JobStatus, accounts: tuple[AccountStatus, ...] = ()) -> Report:
    return Report(NOW, jobs, accounts, RunnerStatus(active=True, pid=42))


def test_final_and_clean_is_0_and_cancelled_or_invalid_records_are_clean() -> None:
    assert check_code(report(job("a", deleted=3, not_found=1, invalid=2, cancelled=4))) == 0
    assert check_code(report()) == 0  # nothing loaded yet


def test_failed_records_are_1() -> None:
    assert check_code(report(job("a", deleted=3, failed=1))) == 1


def test_a_blocked_job_or_a_stopped_account_is_3_before_failures() -> None:
    blocked = job("a", JobState.BLOCKED, pending=5)
    assert check_code(report(blocked, job("b", failed=1))) == 3
    stopped = AccountStatus("main", StopReason.AUTH, "Invalid User Details", NOW)
    assert check_code(report(job("a", JobState.ACTIVE, pending=2), accounts=(stopped,))) == 3


def test_a_hopeless_account_is_3_like_a_stopped_one() -> None:
    for state in ("unreachable", "no_usable_answer", "rate_limited", "stopped"):
        account = AccountStatus("main", sender=sender(state))
        assert check_code(report(job("a", JobState.ACTIVE, pending=2), accounts=(account,))) == 3


def test_pending_work_without_a_current_sender_is_5_with_one_is_0() -> None:
    pending = job("a", JobState.ACTIVE, pending=2)
    assert check_code(report(pending)) == 5
    gone = AccountStatus("main", sender=sender("sending", current=False))
    assert check_code(report(pending, accounts=(gone,))) == 5
    elsewhere = AccountStatus("main", sender=sender("locked_elsewhere"))
    assert check_code(report(pending, accounts=(elsewhere,))) == 5
    for state in ("sending", "waiting", "idle"):
        account = AccountStatus("main", sender=sender(state))
        assert check_code(report(pending, accounts=(account,))) == 0


def test_job_checks_only_that_job_and_its_account() -> None:
    other = AccountStatus("other", StopReason.AUTH, None, NOW)
    both = report(job("a", deleted=1), job("b", failed=2, account="other"), accounts=(other,))
    assert check_code(both, "a") == 0
    assert check_code(both, "b") == 3
    assert check_code(both) == 3
