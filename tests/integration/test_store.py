"""Tests of runner.storage.store.Store against real SQLite files in tmp_path.

The database is inspected (and, where a test needs a precise starting point,
edited) through a separate plain ``sqlite3`` connection: in WAL mode it sees
every committed write of the store's connection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiosqlite
import pytest
from dbhelpers import claim as claim_at
from dbhelpers import insert_rows

from runner.core.errors import ConfigError, StoreError
from runner.core.states import BlockReason, JobState, RecordState, StopReason
from runner.intake.inputs import FileStamp, InvalidRow, Row
from runner.storage.counts import Counts
from runner.storage.db.connection import migrations_dir, read_migrations
from runner.storage.db.loading import LoadCounts
from runner.storage.db.reader import EXPORT_COLUMNS
from runner.storage.queue import Claim, Settlement
from runner.storage.store import BODY_LIMIT, Store

ACCOUNT = "main"
CAMPAIGN = "Outbound_Sales"


# ---------------------------------------------------------------- helpers


def sql(path: Path, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on its own connection and commit; the rows it returned."""
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(statement, params).fetchall()
        db.commit()
        return rows


def settlement(**changes: Any) -> Settlement:
    """A Settlement for a 'Deleted Successfully' answer, with ``changes`` applied."""
    fields: dict[str, Any] = {
        "state": "deleted",
        "reason": None,
        "attempts": 1,
        "not_before": 0.0,
        "http_status": 200,
        "outcome": "deleted",
        "message": "Deleted Successfully",
        "body": '{"status": "Success", "message": "Deleted Successfully"}',
        "finished_at": time.time(),
    }
    fields.update(changes)
    fields["state"] = RecordState(fields["state"])
    return Settlement(**fields)


def phones(count: int, start: int = 0) -> list[Row]:
    return [Row(line=i + 1, phone=f"81234{start + i:05d}", name=None) for i in range(count)]


@dataclasses.dataclass
class Clock:
    """The time the store is told: it stands still until moved."""

    now: float


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runner.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(db_path)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(1_000_000.0)


@pytest.fixture
def make_job(store: Store, tmp_path: Path) -> Callable[..., Any]:
    """``await make_job(name, rows)`` -> (job id, source id), with its input file."""

    async def make(
        name: str = "job-a",
        rows: Sequence[Row | InvalidRow] = (),
        *,
        account: str = ACCOUNT,
        campaign: str = CAMPAIGN,
    ) -> tuple[int, int]:
        job_id = await store.ensure_job(name, account, campaign)
        source_path = tmp_path / f"{name}.csv"
        source_path.write_text("phoneNumber\n", encoding="utf-8")
        source_id, _ = await store.source(job_id, source_path, FileStamp.of(source_path))
        if rows:
            await insert_rows(store, job_id, source_id, rows)
        return job_id, source_id

    return make


# ---------------------------------------------------------------- opening


