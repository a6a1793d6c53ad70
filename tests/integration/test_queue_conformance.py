"""One contract, three queues: MemoryQueue, the SQLite Store and the PostgreSQL PgStore.

Every test here runs against each implementation of :class:`runner.storage.queue.Queue`
(``backend`` is parametrized); the :class:`runner.storage.queue.Reader` tests against the two
databases (MemoryQueue is no reader), and the loading tests against both stores. A
behaviour the drain relies on is pinned here once, so the three cannot drift apart.
PostgreSQL is the suite's own (tests/pg.py) or RUNNER_TEST_POSTGRES_URL's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runner.core.states import AFTER_INTERRUPTED, BlockReason, JobState, RecordState, StopReason
from runner.intake.inputs import FileStamp, InvalidRow, Row
from runner.storage.counts import Counts
from runner.storage.pg.store import PgStore
from runner.storage.pg.url import parse
from runner.storage.queue import Job, Queue, SenderNote, Settlement
from runner.storage.store import Store
from runner.testing.memqueue import MemoryQueue

NOW = 1_000_000.0


@dataclass
class Backend:
    """A queue under test and how to put a job with numbers in it."""

    kind: str
    queue: Any  # Queue; Store or PgStore also give Reader and loading
    folder: Path

    async def add_job(self, name: str, phones: Sequence[str], account: str = "main") -> Job:
        if isinstance(self.queue, MemoryQueue):
            return self.queue.add_job(name, phones, account)
        job_id, source_id = await self.add_source(name, account)
        rows = [Row(i + 1, phone, None) for i, phone in enumerate(phones)]
        await load(self.queue, job_id, source_id, rows)
        return next(job for job in await self.queue.jobs() if job.id == job_id)

    async def add_source(self, name: str, account: str = "main") -> tuple[int, int]:
        job_id = await self.queue.ensure_job(name, account, "Sales")
        path = self.folder / f"{name}.csv"
        path.write_text("phoneNumber\n", encoding="utf-8")
        source_id, _ = await self.queue.source(job_id, path, FileStamp.of(path))
        return int(job_id), int(source_id)


async def load(store: Any, job_id: int, source_id: int, rows: Sequence[Row | InvalidRow]) -> Any:
    async def batches() -> AsyncIterator[Sequence[Row | InvalidRow]]:
        yield rows

    return await store.insert_all(job_id, source_id, batches())


async def open_backend(kind: str, request: pytest.FixtureRequest, folder: Path) -> Any:
    if kind == "memory":
        return MemoryQueue()
    if kind == "sqlite":
        return await Store.open(folder / "runner.db")
    return await PgStore.open(parse(request.getfixturevalue("pg_url")))


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    queue = await open_backend(request.param, request, tmp_path)
    try:
        yield Backend(request.param, queue, tmp_path)
    finally:
        if not isinstance(queue, MemoryQueue):
            await queue.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The two stores: Reader, loading and operator commands."""
    queue = await open_backend(request.param, request, tmp_path)
    try:
        yield Backend(request.param, queue, tmp_path)
    finally:
        await queue.close()


def answer(state: str = "deleted", **changes: Any) -> Settlement:
    fields: dict[str, Any] = {
        "state": RecordState(state), "reason": None, "attempts": 1, "not_before": 0.0,
        "http_status": 200, "outcome": state, "message": "Deleted Successfully",
        "body": "{}", "finished_at": NOW + 1,
    }  # fmt: skip
    fields.update(changes)
    return Settlement(**fields)


# ---------------------------------------------------------------- the Queue


async def test_claims_take_due_records_in_job_then_file_order(backend: Backend) -> None:
    first = await backend.add_job("a", ["100", "101"])
    second = await backend.add_job("b", ["200", "201"])
    queue: Queue = backend.queue
    claims = await queue.claim_many([second.id, first.id], "main", 3, NOW)
    assert [c.phone for c in claims] == ["200", "201", "100"]
    assert all(c.started_at == NOW and c.account == "main" for c in claims)
    counts = await queue.state_counts()
    assert counts[second.id] == Counts(in_flight=2)
    assert counts[first.id] == Counts(in_flight=1, pending=1)


