"""``runner status``: the report of a database, as a table or as JSON.

:func:`collect` builds a :class:`~runner.reports.report.Report` from the database alone
(counts, failure reasons, blocks, account stops, the senders' notes and the recent
request times for rate and ETA), so it works while a run is going, after it, and
after a restart. JSON is written here, the table by :mod:`runner.reports.statustable`,
Prometheus text by :mod:`runner.reports.metrics`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from runner.core.clock import iso_ms as iso  # one format of every time shown
from runner.core.states import RecordState
from runner.reports.eta import finishing_shares
from runner.reports.report import (
    RECENT_RATE_WINDOW,
    AccountStatus,
    Counts,
    JobStatus,
    Report,
    RunnerStatus,
    account_status,
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
    lefts = {job.id: of_job(counts, job.id).left for job in stored}
    shares = finishing_shares(stored, lefts, finished, runner_active=active)
    jobs = tuple(
        job_status(
            job,
            of_job(counts, job.id),
            reasons=reasons.get(job.id, {}),
            not_found_after_interrupted=interrupted.get(job.id, 0),
            recent=recent.get(job.id),
            last_activity=last.get(job.id),
            runner_active=active,
            finished_per_minute=shares.get(job.id),
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


# ---------------------------------------------------------------- until the store reads
