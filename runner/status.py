"""``runner status``: the report of a database, as a table or as JSON.

:func:`collect` builds a :class:`~runner.report.Report` from the database alone
(counts, failure reasons, blocks, account stops, the senders' notes and the recent
request times for rate and ETA), so it works while a run is going, after it, and
after a restart. The renderers here and in :mod:`runner.metrics` format it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from runner.queue import Reader
from runner.report import (
    RECENT_RATE_WINDOW,
    AccountStatus,
    Counts,
    JobStatus,
    Report,
    RunnerStatus,
    account_status,
    job_status,
    latest_notes,
    runner_status,
    sender_status,
)
from runner.states import AFTER_INTERRUPTED, BlockReason, JobState, RecordState, StopReason

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
}


# ---------------------------------------------------------------- collecting


async def collect(reader: Reader, *, now: float, holder_pid: int | None) -> Report:
    """The report of the database behind ``reader`` at ``now``.

    ``holder_pid`` is the pid holding the database lock (-1: held, pid unreadable),
    or None when no runner is active.
    """
    stored = await reader.jobs()
    counts = await reader.state_counts()
    per_campaign = await reader.campaign_counts()
    reasons = await reader.failure_reasons()
    interrupted = await reader.interrupted_not_found()
    recent = await reader.recent_requests(now - RECENT_RATE_WINDOW)
    last = await reader.last_activity()
    active = holder_pid is not None
    jobs = tuple(
        job_status(
            job,
            Counts.of(counts.get(job.id, {})),
            reasons=reasons.get(job.id, {}),
            not_found_after_interrupted=interrupted.get(job.id, 0),
            recent=recent.get(job.id),
            last_activity=last.get(job.id),
            runner_active=active,
            campaign_counts=per_campaign.get(job.id, {}),
        )
        for job in stored
    )
    pid = holder_pid if holder_pid is not None and holder_pid > 0 else None
    stops = await reader.account_stops()
    notes = latest_notes(await reader.senders())
    names = sorted({job.account for job in jobs} | set(stops) | set(notes))
    accounts = tuple(
        account_status(name, stops.get(name), sender_status(notes.get(name), pid, now))
        for name in names
    )
    return Report(now, jobs, accounts, runner_status(active, pid, accounts))


# ---------------------------------------------------------------- JSON


def iso(timestamp: float | None, timespec: str = "seconds") -> str | None:
    """ISO 8601 in UTC, or None."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec=timespec)


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


def duration(seconds: float | None) -> str:
    """1d 4h, 3h 05m, 12m 30s, 45s — or '—' when unknown."""
    if seconds is None:
        return "—"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def ago(timestamp: float | None, now: float) -> str:
    """'42s ago', relative to the report's own time; '—' when never."""
    return "—" if timestamp is None else f"{duration(max(now - timestamp, 0.0))} ago"


COLUMNS = ("job", "state", "done", "deleted", "not found", "failed", "invalid", "left",
           "rate/min", "ETA", "last request")  # fmt: skip
# The counts of the table, after "done".
COUNTED = (RecordState.DELETED, RecordState.NOT_FOUND, RecordState.FAILED, RecordState.INVALID)
STATE_STYLES = {JobState.ACTIVE: "cyan", JobState.DONE: "green", JobState.BLOCKED: "bold red"}


def render(report: Report) -> Group:
    """The report as rich renderables: a table of jobs, then accounts and what needs care."""
    table = Table(
        title="runner status", title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True
    )
    # Rich squeezes no_wrap columns from the left: keep the job names readable.
    longest = max((len(job.name) for job in report.jobs), default=3)
    for column in COLUMNS:
        table.add_column(
            column,
            justify="left" if column in ("job", "state") else "right",
            no_wrap=True,
            min_width=min(longest, 40) if column == "job" else None,
        )
    several_accounts = len({job.account for job in report.jobs}) > 1
    for job in report.jobs:
        c = job.counts
        where = f"{job.campaign} @ {job.account}" if several_accounts else job.campaign
        table.add_row(
            Text(job.name) + Text(f"\n{where}", style="dim"),
            Text(job.state, style=STATE_STYLES.get(job.state, "")),
            f"{c.finished}/{c.total} {c.percent_done:.0f}%",
            *(str(c[state]) for state in COUNTED),
            str(c.left),
            "—" if job.rate_per_minute is None else f"{job.rate_per_minute:.0f}",
            duration(job.eta_seconds) if c.left else "—",
            ago(job.last_activity, report.generated_at),
        )
    return Group(
        table,
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
            doing = sender.note or ("sending" if sender.state == "busy" else sender.state)
            lines.append(
                Text(
                    f"account {account.name}: {doing} — {sender.mode} pid "
                    f"{sender.pid}, {sender.database}"
                )
            )
        elif sender is not None:
            lines.append(
                Text(
                    f"account {account.name}: no sender (last note: {sender.mode} pid "
                    f"{sender.pid}, {sender.database}, {sender.note or sender.state}, "
                    f"{ago(sender.updated_at, report.generated_at)}; not current)",
                    style="dim",
                )
            )
        else:
            lines.append(Text(f"account {account.name}: no sender", style="dim"))
    return lines


def totals_line(totals: Counts) -> Text:
    return Text(
        f"total {totals.total}: deleted {totals.deleted}, not found {totals.not_found}, "
        f"failed {totals.failed}, invalid {totals.invalid}, pending {totals.left}"
    )


def runner_line(runner: RunnerStatus) -> Text:
    if not runner.active:
        return Text("runner: not running")
    pid = "pid unknown" if runner.pid is None else f"pid {runner.pid}"
    if runner.mode is None:
        return Text(f"runner: active, {pid}")
    return Text(f"runner: {runner.mode} {pid}, {'busy' if runner.busy else 'idle'}")


def terminal() -> Console:
    """stdout as rich sees it; off a terminal (cron mail, a pipe) wide enough for the table."""
    return Console() if sys.stdout.isatty() else Console(width=132)


def print_report(report: Report, console: Console | None = None) -> None:
    (console or terminal()).print(render(report))


# ---------------------------------------------------------------- until the store reads