async def test_a_due_retry_goes_before_fresh_records_and_a_later_one_waits(
    backend: Backend,
) -> None:
    job = await backend.add_job("a", ["100", "101", "102"])
    queue: Queue = backend.queue
    first, second = await queue.claim_many([job.id], "main", 2, NOW)
    await queue.settle(first, answer("pending", not_before=NOW + 5, http_status=500))
    await queue.settle(second, answer("pending", not_before=NOW + 50, http_status=500))
    assert await queue.next_due([job.id]) == 0.0  # "102" is fresh
    claims = await queue.claim_many([job.id], "main", 3, NOW + 10)
    assert [c.phone for c in claims] == ["100", "102"]
    assert claims[0].attempts == 1
    assert await queue.next_due([job.id]) == NOW + 50
    assert await queue.claim_many([job.id], "main", 3, NOW + 20) == []


async def test_release_gives_the_record_back_without_using_an_attempt(backend: Backend) -> None:
    job = await backend.add_job("a", ["100"])
    queue: Queue = backend.queue
    (claim,) = await queue.claim_many([job.id], "main", 1, NOW)
    await queue.release(claim)
    (again,) = await queue.claim_many([job.id], "main", 1, NOW + 1)
    assert (again.record_id, again.attempts, again.started_at) == (claim.record_id, 0, NOW + 1)


async def test_next_due_is_none_without_pending_records(backend: Backend) -> None:
    job = await backend.add_job("a", ["100"])
    queue: Queue = backend.queue
    (claim,) = await queue.claim_many([job.id], "main", 1, NOW)
    assert await queue.next_due([job.id]) is None
    await queue.settle(claim, answer())
    assert await queue.next_due([job.id]) is None
    assert await queue.state_counts() == {job.id: Counts(deleted=1)}


async def test_a_settlement_blocks_the_job_and_stops_the_account(backend: Backend) -> None:
    job = await backend.add_job("a", ["100", "101"])
    queue: Queue = backend.queue
    first, _ = await queue.claim_many([job.id], "main", 2, NOW)
    await queue.settle(first, answer(
        "failed", reason="invalid_campaign",
        block_job=(BlockReason.INVALID_CAMPAIGN, "no campaign Sales"),
        stop_account=(StopReason.AUTH, "key refused"),
    ))  # fmt: skip
    (stored,) = await queue.jobs()
    assert (stored.state, stored.blocked_reason) == (JobState.BLOCKED, "invalid_campaign")
    assert stored.blocked_message == "no campaign Sales"
    if backend.kind != "memory":
        stops = await backend.queue.account_stops()
        assert stops == {"main": (StopReason.AUTH, "key refused", NOW + 1)}


async def test_block_job_and_stop_account_outside_an_answer(backend: Backend) -> None:
    job = await backend.add_job("a", ["100"])
    queue: Queue = backend.queue
    await queue.block_job(job.id, BlockReason.NOT_FOUND_GUARD, "too many not found")
    await queue.stop_account("main", StopReason.AUTH_SETTING, "token auth is on", NOW)
    await queue.stop_account("main", StopReason.AUTH, "replaced", NOW + 1)
    (stored,) = await queue.jobs()
    assert stored.blocked_reason == BlockReason.NOT_FOUND_GUARD
    if backend.kind != "memory":
        assert await backend.queue.account_stops() == {
            "main": (StopReason.AUTH, "replaced", NOW + 1)
        }


async def test_recent_starts_are_the_latest_of_the_account_oldest_first(backend: Backend) -> None:
    job = await backend.add_job("a", [str(100 + i) for i in range(5)])
    other = await backend.add_job("b", ["900"], account="other")
    queue: Queue = backend.queue
    for i in range(5):
        (claim,) = await queue.claim_many([job.id], "main", 1, NOW + i)
        await queue.settle(claim, answer(finished_at=NOW + i + 0.5))
    (claim,) = await queue.claim_many([other.id], "other", 1, NOW + 3)
    await queue.settle(claim, answer())
    assert await queue.recent_starts("main", NOW + 1, 3) == [NOW + 2, NOW + 3, NOW + 4]
    assert await queue.recent_starts("main", NOW + 4.5, 3) == []
    assert await queue.recent_starts("other", 0, 10) == [NOW + 3]


