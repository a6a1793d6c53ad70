"""``runner status``: the report of a database, as a table or as JSON.

:func:`collect` builds a :class:`~runner.reports.report.Report` from the database alone
(counts, failure reasons, blocks, account stops, the senders' notes and the recent
request times for rate and ETA), so it works while a run is going, after it, and
after a restart. The renderers here and in :mod:`runner.reports.metrics` format it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.text import Text

from runner.core.clock import iso_ms as iso  # one format of every time shown
from runner.core.states import AFTER_INTERRUPTED, BlockReason, JobState, RecordState, StopReason
from runner.reports.jobtable import ago, jobs_table
from runner.reports.report import (
    RECENT_RATE_WINDOW,
    AccountStatus,
    Counts,
    JobStatus,
    Report,
    RunnerStatus,
    SenderStatus,
    account_status,
    hopeless_text,
    job_status,
    latest_notes,
    note_is_current,
    runner_status,
    sender_status,
)
from runner.storage.counts import of_job
from runner.storage.queue import Reader, SenderNote

if TYPE_CHECKING:
    pass

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


# ---------------------------------------------------------------- collecting


async def collect(
    reader: Reader,
    *,
    now: float,
    holder_pid: int | None,
    totals: bool = False,
    shared: bool = False,
) -> Report:
    """The report of the database behind ``reader`` at ``now``.

    ``holder_pid`` is the pid holding the database lock (-1: held, pid unreadable),
    or None when no runner is active. ``totals``: also count every request ever made
    (for the metrics' counters; it reads the whole audit trail). A ``shared`` queue
    (PostgreSQL) has no holder: many processes drain it, each sender note is judged
    on its own.
    """
    notes = latest_notes(await reader.senders())
    if shared:
        holder_pid = shared_holder(notes.values(), now)
    stored = await reader.jobs()
    counts = await reader.state_counts()
    per_campaign = await reader.campaign_counts()
    reasons = await reader.failure_reasons()
    interrupted = await reader.interrupted_not_found()
    recent = await reader.recent_requests(now - RECENT_RATE_WINDOW)
    finished = await reader.recent_finished(now - RECENT_RATE_WINDOW)
    last = await reader.last_activity()
    active = holder_pid is not None
    pid = holder_pid if holder_pid is not None and holder_pid > 0 else None
    stops = await reader.account_stops()
    names = sorted({job.account for job in stored} | set(stops) | set(notes))
    accounts = tuple(
        account_status(
            name,
            stops.get(name),
            sender_status(notes.get(name), holder_of(notes.get(name), pid, shared), now),
        )
        for name in names
    )
    by_name = {account.name: account for account in accounts}
    jobs = tuple(
        job_status(
            job,
            of_job(counts, job.id),
            reasons=reasons.get(job.id, {}),
            not_found_after_interrupted=interrupted.get(job.id, 0),
            recent=recent.get(job.id),
            last_activity=last.get(job.id),
            runner_active=active,
            finished=finished.get(job.id),
            account=by_name.get(job.account),
            campaign_counts=per_campaign.get(job.id, {}),
        )
        for job in stored
    )
    request_totals = tuple(await reader.request_totals()) if totals else ()
    return Report(now, jobs, accounts, runner_status(active, pid, accounts), request_totals)


def empty_report(now: float) -> Report:
    """The report of a database not created yet: nothing loaded, nobody running."""
    return Report(now, (), (), RunnerStatus(active=False))


def holder_of(note: SenderNote | None, pid: int | None, shared: bool) -> int | None:
    """Whose note counts for an account: on a shared queue, each note's own writer."""
    return note.pid if shared and note is not None else pid


def shared_holder(notes: Iterable[SenderNote], now: float) -> int | None:
    """On a shared queue: a pid of a process whose note is fresh (-1: several), or None."""
    fresh = {n.pid for n in notes if note_is_current(n.pid, n.updated_at, n.until,
                                                     holder_pid=n.pid, now=now)}  # fmt: skip
    return None if not fresh else fresh.pop() if len(fresh) == 1 else -1


# ---------------------------------------------------------------- JSON


def counts_dict(counts: Counts) -> dict[str, int]:
    return {"total": counts.total} | {state.value: counts[state] for state in RecordState}


def _round(value: float | None, digits: int | None = None) -> float | None:
    return None if value is None else round(value, digits)


def job_dict(job: JobStatus) -> dict[str, Any]:
    return {
        "name": job.name,
        "account": job.account,
        "campaign": job.campaign,
        "state": job.state.value,
        "blocked_reason": job.blocked_reason,
        "blocked_message": job.blocked_message,
        "waiting": job.waiting,
        **counts_dict(job.counts),
        "percent_done": round(job.counts.percent_done, 1),
        "failure_reasons": dict(job.failure_reasons),
        "not_found_after_interrupted": job.not_found_after_interrupted,
        "rate_per_minute": _round(job.rate_per_minute, 1),
        "eta_seconds": _round(job.eta_seconds),
        "eta": job.eta_word,
        "eta_until": iso(job.eta_until),
        "last_activity": iso(job.last_activity),
        # Every campaign of the job (one for most), and those blocked alone.
        "campaigns": list(job.campaigns or (job.campaign,)),
        "campaign_counts": {name: counts_dict(n) for name, n in job.campaign_counts},
        "blocked_campaigns": [
            {"campaign": name, "blocked_reason": reason, "blocked_message": message}
            for name, reason, message in job.blocked_campaigns
        ],
    }


def account_dict(account: AccountStatus) -> dict[str, Any]:
    sender = account.sender
    return {
        "name": account.name,
        "stopped": account.stopped,
        "reason": account.stop_reason,
        "message": account.stop_message,
        "stopped_at": iso(account.stopped_at),
        "sender": None
        if sender is None
        else {
            "pid": sender.pid,
            "database": sender.database,
            "mode": sender.mode,
            "state": sender.state,
            "note": sender.note,
            "until": iso(sender.until),
            "updated_at": iso(sender.updated_at),
            "current": sender.current,
            "since": iso(sender.since),
        },
    }


def to_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready values: epoch seconds become ISO 8601 strings."""
    runner = report.runner
    return {
        "totals": counts_dict(report.totals),
        "jobs": [job_dict(job) for job in report.jobs],
        "accounts": [account_dict(account) for account in report.accounts],
        "runner": {
            "active": runner.active,
            "pid": runner.pid,
            "mode": runner.mode,
            "busy": runner.busy,
        },
        "generated_at": iso(report.generated_at),
    }


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2)


# ---------------------------------------------------------------- the table


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


# ---------------------------------------------------------------- until the store reads
