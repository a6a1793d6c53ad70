"""``runner status`` as a table: the jobs (:mod:`runner.reports.jobtable`), what needs
care and how to fix it, one line per account, the totals and the runner's line.

:mod:`runner.reports.status` collects the report and writes its JSON; this module draws it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from rich.console import Console, Group
from rich.text import Text

from runner.core.states import AFTER_INTERRUPTED, BlockReason, JobState, StopReason
from runner.reports.jobtable import ago, jobs_table
from runner.reports.report import (
    Counts,
    JobStatus,
    Report,
    RunnerStatus,
    SenderStatus,
    hopeless_text,
)

BLOCKED_HINTS = {
    BlockReason.INVALID_CAMPAIGN: "check the job's campaign in the config",
    BlockReason.NOT_FOUND_GUARD: "check how the numbers are formatted",
}
STOP_HINTS = {
    StopReason.AUTH: "check the API key and user_name",
    StopReason.AUTH_SETTING: "set the account's API Authentication to BASIC_AUTH",
    StopReason.REDIRECT: "check base_url: it answers with a redirect",
    StopReason.UNKNOWN_ANSWERS: "see the answers with `runner export`, then run again",
    StopReason.UNREACHABLE: "check base_url, DNS, the network and the server, then run again",
    StopReason.NO_USABLE_ANSWER: "check base_url (a wrong URL, a proxy or portal answers "
    "instead of the API), then run again",
    StopReason.RATE_LIMITED: "the API refused every request as over its limit: check "
    "rate_limit and whether another program uses the account, then run again",
}


def render(report: Report, width: int | None = None) -> Group:
    """The report as rich renderables: a table of jobs (fitted to ``width`` columns), then
    accounts and what needs care."""
    empty = [] if report.jobs else [Text("no jobs yet: `runner load` or `runner run` adds them")]
    return Group(
        jobs_table(report, width),
        *empty,
        *job_notes(report.jobs),
        *account_lines(report),
        totals_line(report.totals),
        runner_line(report.runner),
    )


def job_notes(jobs: Iterable[JobStatus]) -> list[Text]:
    notes = []
    for job in jobs:
        if job.state is JobState.BLOCKED:
            hint = BLOCKED_HINTS.get(job.blocked_reason) if job.blocked_reason else None
            words = f": {job.blocked_message}" if job.blocked_message else ""
            notes.append(
                Text(
                    f"blocked: {job.name}: {job.blocked_reason or 'unknown'}{words} — "
                    f"{hint or 'fix the cause'}, then `runner retry --job {job.name}`",
                    style="red",
                )
            )
        for campaign, reason, message in job.blocked_campaigns:
            notes.append(
                Text(
                    f"blocked: {job.name}: campaign {campaign!r}: {reason}: {message} — "
                    f"{BLOCKED_HINTS.get(reason) or 'fix the cause'}, then "
                    f"`runner retry --job {job.name} --campaign {campaign}`",
                    style="red",
                )
            )
        if job.waiting:
            notes.append(Text(f"waiting: {job.name}: {job.waiting}", style="yellow"))
        if job.failure_reasons:
            reasons = ", ".join(f"{r} {n}" for r, n in job.failure_reasons)
            notes.append(
                Text(
                    f"failed in {job.name}: {reasons} (`runner export --state failed` lists them)",
                    style="yellow",
                )
            )
        if job.not_found_after_interrupted:
            notes.append(
                Text(
                    f"not found after an interrupted request in {job.name}: "
                    f"{job.not_found_after_interrupted} (probably deleted by that request; "
                    f"`runner export` shows them with reason {AFTER_INTERRUPTED})",
                    style="dim",
                )
            )
    return notes


def account_lines(report: Report) -> list[Text]:
    """One line per account: why it is stopped, or who sends for it and how it does."""
    lines = []
    for account in report.accounts:
        sender = account.sender
        if account.stop_reason is not None:
            lines.append(
                Text(
                    f"account {account.name}: stopped: {account.stop_reason}: "
                    f"{account.stop_message or 'no message'} — {STOP_HINTS[account.stop_reason]}",
                    style="red",
                )
            )
        elif sender is not None and sender.current:
            lines.append(
                Text(
                    f"account {account.name}: {sender_words(sender)} — {sender.mode} pid "
                    f"{sender.pid}, {sender.database}"
                )
            )
        elif sender is not None:
            lines.append(
                Text(
                    f"account {account.name}: no sender (last note: {sender.mode} pid "
                    f"{sender.pid}, {sender.database}, {sender_words(sender)}, "
                    f"{ago(sender.updated_at, report.generated_at)}; not current)",
                    style="dim",
                )
            )
        else:
            lines.append(Text(f"account {account.name}: no sender", style="dim"))
    return lines


def sender_words(sender: SenderStatus) -> str:
    """'sending', 'waiting until 21:05:00 UTC: token budget spent', 'stopped: auth: ...',
    'unreachable since 03:12: connection refused'."""
    hopeless = hopeless_text(sender)
    if hopeless is not None:
        return hopeless
    words = sender.state
    if sender.until is not None:
        words += f" until {datetime.fromtimestamp(sender.until, UTC):%H:%M:%S} UTC"
    return f"{words}: {sender.note}" if sender.note else words


def totals_line(totals: Counts) -> Text:
    return Text(
        f"total {totals.total}: deleted {totals.deleted}, not found {totals.not_found}, "
        f"failed {totals.failed}, invalid {totals.invalid}, pending {totals.left}"
        + (f", cancelled {totals.cancelled}" if totals.cancelled else "")
    )


def runner_line(runner: RunnerStatus) -> Text:
    if not runner.active:
        return Text("runner: not running")
    pid = "pid unknown" if runner.pid is None else f"pid {runner.pid}"
    if runner.mode is None:
        return Text(f"runner: active, {pid}")
    return Text(f"runner: {runner.mode} {pid}, {'sending' if runner.busy else 'not sending'}")


def terminal() -> Console:
    """stdout as rich sees it: the terminal's width, or ``COLUMNS``; off a terminal (cron
    mail, a pipe) without ``COLUMNS``, wide enough for the whole table."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit():
        return Console()
    return Console(width=132)


def print_report(report: Report, console: Console | None = None) -> None:
    """The table fitted to the console; off a terminal without trailing padding."""
    console = console or terminal()
    if console.is_terminal:
        console.print(render(report, console.width))
        return
    with console.capture() as captured:
        console.print(render(report, console.width))
    stripped = "".join(line.rstrip() + "\n" for line in captured.get().splitlines())
    console.out(stripped, highlight=False, end="")