async def test_token_generations_are_counted_per_identity(backend: Backend) -> None:
    queue: Queue = backend.queue
    for at in (NOW + 2, NOW, NOW + 5):
        await queue.add_token_generation("id-1", at)
    await queue.add_token_generation("id-2", NOW)
    assert await queue.token_generations("id-1", NOW + 1) == [NOW + 2, NOW + 5]
    assert await queue.token_generations("id-2", 0) == [NOW]
    assert await queue.token_generations("id-3", 0) == []


async def test_the_latest_sender_note_replaces_the_previous(backend: Backend) -> None:
    queue: Queue = backend.queue
    await queue.note_sender(SenderNote("main", 11, "db", "worker", "busy"), NOW)
    await queue.note_sender(SenderNote("main", 12, "db", "worker", "waiting", "budget",
                                       NOW + 60), NOW + 1)  # fmt: skip
    if backend.kind == "memory":
        notes = list(backend.queue.notes.values())
    else:
        notes = await backend.queue.senders()
    assert len(notes) == 1
    (note,) = notes
    assert (note.pid, note.state, note.note, note.until, note.updated_at) == (
        12,
        "waiting",
        "budget",
        NOW + 60,
        NOW + 1,
    )


# ---------------------------------------------------------------- the Reader


async def test_reports_of_failures_requests_and_activity(database: Backend) -> None:
    store = database.queue
    job = await database.add_job("a", ["100", "101", "102"])
    claims = await store.claim_many([job.id], "main", 3, NOW)
    await store.settle(claims[0], answer("failed", reason="http_400", http_status=400))
    await store.settle(claims[1], answer("not_found", reason=AFTER_INTERRUPTED))
    await store.settle(claims[2], answer("deleted"))
    assert await store.failure_reasons() == {job.id: {"http_400": 1}}
    assert await store.interrupted_not_found() == {job.id: 1}
    assert await store.recent_requests(NOW - 1) == {job.id: (3, NOW, NOW)}
    assert await store.recent_requests(NOW + 1) == {}
    assert await store.last_activity() == {job.id: NOW}
    assert await store.job_names() == ["a"]


async def test_job_waiting_and_identity_are_kept(database: Backend) -> None:
    store = database.queue
    job_id = await store.ensure_job("a", "main", "Sales", "e164", "ident-1")
    assert await store.ensure_job("a", "main", "Sales", "e164", "ident-2") == job_id
    await store.note_job_waiting(job_id, "account main is sent by another process")
    (job,) = await store.jobs()
    assert (job.number_format, job.account_identity) == ("e164", "ident-2")
    assert job.waiting == "account main is sent by another process"


async def test_recovery_puts_records_in_flight_back_marked_interrupted(database: Backend) -> None:
    store = database.queue
    job = await database.add_job("a", ["100", "101"])
    await store.claim_many([job.id], "main", 1, NOW)
    assert await store.recover_in_flight(NOW + 5) == 1
    (claim,) = await store.claim_many([job.id], "main", 1, NOW + 6)
    assert (claim.phone, claim.interrupted) == ("100", True)
    rows = [row async for row in store.request_rows()]
    assert [(row[3], row[5], row[8]) for row in rows] == [("100", NOW + 5, "interrupted")]


async def test_retry_puts_failed_records_and_blocked_jobs_back(database: Backend) -> None:
    store = database.queue
    job = await database.add_job("a", ["100", "101"])
    first, _ = await store.claim_many([job.id], "main", 2, NOW)
    await store.settle(first, answer("failed", reason="http_400"))
    await store.block_job(job.id, BlockReason.NOT_FOUND_GUARD, "guard")
    assert await store.retry("a") == (1, 1)
    (stored,) = await store.jobs()
    assert (stored.state, stored.guard_cleared) == (JobState.ACTIVE, True)
    assert (await store.state_counts())[job.id] == Counts(pending=1, in_flight=1)


