"""What ``runner status`` knows, as plain values: counts, codes and epoch seconds.

:func:`runner.reports.status.collect` builds a :class:`Report`; the renderers (the table and
JSON in :mod:`runner.reports.status`, Prometheus text in :mod:`runner.reports.metrics`) are the only
places that format it. Nothing here is a string meant for a reader except the words
that came from the database (block and stop messages, sender notes), and nothing
here reads a clock or a database, so the decisions below are unit-tested with values.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from runner.core.states import HOPELESS_STATES, BlockReason, JobState, StopReason
from runner.reports.eta import job_eta, per_minute
from runner.sending.senderstate import is_sending
from runner.storage.counts import Counts as Counts  # re-exported: the reports are made of it
from runner.storage.queue import Job, SenderNote

# The recent rate (and the ETA drawn from it) is measured over the requests that
# started in this many seconds: long enough to smooth over retries and token renewals.
RECENT_RATE_WINDOW = 600.0
# A sender note not rewritten for this long, while the process that wrote it holds the
# database, no longer says what that process does (it may hang, or have left the account).
SENDER_STALE_AFTER = 180.0


@dataclass(frozen=True, slots=True)
class JobStatus:
    id: int
    name: str
    account: str
    campaign: str
    state: JobState  # DONE when nothing is left, unless the job is blocked
    counts: Counts
    blocked_reason: BlockReason | None = None
    blocked_message: str | None = None
    waiting: str | None = None  # why the running process leaves the job pending
    failure_reasons: tuple[tuple[str, int], ...] = ()  # (reason, count), by reason
    not_found_after_interrupted: int = 0
    rate_per_minute: float | None = None  # None: fewer than two recent requests
    eta_seconds: float | None = None  # only for a job being drained now (see job_eta)
    last_activity: float | None = None  # the start of its latest request
    eta_word: str | None = None  # why there is no ETA: blocked, stopped, no sender, waiting...
    eta_until: float | None = None  # when the wait of eta_word ends, where known
    campaigns: tuple[str, ...] = ()  # a job of several campaigns: their names
    # Campaigns of such a job the API called invalid: (campaign, reason, message).
    blocked_campaigns: tuple[tuple[str, BlockReason, str | None], ...] = ()
    campaign_counts: tuple[tuple[str, Counts], ...] = ()  # per campaign, in the job's order


@dataclass(frozen=True, slots=True)
class SenderStatus:
    """The latest note a process left about an account it drains (or tried to)."""

    pid: int
    database: str
    mode: str  # "run" or "worker"
    state: str  # one of runner.sending.senderstate.SENDER_STATES
    note: str | None
    until: float | None
    updated_at: float | None
    current: bool  # written by the database's holder, recently enough to hold
    since: float | None = None  # when a hopeless state (unreachable, ...) began


@dataclass(frozen=True, slots=True)
class AccountStatus:
    name: str
    stop_reason: StopReason | None = None
    stop_message: str | None = None
    stopped_at: float | None = None
    sender: SenderStatus | None = None

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """The process holding the database lock, if one does."""

    active: bool
    pid: int | None = None  # None when no runner is active, or its pid is unreadable
    mode: str | None = None  # "run" or "worker", from its sender notes
    busy: bool = False  # some account of it is sending (state "sending")


@dataclass(frozen=True, slots=True)
class Report:
    generated_at: float
    jobs: tuple[JobStatus, ...]
    accounts: tuple[AccountStatus, ...]
    runner: RunnerStatus
    # (account, outcome, HTTP status, requests ever), read for the metrics only
    request_totals: tuple[tuple[str, str, str, int], ...] = ()

    @property
    def totals(self) -> Counts:
        return sum((job.counts for job in self.jobs), Counts())


# ---------------------------------------------------------------- decisions


def job_state(stored: JobState, left: int) -> JobState:
    """Blocked as stored; otherwise done when nothing is left to send."""
    if stored is JobState.BLOCKED:
        return JobState.BLOCKED
    return JobState.ACTIVE if left else JobState.DONE


def note_is_current(
    pid: int,
    updated_at: float | None,
    until: float | None,
    *,
    holder_pid: int | None,
    now: float,
) -> bool:
    """Whether a sender note still says what is happening.

    Only the process holding the database drains it, so a note of any other pid is
    history. The holder's note holds while it is fresh, or while the wait it announces
    (``until``) has not run out; a note without a time cannot be judged stale.
    """
    if holder_pid is None or pid != holder_pid:
        return False
    if updated_at is None:
        return True
    latest = max(updated_at, until) if until is not None else updated_at
    return now - latest <= SENDER_STALE_AFTER


def job_status(
    job: Job,
    counts: Counts,
    *,
    reasons: dict[str, int],
    not_found_after_interrupted: int,
    recent: tuple[int, float, float] | None,
    last_activity: float | None,
    runner_active: bool,
    finished_per_minute: float | None = None,
    account: AccountStatus | None = None,
    campaign_counts: dict[str, dict[str, int]] | None = None,
) -> JobStatus:
    """A job as status shows it; ``recent`` are its recent requests (the rate),
    ``finished_per_minute`` its share of its account's records finished recently (the
    ETA: :func:`fair_shares`), ``account`` its account's status."""
    state = job_state(job.state, counts.left)
    rate = per_minute(*recent) if recent is not None else None
    blocked = state is JobState.BLOCKED
    # A note left by a process that is gone, or about a job with nothing left,
    # no longer explains anything.
    waiting = job.waiting if runner_active and state is JobState.ACTIVE else None
    estimate = job_eta(
        counts.left,
        finished_per_minute,
        blocked=blocked,
        stopped=account is not None and account.stopped,
        sender=None if waiting is not None else current_sender(account),
    )
    return JobStatus(
        id=job.id,
        name=job.name,
        account=job.account,
        campaign=job.campaign,
        state=state,
        counts=counts,
        blocked_reason=job.blocked_reason if blocked else None,
        blocked_message=job.blocked_message if blocked else None,
        waiting=waiting,
        failure_reasons=tuple(sorted(reasons.items())),
        not_found_after_interrupted=not_found_after_interrupted,
        rate_per_minute=rate,
        eta_seconds=estimate.seconds,
        last_activity=last_activity,
        eta_word=estimate.word,
        eta_until=estimate.until,
        campaigns=job.campaigns,
        blocked_campaigns=job.blocked_campaigns,
        campaign_counts=tuple(
            (name, Counts.of((campaign_counts or {}).get(name, {}))) for name in job.campaigns
        ),
    )


