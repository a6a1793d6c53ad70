"""``runner status``: progress per job and in total, as JSON or as a table.

The report is built from the database alone (counts, failure reasons, blocks,
account stops, and the recent request times for rate and ETA), so it works
while a run is going, after it, and after a restart.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from runner.queue import Reader
from runner.states import RECORD_STATES as STATES

# The recent rate is measured over the requests of this many seconds.
RATE_WINDOW = 600.0

BLOCKED_HINTS = {
    "invalid_campaign": "check the job's campaign in the config, then `runner retry --job {job}`",
    "not_found_guard": "check how the numbers are formatted, then `runner retry --job {job}`",
}


def empty_counts() -> dict[str, int]:
    return {"total": 0} | dict.fromkeys(STATES, 0)


def rate_and_eta(
    answered: int, first_start: float | None, remaining: int, now: float
) -> tuple[float | None, float | None]:
    """(requests per minute, seconds left) from the requests answered recently.

    The rate is measured from the first recent request (not the whole window),
    so that it is right a minute after a start too. No recent request: unknown.
    """
    if answered == 0 or first_start is None:
        return None, None
    elapsed = max(now - first_start, 1.0)
    per_second = answered / elapsed
    eta = remaining / per_second if remaining else 0.0
    return per_second * 60.0, eta


def iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


async def collect(
    store: Reader, *, runner_pid: int | None, now: float | None = None
) -> dict[str, Any]:
    """The status report as a JSON-ready dict (SPEC §4 fields, and more)."""
    now = time.time() if now is None else now
    counts = await store.state_counts()
    reasons = await store.failure_reasons()
    recent = await store.recent_requests(now - RATE_WINDOW)
    last = await store.last_activity()
    totals = empty_counts()
    jobs = []
    for job in await store.jobs():
        row = empty_counts() | counts.get(job.id, {})
        row["total"] = sum(row[state] for state in STATES)
        remaining = row["pending"] + row["in_flight"]
        answered, first_start, _ = recent.get(job.id, (0, None, None))
        rate, eta = rate_and_eta(answered, first_start, remaining, now)
        state = job.state if job.state == "blocked" else ("active" if remaining else "done")
        finished = row["total"] - remaining
        jobs.append(
            {
                "name": job.name,
                "account": job.account,
                "campaign": job.campaign,
                "state": state,
                "blocked_reason": job.blocked_reason,
                **row,
                "percent_done": round(100.0 * finished / row["total"], 1)
                if row["total"]
                else 100.0,
                "failure_reasons": reasons.get(job.id, {}),
                "rate_per_minute": None if rate is None else round(rate, 1),
                "eta_seconds": None if eta is None else round(eta),
                "last_activity": iso(last.get(job.id)),
            }
        )
        for key in totals:
            totals[key] += row[key]
    stops = await store.account_stops()
    accounts = [account_status(name, stops.get(name)) for name in
                sorted({str(job["account"]) for job in jobs} | set(stops))]  # fmt: skip
    return {
        "totals": totals,
        "jobs": jobs,
        "accounts": accounts,
        "runner": {"active": runner_pid is not None, "pid": runner_pid},
        "generated_at": iso(now),
    }


def account_status(name: str, stop: tuple[str, str | None, float] | None) -> dict[str, Any]:
    """An account as status shows it: stopped or not, and why."""
    reason, message, at = stop if stop is not None else (None, None, None)
    return {"name": name, "stopped": stop is not None, "reason": reason, "message": message,
            "stopped_at": iso(at)}  # fmt: skip


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


COLUMNS = (
    "job",
    "state",
    "done",
    "deleted",
    "not found",
    "failed",
    "invalid",
    "left",
    "rate/min",
    "ETA",
    "last request",
)


def render(report: dict[str, Any]) -> Group:
    """The report as rich renderables: a table of jobs, then what needs attention."""
    table = Table(
        title="runner status", title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True
    )
    # Rich squeezes no_wrap columns from the left: keep the job names readable.
    longest = max((len(job["name"]) for job in report["jobs"]), default=3)
    for column in COLUMNS:
        table.add_column(
            column,
            justify="left" if column in ("job", "state") else "right",
            no_wrap=True,
            min_width=min(longest, 40) if column == "job" else None,
        )
    several_accounts = len({job["account"] for job in report["jobs"]}) > 1
    for job in report["jobs"]:
        left = job["pending"] + job["in_flight"]
        where = f"{job['campaign']} @ {job['account']}" if several_accounts else job["campaign"]
        table.add_row(
            f"{job['name']}\n[dim]{where}[/dim]",
            _styled_state(job["state"]),
            f"{job['total'] - left}/{job['total']} {job['percent_done']:.0f}%",
            str(job["deleted"]),
            str(job["not_found"]),
            str(job["failed"]),
            str(job["invalid"]),
            str(left),
            "—" if job["rate_per_minute"] is None else f"{job['rate_per_minute']:.0f}",
            duration(job["eta_seconds"]) if left else "—",
            _ago(job["last_activity"], report["generated_at"]),
        )
    return Group(table, *_notes(report))


def _ago(timestamp: str | None, now: str) -> str:
    """How long ago an ISO time was, relative to the report's own time: '42s ago'."""
    if timestamp is None:
        return "—"
    seconds = (
        datetime.fromisoformat(now).timestamp() - datetime.fromisoformat(timestamp).timestamp()
    )
    return f"{duration(max(seconds, 0.0))} ago"


def _styled_state(state: str) -> Text:
    style = {"active": "cyan", "done": "green", "blocked": "bold red"}.get(state, "")
    return Text(state, style=style)


def _notes(report: dict[str, Any]) -> list[Text]:
    notes = []
    for job in report["jobs"]:
        if job["state"] == "blocked":
            slug = (job["blocked_reason"] or "").split(":", 1)[0]
            hint = BLOCKED_HINTS.get(slug, "fix the cause, then `runner retry --job {job}`")
            notes.append(
                Text(
                    f"blocked: {job['name']}: {job['blocked_reason']} — "
                    f"{hint.format(job=job['name'])}",
                    style="red",
                )
            )
        if job["failure_reasons"]:
            reasons = ", ".join(f"{r} {n}" for r, n in sorted(job["failure_reasons"].items()))
            notes.append(
                Text(
                    f"failed in {job['name']}: {reasons} "
                    "(`runner export --state failed` lists them)",
                    style="yellow",
                )
            )
    for account in (a for a in report["accounts"] if a["stopped"]):
        notes.append(
            Text(
                f"account stopped: {account['name']}: {account['reason']}: "
                f"{account['message']} — check the API key and user_name "
                "(and that API Authentication is BASIC_AUTH)",
                style="red",
            )
        )
    totals = report["totals"]
    notes.append(
        Text(
            f"total {totals['total']}: deleted {totals['deleted']}, "
            f"not found {totals['not_found']}, "
            f"failed {totals['failed']}, invalid {totals['invalid']}, "
            f"pending {totals['pending'] + totals['in_flight']}"
        )
    )
    runner = report["runner"]
    notes.append(
        Text(f"runner: active (pid {runner['pid']})" if runner["active"] else "runner: not running")
    )
    return notes


def terminal() -> Console:
    """stdout as rich sees it; off a terminal (cron mail, a pipe) wide enough for the table."""
    return Console() if sys.stdout.isatty() else Console(width=132)


def print_report(report: dict[str, Any], console: Console | None = None) -> None:
    (console or terminal()).print(render(report))


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2)