async def test_new_database_is_wal_with_every_migration(db_path: Path) -> None:
    migrations = read_migrations(migrations_dir())
    assert migrations, "no migrations found"
    async with await Store.open(db_path) as store:
        assert await store.schema_version() == len(migrations)
    assert sql(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert sql(db_path, "PRAGMA user_version") == [(len(migrations),)]
    tables = {row[0] for row in sql(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"jobs", "sources", "records", "requests", "account_stops"} <= tables


async def test_reopening_does_not_rerun_migrations(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await Store.open(db_path) as store:
        job_id = await store.ensure_job("job-a", ACCOUNT, CAMPAIGN)

    scripts: list[str] = []
    original = aiosqlite.Connection.executescript

    def spy(self: aiosqlite.Connection, script: str) -> Any:
        scripts.append(script)
        return original(self, script)

    monkeypatch.setattr(aiosqlite.Connection, "executescript", spy)
    async with await Store.open(db_path) as store:
        assert [job.id for job in await store.jobs()] == [job_id]
    assert scripts == []


async def test_newer_schema_is_refused(db_path: Path) -> None:
    async with await Store.open(db_path):
        pass
    sql(db_path, "PRAGMA user_version = 99")
    with pytest.raises(StoreError, match=r"\b99\b"):
        await Store.open(db_path)
    assert sql(db_path, "PRAGMA user_version") == [(99,)]


async def test_corrupt_file_gives_a_one_line_error(db_path: Path) -> None:
    db_path.write_bytes(random.Random(1).randbytes(16 * 1024))
    with pytest.raises(StoreError) as caught:
        await Store.open(db_path)
    message = str(caught.value)
    assert "\n" not in message
    assert "Traceback" not in message
    assert str(db_path) in message
    assert "corrupt" in message
    assert caught.value.__suppress_context__  # raised "from None": no chained traceback


async def test_open_without_create_on_missing_path(db_path: Path) -> None:
    with pytest.raises(StoreError, match="no database"):
        await Store.open(db_path, create=False)
    assert not db_path.exists()


async def test_open_without_create_on_existing_database(db_path: Path) -> None:
    async with await Store.open(db_path) as store:
        await store.ensure_job("job-a", ACCOUNT, CAMPAIGN)
    async with await Store.open(db_path, create=False) as store:
        assert [job.name for job in await store.jobs()] == ["job-a"]


# ---------------------------------------------------------------- jobs and loading


async def test_ensure_job_is_idempotent(store: Store, db_path: Path) -> None:
    first = await store.ensure_job("job-a", ACCOUNT, CAMPAIGN)
    again = await store.ensure_job("job-a", ACCOUNT, CAMPAIGN)
    other = await store.ensure_job("job-b", ACCOUNT, CAMPAIGN)
    assert first == again != other
    assert sql(db_path, "SELECT COUNT(*) FROM jobs") == [(2,)]
    (job,) = [job for job in await store.jobs() if job.id == first]
    assert (job.name, job.account, job.campaign, job.state) == (
        "job-a",
        ACCOUNT,
        CAMPAIGN,
        "active",
    )
    assert job.blocked_reason is None


@pytest.mark.parametrize(
    ("account", "campaign"), [(ACCOUNT, "Other_Campaign"), ("other", CAMPAIGN)]
)
async def test_ensure_job_refuses_a_changed_job(
    store: Store, db_path: Path, account: str, campaign: str
) -> None:
    await store.ensure_job("job-a", ACCOUNT, CAMPAIGN)
    with pytest.raises(ConfigError, match="job-a"):
        await store.ensure_job("job-a", account, campaign)
    assert sql(db_path, "SELECT account, campaign FROM jobs") == [(ACCOUNT, CAMPAIGN)]


async def test_insert_rows_counts_and_is_idempotent(
    store: Store, db_path: Path, make_job: Callable[..., Any]
) -> None:
    job_id, source_id = await make_job()
    rows: list[Row | InvalidRow] = [
        Row(1, "8123456789", None),
        Row(2, "8123456780", "Asha"),
        Row(3, "8123456789", None),  # same number again: a duplicate
        InvalidRow(4, "9.18E+11", "scientific_notation: Excel changed this number"),
        InvalidRow(5, "", "empty: no number"),
        InvalidRow(6, "", "empty: no number"),  # same text, other line: another row
    ]
    assert await insert_rows(store, job_id, source_id, rows) == LoadCounts(3 - 1, 1, 3)
    stored = sql(db_path, "SELECT line, phone, name, state, reason FROM records ORDER BY line")
    assert stored == [
        (1, "8123456789", None, "pending", None),
        (2, "8123456780", "Asha", "pending", None),
        (4, "9.18E+11", None, "invalid", "scientific_notation: Excel changed this number"),
        (5, "", None, "invalid", "empty: no number"),
        (6, "", None, "invalid", "empty: no number"),
    ]

    again = await insert_rows(store, job_id, source_id, rows)
    assert (again.new, again.duplicate) == (0, 3)
    assert sql(db_path, "SELECT COUNT(*) FROM records") == [(5,)]


async def test_insert_rows_identity(
    store: Store, db_path: Path, make_job: Callable[..., Any], tmp_path: Path
) -> None:
    job_a, source_a = await make_job("job-a", [Row(1, "8123456789", None)])
    job_b, source_b = await make_job("job-b")
    other_file = tmp_path / "more.csv"
    other_file.write_text("phoneNumber\n", encoding="utf-8")
    source_a2, _ = await store.source(job_a, other_file, FileStamp.of(other_file))
    # The same number in another job is another record.
    assert await insert_rows(store, job_b, source_b, [Row(1, "8123456789", None)]) == LoadCounts(
        1, 0, 0
    )
    # The same number from another file of the same job is a duplicate.
    assert await insert_rows(store, job_a, source_a2, [Row(9, "8123456789", None)]) == LoadCounts(
        0, 1, 0
    )
    # An invalid row is identified by (job, source, line): another file, another row.
    bad = InvalidRow(1, "abc", "letters: not a number")
    await insert_rows(store, job_a, source_a, [bad])
    await insert_rows(store, job_a, source_a2, [bad])
    await insert_rows(store, job_a, source_a2, [bad])
    assert sql(
        db_path, "SELECT job_id, source_id, line FROM records WHERE state = 'invalid' ORDER BY id"
    ) == [(job_a, source_a, 1), (job_a, source_a2, 1)]


# ---------------------------------------------------------------- claiming


async def test_claim_takes_a_record_and_opens_its_request(
    store: Store, db_path: Path, make_job: Callable[..., Any], clock: Clock
) -> None:
    job_id, _ = await make_job(rows=[Row(1, "8123456789", "Asha"), Row(2, "8123456780", None)])
    clock.now = 1_000_123.5
    claim = await claim_at(store, [job_id], ACCOUNT, clock.now)
    assert claim is not None
    assert (claim.job_id, claim.phone, claim.name, claim.attempts) == (
        job_id,
        "8123456789",
        "Asha",
        0,
    )
    assert claim.started_at == 1_000_123.5
    assert sql(db_path, "SELECT id, state FROM records ORDER BY id") == [
        (claim.record_id, "in_flight"),
        (claim.record_id + 1, "pending"),
    ]
    assert claim.account == ACCOUNT
    # The audit row is written with the answer (see test_settle_*), not at the claim.
    assert sql(db_path, "SELECT COUNT(*) FROM requests") == [(0,)]


async def test_claim_returns_none_when_nothing_is_due(
    store: Store, make_job: Callable[..., Any]
) -> None:
    empty, _ = await make_job("empty")
    assert await claim_at(store, [empty], ACCOUNT) is None
    assert await claim_at(store, [], ACCOUNT) is None
    job_id, _ = await make_job("one", phones(1))
    assert await claim_at(store, [job_id], ACCOUNT) is not None
    assert await claim_at(store, [job_id], ACCOUNT) is None  # the only record is in flight


async def test_claim_goes_in_file_order_and_job_order(
    store: Store, make_job: Callable[..., Any]
) -> None:
    job_a, _ = await make_job("job-a", phones(2, start=0))
    job_b, _ = await make_job("job-b", phones(2, start=100))
    claimed = [await claim_at(store, [job_b, job_a], ACCOUNT) for _ in range(5)]
    assert [c.phone if c else None for c in claimed] == [
        "8123400100",
        "8123400101",
        "8123400000",
        "8123400001",
        None,
    ]


async def test_claim_prefers_a_due_retry(
    store: Store, db_path: Path, make_job: Callable[..., Any], clock: Clock
) -> None:
    job_id, _ = await make_job(rows=phones(3))
    # The last record in file order failed earlier and is due again.
    sql(db_path, "UPDATE records SET not_before = ?, attempts = 2 WHERE line = 3", (clock.now - 5,))
    claim = await claim_at(store, [job_id], ACCOUNT, clock.now)
    assert claim is not None
    assert (claim.phone, claim.attempts) == ("8123400002", 2)
    following = await claim_at(store, [job_id], ACCOUNT, clock.now)
    assert following is not None and following.phone == "8123400000"


async def test_claim_skips_records_not_yet_due(
    store: Store, db_path: Path, make_job: Callable[..., Any], clock: Clock
) -> None:
    job_id, _ = await make_job(rows=phones(2))
    sql(db_path, "UPDATE records SET not_before = ? WHERE line = 1", (clock.now + 60,))
    claim = await claim_at(store, [job_id], ACCOUNT, clock.now)
    assert claim is not None and claim.phone == "8123400001"
    assert await claim_at(store, [job_id], ACCOUNT, clock.now) is None
    clock.now += 60  # due exactly now
    claim = await claim_at(store, [job_id], ACCOUNT, clock.now)
    assert claim is not None and claim.phone == "8123400000"


async def test_concurrent_claims_never_share_a_record(
    store: Store, db_path: Path, make_job: Callable[..., Any]
) -> None:
    job_id, _ = await make_job(rows=phones(30))
    results = await asyncio.gather(*(claim_at(store, [job_id], ACCOUNT) for _ in range(50)))
    claims = [c for c in results if c is not None]
    assert len(claims) == 30
    assert results.count(None) == 20
    assert len({c.record_id for c in claims}) == 30
    assert sql(db_path, "SELECT state, COUNT(*) FROM records GROUP BY state") == [("in_flight", 30)]


# ---------------------------------------------------------------- settling


async def claim_one(store: Store, job_id: int, at: float | None = None) -> Claim:
    claim = await claim_at(store, [job_id], ACCOUNT, at)
    assert claim is not None
    return claim


async def test_settle_final_updates_record_and_request(
    store: Store, db_path: Path, make_job: Callable[..., Any]
) -> None:
    job_id, _ = await make_job(rows=phones(1))
    claim = await claim_one(store, job_id)
    body = "x" * (BODY_LIMIT + 500)
    await store.settle(claim, settlement(finished_at=2_000.0, body=body))
    assert sql(
        db_path,
        "SELECT state, reason, attempts, not_before, last_http_status, last_message, "
        "finished_at FROM records",
    ) == [("deleted", None, 1, 0.0, 200, "Deleted Successfully", 2_000.0)]
    assert sql(
        db_path, "SELECT finished_at, http_status, outcome, message, body FROM requests"
    ) == [(2_000.0, 200, "deleted", "Deleted Successfully", "x" * BODY_LIMIT)]
    assert sql(db_path, "SELECT state, blocked_reason FROM jobs") == [("active", None)]
    assert await store.account_stops() == {}


async def test_settle_retry_leaves_the_record_pending(
    store: Store, db_path: Path, make_job: Callable[..., Any]
) -> None:
    job_id, _ = await make_job(rows=phones(1))
    claim = await claim_one(store, job_id)
    await store.settle(
        claim,
        settlement(
            state="pending",
            attempts=1,
            not_before=2_010.0,
            http_status=503,
            outcome="transient",
            message="HTTP 503",
            body="<html>busy</html>",
            finished_at=2_000.0,
        ),
    )
    assert sql(
        db_path, "SELECT state, attempts, not_before, last_http_status, finished_at FROM records"
    ) == [("pending", 1, 2_010.0, 503, None)]
    assert sql(db_path, "SELECT finished_at, outcome FROM requests") == [(2_000.0, "transient")]


async def test_settle_blocks_a_job(
    store: Store, make_job: Callable[..., Any], db_path: Path
) -> None:
    job_id, _ = await make_job(rows=phones(2))
    other_id, _ = await make_job("job-b", phones(1, start=50))
    claim = await claim_one(store, job_id)
    await store.settle(
        claim,
        settlement(
            state="pending",
            attempts=0,
            outcome="invalid_campaign",
            message="Passed campaign are invalid",
            block_job=(BlockReason.INVALID_CAMPAIGN, "Passed campaign are invalid"),
        ),
    )
    jobs = {job.id: job for job in await store.jobs()}
    assert jobs[job_id].state is JobState.BLOCKED
    assert jobs[job_id].blocked_reason is BlockReason.INVALID_CAMPAIGN
    assert jobs[job_id].blocked_message == "Passed campaign are invalid"
    assert (jobs[other_id].state, jobs[other_id].blocked_reason) == ("active", None)
    assert sql(db_path, "SELECT state FROM records WHERE job_id = ?", (job_id,)) == [
        ("pending",),
        ("pending",),
    ]


async def test_settle_stops_an_account(store: Store, make_job: Callable[..., Any]) -> None:
    job_id, _ = await make_job(rows=phones(1))
    claim = await claim_one(store, job_id)
    await store.settle(
        claim,
        settlement(
            state="pending",
            attempts=0,
            outcome="auth",
            message="Invalid User Details",
            finished_at=3_000.0,
            stop_account=(StopReason.AUTH, "Invalid User Details"),
        ),
    )
    assert await store.account_stops() == {ACCOUNT: ("auth", "Invalid User Details", 3_000.0)}
    await store.clear_account_stops()
    assert await store.account_stops() == {}


async def test_settle_is_all_or_nothing(
    store: Store, db_path: Path, make_job: Callable[..., Any]
) -> None:
    job_id, _ = await make_job(rows=phones(2))
    claim = await claim_one(store, job_id)
    # finished_at=None violates account_stops.stopped_at NOT NULL: the last statement
    # of the transaction fails, after the record and the request were updated.
    broken = settlement(finished_at=None, stop_account=(StopReason.AUTH, "Invalid User Details"))
    with pytest.raises(StoreError, match="NOT NULL constraint failed"):
        await store.settle(claim, broken)
    assert sql(db_path, "SELECT state, attempts FROM records WHERE id = ?", (claim.record_id,)) == [
        ("in_flight", 0)
    ]
    assert sql(db_path, "SELECT COUNT(*) FROM requests") == [(0,)]
    # The store is still usable: the transaction was rolled back and the lock released.
    await store.settle(claim, settlement())
    assert await claim_at(store, [job_id], ACCOUNT) is not None


# ---------------------------------------------------------------- recovery and retry


async def test_recover_in_flight(
    store: Store, db_path: Path, make_job: Callable[..., Any], clock: Any
) -> None:
    job_id, _ = await make_job(rows=phones(4))
    done = await claim_one(store, job_id, clock.now)
    crashed = await claim_one(store, job_id, clock.now)
    released = await claim_one(store, job_id, clock.now)
    sql(db_path, "UPDATE records SET attempts = 3 WHERE id = ?", (crashed.record_id,))
    await store.settle(done, settlement())
    await store.release(released)
    clock.now = 5_000.0

    assert await store.recover_in_flight(clock.now) == 1
    states = dict(sql(db_path, "SELECT id, state FROM records"))
    assert states == {
        done.record_id: "deleted",
        crashed.record_id: "pending",
        released.record_id: "pending",
        released.record_id + 1: "pending",
    }
    assert sql(db_path, "SELECT attempts FROM records WHERE id = ?", (crashed.record_id,)) == [(3,)]
    # The crashed request may have left: it is in the audit trail, and it counts
    # against the rate limit from the recovery on.
    assert sql(db_path, "SELECT record_id, outcome, started_at FROM requests ORDER BY id") == [
        (done.record_id, "deleted", done.started_at),
        (crashed.record_id, "interrupted", 5_000.0),
    ]
    assert await store.recover_in_flight(clock.now) == 0


async def fail_and_block(store: Store, job_id: int, failures: int) -> None:
    """``failures`` records failed, one record claimed and blocking the job."""
    for _ in range(failures):
        claim = await claim_one(store, job_id)
        await store.settle(
            claim,
            settlement(state="failed", reason="invalid_phone", attempts=3, not_before=99.0),
        )
    claim = await claim_one(store, job_id)
    await store.settle(
        claim, settlement(
            state="pending", attempts=0, block_job=(BlockReason.INVALID_CAMPAIGN, "invalid")
        )
    )


async def test_retry_one_job_then_all(
    store: Store, db_path: Path, make_job: Callable[..., Any]
) -> None:
    job_a, _ = await make_job("job-a", phones(4, start=0))
    job_b, _ = await make_job("job-b", phones(3, start=100))
    deleted = await claim_one(store, job_a)
    await store.settle(deleted, settlement(finished_at=1_500.0))
    await fail_and_block(store, job_a, 2)
    await fail_and_block(store, job_b, 1)

    assert await store.retry("job-a") == (2, 1)
    assert sql(
        db_path,
        "SELECT state, reason, attempts, not_before, finished_at FROM records "
        "WHERE job_id = ? ORDER BY id",
        (job_a,),
    ) == [
        ("deleted", None, 1, 0.0, 1_500.0),
        ("pending", None, 0, 0.0, None),
        ("pending", None, 0, 0.0, None),
        ("pending", None, 0, 0.0, None),
    ]
    jobs = {job.name: job for job in await store.jobs()}
    assert (jobs["job-a"].state, jobs["job-a"].blocked_reason) == ("active", None)
    assert jobs["job-b"].state == "blocked"
    assert sql(
        db_path, "SELECT COUNT(*) FROM records WHERE job_id = ? AND state = 'failed'", (job_b,)
    ) == [(1,)]

    assert await store.retry("no-such-job") == (0, 0)
    assert await store.retry() == (1, 1)
    assert sql(db_path, "SELECT COUNT(*) FROM records WHERE state = 'failed'") == [(0,)]
    assert {job.state for job in await store.jobs()} == {"active"}


# ---------------------------------------------------------------- reporting


async def test_recent_starts(store: Store, make_job: Callable[..., Any], clock: Clock) -> None:
    job_main, _ = await make_job("job-main", phones(5, start=0))
    job_other, _ = await make_job("job-other", phones(1, start=100), account="other")
    for start in (100.0, 200.0, 300.0, 400.0, 500.0):
        clock.now = start
        await store.settle(await claim_one(store, job_main, clock.now), settlement())
    clock.now = 450.0
    other = await claim_at(store, [job_other], "other", clock.now)
    assert other is not None
    await store.settle(other, settlement())

    assert await store.recent_starts(ACCOUNT, since=150.0, limit=3) == [300.0, 400.0, 500.0]
    assert await store.recent_starts(ACCOUNT, since=150.0, limit=10) == [
        200.0,
        300.0,
        400.0,
        500.0,
    ]
    assert await store.recent_starts(ACCOUNT, since=200.0, limit=10) == [
        200.0,
        300.0,
        400.0,
        500.0,
    ]
    assert await store.recent_starts(ACCOUNT, since=501.0, limit=10) == []
    assert await store.recent_starts("other", since=0.0, limit=10) == [450.0]


@pytest.fixture
async def dataset(
    store: Store, make_job: Callable[..., Any], clock: Clock, tmp_path: Path
) -> SimpleNamespace:
    """Two jobs with one record in every state.

    job-a (campaign Camp_A): line 1 deleted, 2 not_found, 3 failed invalid_phone,
    4 failed exhausted_retries, 5 pending (never sent), 6 invalid.
    job-b (campaign Camp_B): line 1 deleted, 2 pending after a 503, 3 in flight.
    Requests start at t = 1000, 1010, ... in that order; each answer takes 1 s.
    """
    rows_a: list[Row | InvalidRow] = [*phones(5, start=0), InvalidRow(6, "9.18E+11", "sci")]
    job_a, _ = await make_job("job-a", rows_a, campaign="Camp_A")
    job_b, _ = await make_job("job-b", phones(3, start=100), campaign="Camp_B")
    answers_a = [
        settlement(),
        settlement(state="not_found", outcome="not_found", message="No Record Found"),
        settlement(state="failed", reason="invalid_phone", outcome="failed", message="bad"),
        settlement(
            state="failed",
            reason="exhausted_retries",
            attempts=8,
            outcome="transient",
            http_status=None,
            message="timeout",
        ),
    ]
    answers_b = [
        settlement(),
        settlement(
            state="pending",
            attempts=1,
            not_before=5_000.0,
            http_status=503,
            message="HTTP 503",
            outcome="transient",
        ),
    ]
    clock.now = 1_000.0
    for job_id, answers in ((job_a, answers_a), (job_b, answers_b)):
        for answer in answers:
            claim = await claim_one(store, job_id, clock.now)
            await store.settle(claim, dataclasses.replace(answer, finished_at=clock.now + 1))
            clock.now += 10
    await claim_one(store, job_b, clock.now)  # job-b line 3 stays in flight, started at 1060
    return SimpleNamespace(a=job_a, b=job_b, path_a=str(tmp_path / "job-a.csv"))


async def test_state_counts(store: Store, dataset: SimpleNamespace) -> None:
    assert await store.state_counts() == {
        dataset.a: Counts(deleted=1, not_found=1, failed=2, pending=1, invalid=1),
        dataset.b: Counts(deleted=1, pending=1, in_flight=1),
    }


async def test_failure_reasons(store: Store, dataset: SimpleNamespace) -> None:
    assert await store.failure_reasons() == {
        dataset.a: {"invalid_phone": 1, "exhausted_retries": 1},
    }


async def test_recent_requests(store: Store, dataset: SimpleNamespace) -> None:
    # Starts: job-a 1000, 1010, 1020, 1030; job-b 1040, 1050 (answered), 1060 (in flight).
    assert await store.recent_requests(since=0.0) == {
        dataset.a: (4, 1_000.0, 1_030.0),
        dataset.b: (2, 1_040.0, 1_050.0),
    }
    assert await store.recent_requests(since=1_010.0) == {
        dataset.a: (3, 1_010.0, 1_030.0),
        dataset.b: (2, 1_040.0, 1_050.0),
    }
    assert await store.recent_requests(since=1_041.0) == {dataset.b: (1, 1_050.0, 1_050.0)}
    assert await store.recent_requests(since=1_051.0) == {}


async def test_last_activity(store: Store, dataset: SimpleNamespace) -> None:
    # job-b's request started at 1060 is still out: its row comes with the answer.
    assert await store.last_activity() == {dataset.a: 1_030.0, dataset.b: 1_050.0}


async def test_export_rows(store: Store, dataset: SimpleNamespace) -> None:
    rows = [row async for row in store.export_rows()]
    assert all(len(row) == len(EXPORT_COLUMNS) for row in rows)
    columns = [dict(zip(EXPORT_COLUMNS, row, strict=True)) for row in rows]
    assert [(c["job"], c["line"], c["state"]) for c in columns] == [
        ("job-a", 1, "deleted"),
        ("job-a", 2, "not_found"),
        ("job-a", 3, "failed"),
        ("job-a", 4, "failed"),
        ("job-a", 5, "pending"),
        ("job-a", 6, "invalid"),
        ("job-b", 1, "deleted"),
        ("job-b", 2, "pending"),
        ("job-b", 3, "in_flight"),
    ]
    assert rows[0] == (
        "job-a",
        "Camp_A",
        dataset.path_a,
        1,
        "8123400000",
        "deleted",
        None,
        1,
        200,
        "Deleted Successfully",
        1_001.0,
        None,  # cell: the test's rows carry none
        None,
        None,
        None,
    )
    assert columns[3]["reason"] == "exhausted_retries"
    assert columns[3]["attempts"] == 8
    assert columns[3]["last_http_status"] is None
    assert columns[3]["last_message"] == "timeout"
    assert (columns[5]["phone"], columns[5]["reason"]) == ("9.18E+11", "sci")

    only_b = [row async for row in store.export_rows(["job-b"])]
    assert [row[3] for row in only_b] == [1, 2, 3]
    failed_a = [row async for row in store.export_rows(["job-a"], ["failed"])]
    assert [(row[3], row[6]) for row in failed_a] == [
        (3, "invalid_phone"),
        (4, "exhausted_retries"),
    ]
    assert [row async for row in store.export_rows(states=["deleted"])] == [rows[0], rows[6]]
    assert [row async for row in store.export_rows(["nobody"])] == []


async def test_answers_arriving_together_are_committed_together(
    store: Store, db_path: Path, make_job: Callable[..., Any]
) -> None:
    job_id, _ = await make_job(rows=phones(20))
    claims = [await claim_one(store, job_id) for _ in range(20)]
    await asyncio.gather(*(store.settle(c, settlement()) for c in claims))
    assert sql(db_path, "SELECT state, COUNT(*) FROM records GROUP BY state") == [("deleted", 20)]
    assert sql(db_path, "SELECT COUNT(DISTINCT record_id) FROM requests") == [(20,)]


async def test_a_failed_batch_fails_every_settle_in_it(
    store: Store, db_path: Path, make_job: Callable[..., Any]
) -> None:
    job_id, _ = await make_job(rows=phones(3))
    claims = [await claim_one(store, job_id) for _ in range(3)]
    broken = settlement(finished_at=None, stop_account=(StopReason.AUTH, "Invalid User Details"))
    results = await asyncio.gather(
        store.settle(claims[0], settlement()),
        store.settle(claims[1], broken),
        store.settle(claims[2], settlement()),
        return_exceptions=True,
    )
    # The three arrived together, so they shared one transaction, which failed whole.
    assert all(isinstance(r, StoreError) for r in results)
    states = dict(sql(db_path, "SELECT id, state FROM records"))
    assert [states[c.record_id] for c in claims] == ["in_flight"] * 3
    assert sql(db_path, "SELECT COUNT(*) FROM requests") == [(0,)]


async def test_claim_many_takes_due_retries_first_then_file_order_across_jobs(
    store: Store, db_path: Path, make_job: Callable[..., Any], clock: Clock
) -> None:
    first, _ = await make_job("first", phones(3, start=0))
    second, _ = await make_job("second", phones(4, start=10))
    retry_id = sql(db_path, "SELECT MAX(id) FROM records WHERE job_id = ?", (first,))[0][0]
    sql(db_path, "UPDATE records SET not_before = ? WHERE id = ?", (clock.now - 1, retry_id))

    claims = await store.claim_many([first, second], ACCOUNT, 5, clock.now)

    ids = [c.record_id for c in claims]
    assert ids[0] == retry_id  # the due retry first
    assert [c.job_id for c in claims] == [first] * 3 + [second] * 2
    assert ids[1:3] == sorted(ids[1:3]) and ids[3:] == sorted(ids[3:])
    assert sql(db_path, "SELECT COUNT(*) FROM records WHERE state = 'in_flight'") == [(5,)]
    assert len(await store.claim_many([first, second], ACCOUNT, 5, clock.now)) == 2  # what is left
    assert await store.claim_many([first, second], ACCOUNT, 5, clock.now) == []


# ---------------------------------------------------------------- several campaigns


async def test_a_job_of_several_campaigns_blocks_one_campaign_alone(
    store: Store, make_job: Callable[..., Any]
) -> None:
    job_id, _ = await make_job(rows=phones(3), campaign=["A", "B", "C"])
    (job,) = await store.jobs()
    assert (job.campaign, job.campaigns) == ("A, B, C", ("A", "B", "C"))
    first = await claim_at(store, [job_id], ACCOUNT, 1.0)
    assert first is not None and (first.phone, first.campaign) == ("8123400000", "A")
    # Records of one number stand next to each other, in the config's order.
    second = await claim_at(store, [job_id], ACCOUNT, 1.0)
    assert second is not None and second.campaign == "B"
    block = (BlockReason.INVALID_CAMPAIGN, "Passed campaign are invalid")
    invalid = settlement(state="pending", outcome="invalid_campaign", attempts=0,
                         message=block[1], block_job=block)  # fmt: skip
    await store.settle(second, invalid)

    rest = await store.claim_many([job_id], ACCOUNT, 20, now=2.0)
    # 9 records: A's first in flight, B's first just blocked, B's other 2 not claimed.
    assert {c.campaign for c in rest} == {"A", "C"} and len(rest) == 5
    (job,) = await store.jobs()
    assert job.state == JobState.ACTIVE
    assert job.blocked_campaigns == (("B", BlockReason.INVALID_CAMPAIGN,
                                      "Passed campaign are invalid"),)  # fmt: skip
    for one in rest:
        await store.settle(one, settlement())
    await store.settle(first, settlement())
    assert await store.next_due([job_id]) is None  # B's 3 pending records wait unclaimed

    assert await store.retry(campaign="B") == (0, 1)
    (job,) = await store.jobs()
    assert job.blocked_campaigns == ()
    assert await store.next_due([job_id]) == 0.0


async def test_a_job_of_one_campaign_is_still_blocked_as_a_whole(
    store: Store, make_job: Callable[..., Any]
) -> None:
    job_id, _ = await make_job(rows=phones(2))
    one = await claim_at(store, [job_id], ACCOUNT, 1.0)
    assert one is not None and one.campaign == CAMPAIGN
    block = (BlockReason.INVALID_CAMPAIGN, "Passed campaign are invalid")
    await store.settle(one, settlement(state="pending", attempts=0, block_job=block))
    (job,) = await store.jobs()
    assert (job.state, job.blocked_reason, job.blocked_campaigns) == (
        JobState.BLOCKED, BlockReason.INVALID_CAMPAIGN, ()
    )
