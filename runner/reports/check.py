"""``runner status --check``: the report's verdict as an exit code, for cron and monitoring.

0 every record final and clean (or being sent by a process), 1 failed records, 3 a
blocked job or a stopped account (or one its sender judged hopeless), 5 work pending
that no process sends. The worst applies: what needs a person before what waits.
"""

from __future__ import annotations

from runner.core.errors import ExitCode
from runner.core.states import JobState
from runner.reports.report import AccountStatus, Report
from runner.sending.senderstate import HOPELESS, LOCKED_ELSEWHERE, STOPPED

CHECK_MEANINGS = {
    ExitCode.OK: "every record final and clean, or being sent",
    ExitCode.FAILURES: "some records failed",
    ExitCode.AUTH: "a job is blocked or an account stopped",
    ExitCode.NO_SENDER: "work is pending and no process sends it",
}


def check_code(report: Report, job: str | None = None) -> ExitCode:
    """``status --check``: 3 a blocked job or a stopped (or hopeless) account, else 1
    failed records, else 5 work pending that no process sends, else 0."""
    jobs = [j for j in report.jobs if job is None or j.name == job]
    accounts = {a.name: a for a in report.accounts}
    named = {j.account for j in jobs}
    involved = [a for a in report.accounts if job is None or a.name in named]
    if any(j.state is JobState.BLOCKED for j in jobs) or any(map(account_broken, involved)):
        return ExitCode.AUTH
    if any(j.counts.failed for j in jobs):
        return ExitCode.FAILURES
    if any(j.counts.left and not has_sender(accounts.get(j.account)) for j in jobs):
        return ExitCode.NO_SENDER
    return ExitCode.OK


def account_broken(account: AccountStatus) -> bool:
    """Stopped, or judged hopeless by the process that sends for it."""
    sender = account.sender
    said = sender.state if sender is not None and sender.current else None
    return account.stopped or said == STOPPED or said in HOPELESS


def has_sender(account: AccountStatus | None) -> bool:
    """A current note of the database's holder drains the account."""
    sender = account.sender if account is not None else None
    return sender is not None and sender.current and sender.state != LOCKED_ELSEWHERE