async def test_export_filters_by_job_state_and_phone_digits(database: Backend) -> None:
    store = database.queue
    job = await database.add_job("a", ["+919876543210", "09123456789"])
    await database.add_job("b", ["+919876543210"])
    (claim,) = await store.claim_many([job.id], "main", 1, NOW)
    await store.settle(claim, answer())
    rows = [row async for row in store.export_rows(["a"], [], ["9876543210"])]
    assert [(row[0], row[3], row[4], row[5]) for row in rows] == [
        ("a", 1, "+919876543210", "deleted")
    ]
    pending = [row[4] async for row in store.export_rows([], ["pending"], [])]
    assert pending == ["09123456789", "+919876543210"]
    assert [row async for row in store.export_rows([], [], ["5555"])] == []
    requests = [row async for row in store.request_rows(["a"])]
    assert [(r[3], r[7], r[8]) for r in requests] == [("+919876543210", 200, "deleted")]


# ---------------------------------------------------------------- loading


async def test_loading_counts_new_duplicate_and_invalid_and_is_idempotent(
    database: Backend,
) -> None:
    store = database.queue
    job_id, source_id = await database.add_source("a")
    rows: list[Row | InvalidRow] = [
        Row(1, "100", "Asha"), Row(2, "101", None), Row(3, "100", "again"),
        InvalidRow(4, "12ab\t\\x", "not_a_number: letters"),
    ]  # fmt: skip
    counts = await load(store, job_id, source_id, rows)
    assert (counts.new, counts.duplicate, counts.invalid) == (2, 1, 1)
    again = await load(store, job_id, source_id, rows)
    assert (again.new, again.duplicate) == (0, 3)
    exported = [row async for row in store.export_rows()]
    assert [(r[3], r[4], r[5], r[6]) for r in exported] == [
        (1, "100", "pending", None), (2, "101", "pending", None),
        (4, "12ab\t\\x", "invalid", "not_a_number: letters"),
    ]  # fmt: skip
    (claim, _) = await store.claim_many([job_id], "main", 2, NOW)
    assert claim.name == "Asha"


async def test_a_job_keeps_its_account_and_campaign(database: Backend) -> None:
    store = database.queue
    await store.ensure_job("a", "main", "Sales")
    with pytest.raises(Exception, match="already in"):
        await store.ensure_job("a", "main", "Support")


async def test_a_source_loaded_unchanged_is_known(database: Backend) -> None:
    store = database.queue
    job_id, source_id = await database.add_source("a")
    path = database.folder / "a.csv"
    assert await store.source(job_id, path, FileStamp.of(path)) == (source_id, False)
    await store.mark_loaded(source_id, FileStamp.of(path))
    assert await store.source(job_id, path, FileStamp.of(path)) == (source_id, True)


# ---------------------------------------------------------------- PostgreSQL: many processes


async def test_concurrent_claims_never_take_one_record_twice(pg_url: str) -> None:
    """Four connections (four processes, as far as the server knows) claim side by side."""
    stores = [await PgStore.open(parse(pg_url)) for _ in range(4)]
    try:
        job = await stores[0].ensure_job("a", "main", "Sales")
        source_id, _ = await stores[0].source(job, Path(__file__), FileStamp.of(Path(__file__)))
        rows = [Row(i + 1, f"9{i:06d}", None) for i in range(400)]
        await load(stores[0], job, source_id, rows)

        async def drain(one: PgStore) -> list[int]:
            taken: list[int] = []
            while claims := await one.claim_many([job], "main", 7, NOW):
                taken += [claim.record_id for claim in claims]
            return taken

        taken = await asyncio.gather(*(drain(one) for one in stores))
        every = [record for one in taken for record in one]
        assert len(every) == len(set(every)) == 400
    finally:
        for one in stores:
            await one.close()