def current_sender(account: AccountStatus | None) -> tuple[str, float | None] | None:
    """(state, until) of the process draining the account now, or None."""
    sender = account.sender if account is not None else None
    if sender is None or not sender.current:
        return None
    return sender.state, sender.until


def latest_notes(notes: Iterable[SenderNote]) -> dict[str, SenderNote]:
    """The latest note of each account (a note without a time counts as oldest)."""
    latest: dict[str, SenderNote] = {}
    for note in notes:
        seen = latest.get(note.account)
        if seen is None or (note.updated_at or 0.0) >= (seen.updated_at or 0.0):
            latest[note.account] = note
    return latest


def account_status(
    name: str,
    stop: tuple[StopReason, str | None, float] | None,
    sender: SenderStatus | None,
) -> AccountStatus:
    if stop is None:
        return AccountStatus(name, sender=sender)
    reason, message, at = stop
    return AccountStatus(name, reason, message, at, sender)


def sender_status(
    note: SenderNote | None, holder_pid: int | None, now: float
) -> SenderStatus | None:
    """The note as status shows it; ``holder_pid`` holds the database (None: nobody)."""
    if note is None:
        return None
    current = note_is_current(note.pid, note.updated_at, note.until, holder_pid=holder_pid, now=now)
    return SenderStatus(
        note.pid,
        note.database,
        note.mode,
        note.state,
        note.note,
        note.until,
        note.updated_at,
        current,
        since=note.since,
    )


def runner_status(active: bool, pid: int | None, accounts: Sequence[AccountStatus]) -> RunnerStatus:
    """The holder, its mode and whether it sends, as its current notes tell."""
    own = [a.sender for a in accounts if a.sender is not None and a.sender.pid == pid]
    mode = max(own, key=lambda s: s.updated_at or 0.0).mode if own and pid else None
    busy = any(s.current and is_sending(s.state) for s in own)
    return RunnerStatus(active=active, pid=pid, mode=mode, busy=busy)


def hopeless(account: AccountStatus) -> bool:
    """The account makes no progress: stopped, or probed by a worker with no usable answer."""
    sender = account.sender
    current = sender is not None and sender.current and sender.state in HOPELESS_STATES
    return account.stop_reason is not None or current


def hopeless_text(sender: SenderStatus) -> str | None:
    """``unreachable since 03:12: connection refused`` for a hopeless account, else None."""
    if sender.state not in HOPELESS_STATES:
        return None
    since = "" if sender.since is None else f" since {clock_time(sender.since)}"
    return f"{sender.state}{since}: {sender.note or 'no usable answer'}"


def clock_time(timestamp: float) -> str:
    return time.strftime("%H:%M", time.localtime(timestamp))
