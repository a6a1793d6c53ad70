"""runner status: collect() over a fake Reader, the rate rule, the JSON and the table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from rich.console import Console

from runner.core.states import BlockReason, JobState, StopReason
from runner.reports import status, statustable
from runner.reports.eta import eta, per_minute
from runner.reports.jobtable import eta_text
from runner.reports.report import (
    RECENT_RATE_WINDOW,
    SENDER_STALE_AFTER,
    Counts,
    Report,
    note_is_current,
)
from runner.storage.queue import Job, SenderNote

NOW = 1_795_657_300.0  # 2026-11-26T01:41:40Z


@dataclass
class FakeReader:
    """A Reader answering from fixed values, remembering the window it was asked for."""

    jobs_: list[Job] = field(default_factory=list)
    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    failures: dict[int, dict[str, int]] = field(default_factory=dict)
    interrupted: dict[int, int] = field(default_factory=dict)
    recent: dict[int, tuple[int, float, float]] = field(default_factory=dict)
    finished: dict[int, tuple[int, float, float]] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    stops: dict[str, tuple[StopReason, str | None, float]] = field(default_factory=dict)
    notes: list[SenderNote] = field(default_factory=list)
    asked_since: list[float] = field(default_factory=list)

    async def jobs(self) -> list[Job]:
        return self.jobs_

    async def state_counts(self) -> dict[int, Counts]:
        return {job_id: Counts.of(states) for job_id, states in self.counts.items()}

    async def campaign_counts(self) -> dict[int, dict[str, dict[str, int]]]:
        return {}

    async def failure_reasons(self) -> dict[int, dict[str, int]]:
        return self.failures

    async def interrupted_not_found(self) -> dict[int, int]:
        return self.interrupted

    async def recent_requests(self, since: float) -> dict[int, tuple[int, float, float]]:
        self.asked_since.append(since)
        return self.recent

    async def recent_finished(self, since: float) -> dict[int, tuple[int, float, float]]:
        return self.finished

    async def last_activity(self) -> dict[int, float]:
        return self.last

    async def account_stops(self) -> dict[str, tuple[StopReason, str | None, float]]:
        return self.stops

    async def senders(self) -> list[SenderNote]:
        return self.notes


def note(account: str, pid: int = 123, state: str = "sending", **fields: Any) -> SenderNote:
    base: dict[str, Any] = {"database": "/srv/runner.db", "mode": "worker", "updated_at": NOW - 5}
    return SenderNote(account, pid, state=state, **(base | fields))


def fixture_reader() -> FakeReader:
    """Three jobs on two accounts, a stop on a third, and notes of a live worker."""
    return FakeReader(
        jobs_=[
            Job(1, "dnc", "main", "Sales", JobState.ACTIVE, None, waiting="not drained"),
            Job(2, "old", "main", "C2", JobState.ACTIVE, None),
            Job(
                3,
                "bad",
                "second",
                "Nope",
                JobState.BLOCKED,
                BlockReason.INVALID_CAMPAIGN,
                blocked_message="Passed campaign are invalid",
            ),
            Job(
                4,
                "lost",
                "gone",
                "C4",
                JobState.ACTIVE,
                None,
                waiting="account gone is not in the worker's config",
            ),
        ],
        counts={
            1: {"pending": 39, "in_flight": 1, "deleted": 50, "not_found": 8, "failed": 2},
            2: {"deleted": 10, "invalid": 1},
            3: {"pending": 5},
            4: {"pending": 3},
        },
        failures={1: {"invalid_phone": 2}},
        interrupted={1: 3},
        recent={1: (100, NOW - 60.0, NOW - 0.6)},  # 100 starts 0.6 s apart
        last={1: NOW - 0.6, 2: NOW - 3600.0},
        stops={"third": (StopReason.AUTH, "Invalid User Details", NOW - 100.0)},
        notes=[
            note(
                "main", note="token budget spent", state="waiting", until=NOW + 200
            ),
            note("second", state="idle"),
            note("third", pid=99, mode="run", state="sending", updated_at=NOW - 900),
        ],
    )


async def collected(reader: FakeReader | None = None, holder: int | None = 123) -> Report:
    return await status.collect(reader or fixture_reader(), now=NOW, holder_pid=holder)


# ---------------------------------------------------------------- the rate rule


def test_evenly_spaced_requests_give_their_exact_rate() -> None:
    """100 requests 0.6 s apart are 99 intervals in 59.4 s: 100/min, not 101."""
    starts = [NOW + 0.6 * i for i in range(100)]
    assert per_minute(len(starts), starts[0], starts[-1]) == pytest.approx(100.0)
    assert per_minute(2, 0.0, 0.6) == pytest.approx(100.0)


@pytest.mark.parametrize(("count", "first", "last"), [(0, 0.0, 0.0), (1, NOW, NOW), (3, NOW, NOW)])
def test_without_an_interval_there_is_no_rate(count: int, first: float, last: float) -> None:
    assert per_minute(count, first, last) is None


def test_eta_is_what_is_left_at_the_rate() -> None:
    assert eta(50, 100.0) == pytest.approx(30.0)
    assert eta(0, None) == 0.0  # nothing left: done, whatever the rate
    assert eta(5, None) is None


async def test_collect_reports_the_rate_of_the_recent_window() -> None:
    reader = fixture_reader()
    report = await collected(reader)
    assert reader.asked_since == [NOW - RECENT_RATE_WINDOW]
    dnc = report.jobs[0]
    assert dnc.rate_per_minute == pytest.approx(100.0)
    # The process leaves dnc alone ("not drained"): no ETA, whatever the rate was.
    assert (dnc.eta_seconds, dnc.eta_word) == (None, "no sender")
    assert report.jobs[1].rate_per_minute is None and report.jobs[1].eta_seconds == 0.0
    assert (report.jobs[2].eta_seconds, report.jobs[2].eta_word) == (None, "blocked")


def drained_reader(state: str = "sending", **note_fields: Any) -> FakeReader:
    """dnc drained by the worker, whose note about main says ``state``."""
    reader = fixture_reader()
    reader.jobs_[0] = Job(1, "dnc", "main", "Sales", JobState.ACTIVE, None)
    reader.notes[0] = note("main", state=state, **note_fields)
    return reader


async def test_the_eta_follows_records_finished_not_requests() -> None:
    reader = drained_reader()
    reader.recent = {1: (200, NOW - 60.0, NOW - 0.3)}  # every record sent twice: 200/min
    reader.finished = {1: (100, NOW - 60.0, NOW - 0.6)}  # 100 records finished a minute
    dnc = (await collected(reader)).jobs[0]
    assert dnc.eta_seconds == pytest.approx(24.0)  # 40 left at 100 finished a minute
    reader.finished = {}
    assert (await collected(reader)).jobs[0].eta_seconds is None  # only retries: unknown


async def test_no_eta_while_waiting_after_the_runner_left_or_for_a_stopped_account() -> None:
    reader = drained_reader("waiting", until=NOW + 300)
    reader.finished = {1: (100, NOW - 60.0, NOW - 0.6)}
    dnc = (await collected(reader)).jobs[0]
    assert (dnc.eta_seconds, dnc.eta_word, dnc.eta_until) == (None, "waiting", NOW + 300)
    assert eta_text(dnc) == "waiting 01:46"
    gone = (await collected(reader, holder=None)).jobs[0]  # Ctrl-C: nobody runs
    assert (gone.eta_seconds, gone.eta_word) == (None, "no sender")
    reader.stops = {"main": (StopReason.AUTH, "Invalid User Details", NOW)}
    assert (await collected(reader)).jobs[0].eta_word == "stopped"


def test_one_request_in_the_window_gives_no_rate_in_collect() -> None:
    from runner.reports.report import job_status

    job = Job(1, "dnc", "main", "Sales", JobState.ACTIVE, None)
    row = job_status(job, Counts(pending=5), reasons={}, not_found_after_interrupted=0,
                     recent=(1, NOW, NOW), last_activity=NOW, runner_active=True)  # fmt: skip
    assert (row.rate_per_minute, row.eta_seconds) == (None, None)


# ---------------------------------------------------------------- collect


async def test_collect_derives_job_states_and_keeps_codes_and_words() -> None:
    report = await collected()
    assert [(j.name, j.state) for j in report.jobs] == [
        ("dnc", JobState.ACTIVE),
        ("old", JobState.DONE),
        ("bad", JobState.BLOCKED),
        ("lost", JobState.ACTIVE),
    ]
    bad = report.jobs[2]
    assert (bad.blocked_reason, bad.blocked_message) == (
        BlockReason.INVALID_CAMPAIGN,
        "Passed campaign are invalid",
    )
    dnc = report.jobs[0]
    assert dnc.counts == Counts(39, 1, 50, 8, 2, 0)
    assert (dnc.counts.total, dnc.counts.left, dnc.counts.percent_done) == (100, 40, 60.0)
    assert dnc.failure_reasons == (("invalid_phone", 2),)
    assert dnc.not_found_after_interrupted == 3
    assert dnc.last_activity == NOW - 0.6
    assert report.totals == Counts(47, 1, 60, 8, 2, 1)
    assert report.generated_at == NOW


async def test_waiting_is_told_only_while_a_runner_is_active() -> None:
    live = await collected()
    assert [j.waiting for j in live.jobs] == [
        "not drained",
        None,
        None,
        "account gone is not in the worker's config",
    ]
    idle = await collected(holder=None)
    assert [j.waiting for j in idle.jobs] == [None, None, None, None]


async def test_accounts_are_those_of_jobs_stops_and_notes() -> None:
    reader = fixture_reader()
    reader.notes.append(note("noted-only", state="idle"))
    report = await collected(reader)
    assert [a.name for a in report.accounts] == ["gone", "main", "noted-only", "second", "third"]
    third = report.accounts[-1]
    assert (third.stopped, third.stop_reason, third.stop_message, third.stopped_at) == (
        True, StopReason.AUTH, "Invalid User Details", NOW - 100.0,
    )  # fmt: skip
    assert not report.accounts[1].stopped and report.accounts[0].sender is None


async def test_a_note_is_current_only_from_the_holder_and_while_fresh() -> None:
    report = await collected()
    senders = {a.name: a.sender for a in report.accounts}
    assert senders["main"] is not None and senders["main"].current
    assert senders["main"].note == "token budget spent"
    assert senders["third"] is not None and not senders["third"].current  # pid 99 left
    gone = await collected(holder=None)
    assert not any(a.sender and a.sender.current for a in gone.accounts)


@pytest.mark.parametrize(
    ("pid", "updated_at", "until", "holder", "current"),
    [
        (123, NOW - SENDER_STALE_AFTER, None, 123, True),
        (123, NOW - SENDER_STALE_AFTER - 1, None, 123, False),  # the holder stopped noting
        (123, NOW - 3600, NOW + 10, 123, True),  # a long wait, announced: still true
        (123, NOW - 3600, NOW - SENDER_STALE_AFTER - 1, 123, False),
        (123, None, None, 123, True),  # no time: cannot be judged stale
        (124, NOW, None, 123, False),  # another process
        (123, NOW, None, None, False),  # nobody holds the database
    ],
)
def test_note_currency(
    pid: int, updated_at: float | None, until: float | None, holder: int | None, current: bool
) -> None:
    assert note_is_current(pid, updated_at, until, holder_pid=holder, now=NOW) is current


async def test_the_latest_note_of_an_account_wins() -> None:
    reader = FakeReader(notes=[note("main", state="idle", updated_at=NOW - 10),
                               note("main", state="sending", updated_at=NOW - 2)])  # fmt: skip
    (account,) = (await collected(reader)).accounts
    assert account.sender is not None and account.sender.state == "sending"


async def test_runner_mode_and_busy_come_from_its_current_notes() -> None:
    report = await collected()
    assert report.runner.active and report.runner.pid == 123
    assert (report.runner.mode, report.runner.busy) == ("worker", False)  # waiting and idle
    reader = fixture_reader()
    reader.notes.append(note("fourth", state="sending"))
    assert (await collected(reader)).runner.busy
    stale = fixture_reader()
    stale.notes.append(note("fourth", state="sending", updated_at=NOW - 3600))
    assert not (await collected(stale)).runner.busy  # an old busy note says nothing now
    unreadable = await collected(holder=-1)  # the lock is held, its pid unreadable
    assert unreadable.runner.active and unreadable.runner.pid is None
    assert unreadable.runner.mode is None and not unreadable.runner.busy
    nobody = await collected(holder=None)
    assert (nobody.runner.active, nobody.runner.pid, nobody.runner.mode) == (False, None, None)


# ---------------------------------------------------------------- JSON


async def test_json_has_the_exact_keys_and_values() -> None:
    data = json.loads(status.to_json(await collected()))
    assert list(data) == ["totals", "jobs", "accounts", "runner", "generated_at"]
    assert data["totals"] == {"total": 119, "pending": 47, "in_flight": 1, "deleted": 60,
                              "not_found": 8, "failed": 2, "invalid": 1,
                              "cancelled": 0}  # fmt: skip
    assert data["jobs"][0] == {
        "name": "dnc", "account": "main", "campaign": "Sales", "state": "active",
        "blocked_reason": None, "blocked_message": None, "waiting": "not drained",
        "total": 100, "pending": 39, "in_flight": 1, "deleted": 50, "not_found": 8,
        "failed": 2, "invalid": 0, "cancelled": 0, "percent_done": 60.0,
        "failure_reasons": {"invalid_phone": 2}, "not_found_after_interrupted": 3,
        "rate_per_minute": 100.0, "eta_seconds": None,
        "last_activity": "2026-11-26T01:41:39.400+00:00", "eta": "no sender", "eta_until": None,
        "campaigns": ["Sales"], "campaign_counts": {}, "blocked_campaigns": [],
    }  # fmt: skip
    bad = data["jobs"][2]
    assert (bad["state"], bad["blocked_reason"], bad["blocked_message"]) == (
        "blocked", "invalid_campaign", "Passed campaign are invalid",
    )  # fmt: skip
    assert data["accounts"][1] == {
        "name": "main", "stopped": False, "reason": None, "message": None, "stopped_at": None,
        "sender": {"pid": 123, "database": "/srv/runner.db", "mode": "worker",
                   "state": "waiting", "note": "token budget spent",
                   "until": "2026-11-26T01:45:00.000+00:00",
                   "updated_at": "2026-11-26T01:41:35.000+00:00", "current": True,
                   "since": None},
    }  # fmt: skip
    third = data["accounts"][3]
    assert {k: third[k] for k in ("stopped", "reason", "message", "stopped_at")} == {
        "stopped": True, "reason": "auth", "message": "Invalid User Details",
        "stopped_at": "2026-11-26T01:40:00.000+00:00",
    }  # fmt: skip
    assert third["sender"]["current"] is False
    assert data["runner"] == {"active": True, "pid": 123, "mode": "worker", "busy": False}
    assert data["generated_at"] == "2026-11-26T01:41:40.000+00:00"


def test_iso_is_utc_and_none_stays_none() -> None:
    assert status.iso(NOW) == "2026-11-26T01:41:40.000+00:00"  # one format everywhere
    assert status.iso(NOW + 0.25) == "2026-11-26T01:41:40.250+00:00"
    assert status.iso(None) is None


# ---------------------------------------------------------------- the table


def table_text(report: Report, width: int = 160) -> str:
    console = Console(record=True, width=width)
    statustable.print_report(report, console)
    return console.export_text()


async def test_the_table_shows_jobs_rate_and_eta() -> None:
    text = table_text(await collected())
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["dnc"] == ["dnc", "active", "60/100", "60%", "50", "8", "2", "0", "40", "100",
                           "no", "sender", "0s", "ago"]  # fmt: skip
    assert rows["old"][:10] == ["old", "done", "11/11", "100%", "10", "0", "0", "1", "0", "—"]
    assert rows["old"][10:] == ["—", "1h", "00m", "ago"]


async def test_the_table_explains_blocks_waits_stops_and_senders() -> None:
    lines = [line.rstrip() for line in table_text(await collected()).splitlines()]
    expected = [
        "waiting: dnc: not drained",
        "failed in dnc: invalid_phone 2 (`runner export --state failed` lists them)",
        "not found after an interrupted request in dnc: 3 (probably deleted by that request; "
        "`runner export` shows them with reason after_interrupted)",
        "blocked: bad: invalid_campaign: Passed campaign are invalid — check the job's "
        "campaign in the config, then `runner retry --job bad`",
        "waiting: lost: account gone is not in the worker's config",
        "account gone: no sender",
        "account main: waiting until 01:45:00 UTC: token budget spent — worker pid 123, "
        "/srv/runner.db",
        "account second: idle — worker pid 123, /srv/runner.db",
        "account third: stopped: auth: Invalid User Details — check the API key and user_name",
        "total 119: deleted 60, not found 8, failed 2, invalid 1, pending 48",
        "runner: worker pid 123, not sending",
    ]
    assert lines[-len(expected) :] == expected
    assert lines[-len(expected) - 1] == ""  # right under the table


async def test_the_table_says_when_a_note_is_not_current_and_nobody_runs() -> None:
    reader = FakeReader(
        jobs_=[Job(1, "dnc", "main", "Sales", JobState.ACTIVE, None)],
        counts={1: {"pending": 1}},
        notes=[note("main", pid=77, mode="run", state="sending", updated_at=NOW - 720)],
    )
    text = table_text(await collected(reader, holder=None))
    assert (
        "account main: no sender (last note: run pid 77, /srv/runner.db, sending, 12m 00s ago; "
        "not current)" in text
    )
    assert text.rstrip().endswith("runner: not running")


def test_runner_lines() -> None:
    from runner.reports.report import RunnerStatus

    sending = RunnerStatus(True, 5, "run", True)
    assert str(statustable.runner_line(sending)) == "runner: run pid 5, sending"
    assert str(statustable.runner_line(RunnerStatus(True, None))) == "runner: active, pid unknown"
    assert str(statustable.runner_line(RunnerStatus(False))) == "runner: not running"


async def test_at_80_columns_the_table_drops_columns_not_words() -> None:
    report = await collected()
    text = table_text(report, width=80)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert all(line == line.rstrip() for line in lines)  # no padding off a terminal
    header = next(line for line in lines if line.lstrip().startswith("job"))
    assert header.split()[:3] == ["job", "state", "done"] and "ETA" in header
    assert "last request" not in header  # the first to go
    rows = {line.split()[0]: line.split() for line in lines if line.strip()}
    assert rows["dnc"][1] == "active" and rows["bad"][1] == "blocked"  # never "a…", "b…"
    wide = table_text(report, width=160)
    assert "last request" in wide and "rate/min" in wide