async def test_reads_beside_claims_and_settlements_on_one_connection(pg_url: str) -> None:
    """A worker's accounts read (their rate window, the next due record, token
    generations) while others claim and settle on the same connection: no read may slip
    in between another task's statements ("another command is already in progress")."""
    store = await PgStore.open(parse(pg_url))
    try:
        job = await store.ensure_job("a", "main", "Sales")
        source_id, _ = await store.source(job, Path(__file__), FileStamp.of(Path(__file__)))
        await load(store, job, source_id, [Row(i + 1, f"9{i:06d}", None) for i in range(600)])

        async def send() -> None:
            while claims := await store.claim_many([job], "main", 1, NOW):
                await store.recent_starts("main", 0, 100)
                await store.settle(claims[0], answer())

        async def read() -> None:
            for _ in range(100):
                await store.token_generations("x" * 64, 0)
                await store.next_due([job])

        await asyncio.gather(*(send() for _ in range(20)), *(read() for _ in range(5)))
        counts = await store.state_counts()
        assert counts[job].deleted == 600
    finally:
        await store.close()


async def test_a_claim_skips_records_another_session_has_locked(pg_url: str) -> None:
    """SKIP LOCKED: a claim beside another process's open claim takes the next records
    at once (a claim that waited would fail here on the 2 s lock_timeout)."""
    import psycopg

    store = await PgStore.open(parse(pg_url))
    try:
        job = await store.ensure_job("a", "main", "Sales")
        source_id, _ = await store.source(job, Path(__file__), FileStamp.of(Path(__file__)))
        await load(store, job, source_id, [Row(i + 1, f"9{i:06d}", None) for i in range(6)])
        await store._conn.execute("SET lock_timeout = '2s'")
        async with await psycopg.AsyncConnection.connect(pg_url) as other:
            cursor = await other.execute(
                "SELECT phone FROM records ORDER BY id LIMIT 3 FOR UPDATE"
            )  # the other session's transaction stays open until the end of the block
            assert [row[0] async for row in cursor] == ["9000000", "9000001", "9000002"]
            claims = await store.claim_many([job], "main", 6, NOW)
            assert [c.phone for c in claims] == ["9000003", "9000004", "9000005"]
    finally:
        await store.close()


# ---------------------------------------------------------------- campaigns, cancel, prune


async def test_a_job_of_several_campaigns_blocks_one_campaign_alone(database: Backend) -> None:
    store = database.queue
    job_id = await store.ensure_job("multi", "main", ["Sales", "Support"])
    path = database.folder / "multi.csv"
    path.write_text("phoneNumber\n", encoding="utf-8")
    source_id, _ = await store.source(job_id, path, FileStamp.of(path))
    counts = await load(store, job_id, source_id, [Row(1, "100", None), Row(2, "101", None)])
    assert (counts.new, counts.duplicate) == (4, 0)
    (job,) = await store.jobs()
    assert (job.campaign, job.campaigns) == ("Sales, Support", ("Sales", "Support"))
    first = (await store.claim_many([job_id], "main", 1, NOW))[0]
    assert (first.phone, first.campaign) == ("100", "Sales")
    await store.settle(first, answer(
        "failed", reason="invalid_campaign", http_status=400,
        block_job=(BlockReason.INVALID_CAMPAIGN, "no such campaign"),
    ))  # fmt: skip
    (job,) = await store.jobs()
    assert job.state == JobState.ACTIVE
    assert job.blocked_campaigns == (("Sales", BlockReason.INVALID_CAMPAIGN, "no such campaign"),)
    rest = await store.claim_many([job_id], "main", 5, NOW)
    assert [(c.phone, c.campaign) for c in rest] == [("100", "Support"), ("101", "Support")]
    assert await store.campaign_counts() == {
        job_id: {"Sales": {"failed": 1, "pending": 1}, "Support": {"in_flight": 2}}
    }
    requests = [row async for row in store.request_rows()]
    assert [row[1] for row in requests] == ["Sales"]  # the campaign it was sent for
    assert await store.retry("multi", "Sales") == (1, 1)
    (job,) = await store.jobs()
    assert job.blocked_campaigns == ()


async def test_duplicate_lines_are_kept_and_exported_beside_their_record(
    database: Backend,
) -> None:
    store = database.queue
    job_id, source_id = await database.add_source("a")
    rows = [Row(1, "100", "Asha", cell="100"), Row(2, "100", "Ravi", cell="+100")]
    counts = await load(store, job_id, source_id, rows)
    assert (counts.new, counts.duplicate) == (1, 1)
    duplicates = [row async for row in store.duplicate_rows()]
    assert [(r[3], r[4], r[5], r[11], r[12], r[14]) for r in duplicates] == [
        (2, "100", "duplicate", "+100", "Ravi", 1)
    ]


async def test_cancel_and_bring_cancelled_records_back(database: Backend) -> None:
    store = database.queue
    job = await database.add_job("a", ["100", "101", "102"])
    await store.claim_many([job.id], "main", 1, NOW)
    assert await store.cancel(["a"], NOW) == 2
    assert (await store.state_counts())[job.id] == Counts(in_flight=1, cancelled=2)
    assert await store.claim_many([job.id], "main", 5, NOW) == []
    assert await store.retry_cancelled("a") == 2
    assert len(await store.claim_many([job.id], "main", 5, NOW)) == 2


async def test_prune_removes_final_jobs_and_keeps_their_request_totals(
    database: Backend,
) -> None:
    store = database.queue
    done = await database.add_job("done", ["100"])
    busy = await database.add_job("busy", ["200", "201"])
    (claim,) = await store.claim_many([done.id], "main", 1, NOW)
    await store.settle(claim, answer(finished_at=NOW + 1))
    (claim,) = await store.claim_many([busy.id], "main", 1, NOW)
    await store.settle(claim, answer(finished_at=NOW + 1))
    archived: list[Any] = []
    pruned = await store.prune(NOW + 10, NOW + 20, lambda *args: archived.append(args))
    assert (pruned.jobs, pruned.records, pruned.requests) == (("done",), 1, 1)
    assert [job.name for job in await store.jobs()] == ["busy"]
    assert archived[0][0] == ["done"] and len(archived[0][1]) == 1
    assert await store.request_totals() == [("main", "deleted", "200", 2)]
    assert await store.recent_finished(NOW) == {busy.id: (1, NOW + 1, NOW + 1)}


async def test_a_campaign_refused_as_invalid_is_corrected_by_a_reload(database: Backend) -> None:
    store = database.queue
    job = await database.add_job("a", ["100"])
    await store.block_job(job.id, BlockReason.INVALID_CAMPAIGN, "no campaign Sales")
    assert await store.ensure_job("a", "main", "Sales_2026") == job.id
    (stored,) = await store.jobs()
    assert (stored.campaign, stored.state) == ("Sales_2026", JobState.ACTIVE)
    (claim,) = await store.claim_many([job.id], "main", 1, NOW)
    assert claim.campaign == "Sales_2026"


async def test_token_generations_and_rate_history_are_shared_between_processes(
    pg_url: str,
) -> None:
    """What a new holder of an account reads (its rate window, its token budget) is what
    the previous holder, on another host, wrote."""
    one, other = await PgStore.open(parse(pg_url)), await PgStore.open(parse(pg_url))
    try:
        await one.add_token_generation("identity", NOW)
        await other.add_token_generation("identity", NOW + 1)
        assert await one.token_generations("identity", 0) == [NOW, NOW + 1]
        job = await one.ensure_job("a", "main", "Sales")
        source_id, _ = await one.source(job, Path(__file__), FileStamp.of(Path(__file__)))
        await load(one, job, source_id, [Row(1, "100", None)])
        (claim,) = await one.claim_many([job], "main", 1, NOW)
        await one.settle(claim, answer())
        assert await other.recent_starts("main", NOW - 1, 10) == [NOW]
    finally:
        await one.close()
        await other.close()
