"""Tests of runner/storage/db: the queries file, migration 0004, the Queue and Reader methods the
store gained, loading beside a draining runner, and read-only readers as another user."""

from __future__ import annotations

import asyncio
import inspect
import re
import sqlite3
import stat
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from dbhelpers import insert_rows
from readers import as_reader, monitored_folder, skip_unless_importable

from runner.core.errors import StoreError
from runner.core.states import AFTER_INTERRUPTED, BlockReason, RecordState, StopReason
from runner.intake.inputs import FileStamp, InvalidRow, Row
from runner.storage import queue
from runner.storage.db import connection
from runner.storage.db.connection import OLDEST_READABLE
from runner.storage.db.queries import Q, parse
from runner.storage.queue import SenderNote, Settlement
from runner.storage.store import Store

RUNNER = Path(__file__).resolve().parents[2] / "runner"


def sql(path: Path, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute(statement, params).fetchall()
        db.commit()
        return rows


def rows(count: int) -> list[Row]:
    return [Row(i + 1, f"9{i:09d}", None) for i in range(count)]


async def new_job(store: Store, folder: Path, name: str = "job", count: int = 3) -> int:
    job_id = await store.ensure_job(name, "main", "Camp", account_identity="id-main")
    source = folder / f"{name}.csv"
    source.write_text("phoneNumber\n", encoding="utf-8")
    source_id, _ = await store.source(job_id, source, FileStamp.of(source))
    await insert_rows(store, job_id, source_id, rows(count))
    return job_id


def answer(state: RecordState, reason: str | None = None, **changes: Any) -> Settlement:
    fields: dict[str, Any] = dict(
        state=state, reason=reason, attempts=1, not_before=0.0, http_status=200,
        outcome=str(state), message="m", body="{}", finished_at=2_000.0,
    )  # fmt: skip
    fields.update(changes)
    return Settlement(**fields)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "runner.db") as opened:
        yield opened


# ---------------------------------------------------------------- the queries file


def test_no_sql_outside_runner_db() -> None:
    statement = re.compile(r"\b(SELECT|UPDATE|INSERT|DELETE FROM|PRAGMA)\b")
    offenders = [
        f"{path.relative_to(RUNNER)}:{number}"
        for path in RUNNER.rglob("*.py")
        if "db" not in path.relative_to(RUNNER).parts[:1]
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if statement.search(line)
    ]
    assert offenders == []


def test_every_query_named_in_the_code_exists() -> None:
    used = {
        name
        for path in RUNNER.rglob("*.py")
        for name in re.findall(r"\bQ\.(\w+)", path.read_text(encoding="utf-8"))
    }
    assert used and used <= set(Q.names())


def test_parse_includes_fragments_and_refuses_twins() -> None:
    blocks = parse("-- one --\nSELECT 1\n-- where --\nWHERE x\n-- two --\nSELECT 2 {{where}}\n")
    assert blocks == {"one": "SELECT 1", "where": "WHERE x", "two": "SELECT 2 WHERE x"}
    with pytest.raises(ValueError, match="twice"):
        parse("-- a --\nSELECT 1\n-- a --\nSELECT 2\n")
    with pytest.raises(AttributeError, match="no query 'nothing'"):
        _ = Q.nothing


def test_queries_sql_ships_in_the_wheel() -> None:
    """Hatch packages every file under runner/: the .sql sits beside storage/db/queries.py."""
    assert (RUNNER / "storage" / "db" / "queries.sql").is_file()


def test_the_store_has_every_queue_and_reader_method_with_their_parameters() -> None:
    for protocol in (queue.Queue, queue.Reader):
        for name, member in inspect.getmembers(protocol, inspect.isfunction):
            if name.startswith("_"):
                continue
            mine = getattr(Store, name)
            assert inspect.iscoroutinefunction(mine), name
            assert list(inspect.signature(mine).parameters) == list(
                inspect.signature(member).parameters
            ), name


# ---------------------------------------------------------------- migration 0004


def database_at(path: Path, version: int) -> sqlite3.Connection:
    """A database as an older runner left it: the migrations up to ``version`` applied."""
    db = sqlite3.connect(path)
    for number, script in connection.read_migrations(connection.migrations_dir())[:version]:
        db.executescript(script + f"\nPRAGMA user_version = {number};")
    return db


async def test_migration_0004_splits_reasons_and_marks_interrupted_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with closing(database_at(path, 3)) as db:
        db.executescript(
            "INSERT INTO jobs (id, name, account, campaign, state, blocked_reason, created_at)"
            " VALUES (1, 'a', 'main', 'C', 'blocked', 'not_found_guard: 9 of 10 answers', 0),"
            " (2, 'b', 'main', 'C', 'active', NULL, 0);"
            "INSERT INTO sources (id, job_id, path, size, mtime_ns) VALUES (1, 1, 'f', 0, 0);"
            "INSERT INTO records (id, job_id, source_id, line, phone) VALUES"
            " (1, 1, 1, 1, '9000000001'), (2, 1, 1, 2, '9000000002');"
            "INSERT INTO requests (record_id, job_id, account, started_at, outcome)"
            " VALUES (1, 1, 'main', 5, 'interrupted');"
        )
    async with await Store.open(path) as store:
        jobs = await store.jobs()
        (claimed,) = await store.claim_many([1], "main", 1, now=10.0)
    assert (jobs[0].blocked_reason, jobs[0].blocked_message) == (
        BlockReason.NOT_FOUND_GUARD,
        "9 of 10 answers",
    )
    assert (jobs[1].blocked_reason, jobs[1].blocked_message) == (None, None)
    assert (claimed.record_id, claimed.interrupted) == (1, True)
    assert sql(path, "SELECT id, interrupted FROM records ORDER BY id") == [(1, 1), (2, 0)]


# ---------------------------------------------------------------- migration 0007


async def test_migration_0007_gives_existing_records_their_jobs_one_campaign(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as db:
        for version, script in connection.read_migrations(connection.migrations_dir())[:6]:
            db.executescript(script + f"\nPRAGMA user_version = {version};")
        db.executescript(
            "INSERT INTO jobs (id, name, account, campaign, created_at)"
            " VALUES (1, 'a', 'main', 'Sales', 0);"
            "INSERT INTO sources (id, job_id, path, size, mtime_ns) VALUES (1, 1, 'f', 0, 0);"
            "INSERT INTO records (id, job_id, source_id, line, phone) VALUES"
            " (1, 1, 1, 1, '9000000001'), (2, 1, 1, 2, '9000000002');"
        )
    async with await Store.open(path) as store:
        (job,) = await store.jobs()
        claims = await store.claim_many([1], "main", 2, now=10.0)
        # The same job loaded again by the same config finds its records: no duplicates.
        assert await store.ensure_job("a", "main", "Sales") == 1
    assert (job.campaign, job.campaigns, job.blocked_campaigns) == ("Sales", (), ())
    assert [c.campaign for c in claims] == ["Sales", "Sales"]
    with closing(sqlite3.connect(path)) as db, pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO records (job_id, source_id, line, phone, campaign)"
            " VALUES (1, 1, 3, '9000000001', 'Sales')"
        )


# ---------------------------------------------------------------- the queue


async def test_recovered_records_are_claimed_as_interrupted_and_reported(
    store: Store, tmp_path: Path
) -> None:
    job_id = await new_job(store, tmp_path, count=2)
    first, _ = await store.claim_many([job_id], "main", 2, now=100.0)
    assert not first.interrupted
    assert await store.recover_in_flight(now=200.0) == 2
    again = await store.claim_many([job_id], "main", 2, now=300.0)
    assert [c.interrupted for c in again] == [True, True]
    await store.settle(again[0], answer(RecordState.NOT_FOUND, AFTER_INTERRUPTED))
    await store.release(again[1])
    # Kept through a release: the next claim still knows the request was cut off.
    (third,) = await store.claim_many([job_id], "main", 1, now=400.0)
    assert third.record_id == again[1].record_id and third.interrupted
    assert await store.interrupted_not_found() == {job_id: 1}
    starts = sql(tmp_path / "runner.db", "SELECT started_at FROM requests WHERE outcome = ?",
                 ("interrupted",))  # fmt: skip
    assert starts == [(200.0,), (200.0,)]


async def test_next_due(store: Store, tmp_path: Path) -> None:
    a = await new_job(store, tmp_path, "a", 1)
    b = await new_job(store, tmp_path, "b", 1)
    (claimed,) = await store.claim_many([a], "main", 1, now=0.0)
    await store.settle(claimed, answer(RecordState.PENDING, not_before=500.0))
    assert await store.next_due([a]) == 500.0
    assert await store.next_due([a, b]) == 0.0
    assert await store.next_due([]) is None
    assert await store.next_due([b + 100]) is None


async def test_settle_blocks_with_code_and_message_and_stops_the_claims_account(
    store: Store, tmp_path: Path
) -> None:
    job_id = await new_job(store, tmp_path)
    one, two = await store.claim_many([job_id], "main", 2, now=0.0)
    block = (BlockReason.INVALID_CAMPAIGN, "Passed campaign are invalid")
    await store.settle(one, answer(RecordState.PENDING, block_job=block))
    stop = (StopReason.AUTH_SETTING, "the account wants tokens")
    await store.settle(two, answer(RecordState.PENDING, stop_account=stop, finished_at=7.0))
    (job,) = await store.jobs()
    assert (job.state, job.blocked_reason, job.blocked_message) == ("blocked", *block)
    assert await store.account_stops() == {"main": (StopReason.AUTH_SETTING, stop[1], 7.0)}


async def test_block_job_and_retry_clear_the_guard_by_its_code(
    store: Store, tmp_path: Path
) -> None:
    guarded = await new_job(store, tmp_path, "guarded")
    other = await new_job(store, tmp_path, "other")
    await store.block_job(guarded, BlockReason.NOT_FOUND_GUARD, "9 of the first 10")
    await store.block_job(other, BlockReason.INVALID_CAMPAIGN, "invalid")
    assert await store.retry("guarded") == (0, 1)
    jobs = {job.name: job for job in await store.jobs()}
    assert (jobs["guarded"].state, jobs["guarded"].blocked_message) == ("active", None)
    assert jobs["guarded"].guard_cleared and not jobs["other"].guard_cleared
    assert await store.retry() == (0, 1)
    assert not {job.name: job for job in await store.jobs()}["other"].guard_cleared


async def test_ensure_job_keeps_the_identity_of_the_latest_loading_config(
    store: Store, tmp_path: Path
) -> None:
    made = await store.ensure_job("new", "main", "C", account_identity="abc")
    old = await store.ensure_job("old", "main", "C")
    kept = await store.ensure_job("kept", "main", "C", account_identity="k")
    assert await store.ensure_job("old", "main", "C", account_identity="def") == old
    assert await store.ensure_job("new", "main", "C", account_identity="xyz") == made  # fixed
    assert await store.ensure_job("kept", "main", "C") == kept  # a loader without one
    identities = {job.name: job.account_identity for job in await store.jobs()}
    assert identities == {"new": "xyz", "old": "def", "kept": "k"}


async def test_token_generations_per_identity(store: Store) -> None:
    for at in (30.0, 10.0, 20.0):
        await store.add_token_generation("id-a", at)
    await store.add_token_generation("id-b", 15.0)
    assert await store.token_generations("id-a", since=15.0) == [20.0, 30.0]
    assert await store.token_generations("id-b", since=0.0) == [15.0]
    assert await store.token_generations("id-c", since=0.0) == []


async def test_senders_and_waiting_jobs(store: Store, tmp_path: Path) -> None:
    job_id = await new_job(store, tmp_path)
    await store.note_sender(SenderNote("main", 11, "/db", "run", "sending"), now=1.0)
    waiting = SenderNote("main", 12, "/db", "worker", "waiting", "token budget", 99.0)
    await store.note_sender(waiting, now=2.0)
    await store.note_sender(SenderNote("b", 13, "/db", "run", "idle"), now=3.0)
    assert await store.senders() == [
        SenderNote("b", 13, "/db", "run", "idle", None, None, 3.0),
        SenderNote("main", 12, "/db", "worker", "waiting", "token budget", 99.0, 2.0),
    ]
    await store.note_job_waiting(job_id, "account main is drained by pid 12")
    assert [job.waiting for job in await store.jobs()] == ["account main is drained by pid 12"]
    await store.note_job_waiting(job_id, None)
    assert [job.waiting for job in await store.jobs()] == [None]


async def test_recent_requests_and_last_activity(store: Store, tmp_path: Path) -> None:
    job_id = await new_job(store, tmp_path, count=3)
    for at in (100.0, 110.0):
        (c,) = await store.claim_many([job_id], "main", 1, now=at)
        await store.settle(c, answer(RecordState.DELETED, finished_at=at + 1))
    await store.claim_many([job_id], "main", 1, now=120.0)
    await store.recover_in_flight(now=130.0)  # an unanswered audit row: not counted
    assert await store.recent_requests(since=0.0) == {job_id: (2, 100.0, 110.0)}
    assert await store.recent_requests(since=105.0) == {job_id: (1, 110.0, 110.0)}
    assert await store.last_activity() == {job_id: 130.0}


# ---------------------------------------------------------------- loading beside a runner


async def test_a_load_leaves_other_writers_in_between_its_transactions(
    tmp_path: Path,
) -> None:
    """A runner's commits (another Store) go through while 200,000 rows load.

    In one long transaction the runner would wait for the whole load (seconds, then
    "database is locked"). Structural, no stopwatch: the runner's writes land between
    the load's batches, not after its last one. (The typical wait, about 0.1 s, is a
    performance figure for bench/, not a test.)"""
    path = tmp_path / "runner.db"
    async with await Store.open(path) as loader, await Store.open(path) as runner:
        job_id = await loader.ensure_job("job", "main", "C")
        source = tmp_path / "in.csv"
        source.write_text("phoneNumber\n", encoding="utf-8")
        source_id, _ = await loader.source(job_id, source, FileStamp.of(source))
        handed = 0  # batches the load has taken so far

        async def batches() -> AsyncIterator[Sequence[Row | InvalidRow]]:
            nonlocal handed
            for start in range(0, 200_000, 5000):
                handed += 1
                yield [Row(i + 1, f"9{i:09d}", None) for i in range(start, start + 5000)]

        load = asyncio.create_task(loader.insert_all(job_id, source_id, batches()))
        landed: list[int] = []  # for each write of the runner: batches handed by then
        while not load.done():
            await runner.note_job_waiting(job_id, "a write of the runner")
            landed.append(handed)
            await asyncio.sleep(0.01)
        counts = await load
    assert counts.new == 200_000
    assert len({n for n in landed if n < 40}) >= 3, f"the runner's writes waited: {landed}"


async def test_a_load_alone_empties_the_wal_and_gives_its_settings_back(
    tmp_path: Path,
) -> None:
    """Alone, a load checkpoints at its end and truncates the WAL (it would otherwise
    stay at its largest); its cache, temp store and checkpoint settings are the
    defaults again; names and cells come through its JSON unchanged."""
    path = tmp_path / "runner.db"
    odd = 'Zoë "[x]", \\ 🙂'
    async with await Store.open(path) as store:
        job_id = await store.ensure_job("job", "main", "C")
        source = tmp_path / "in.csv"
        source.write_text("phoneNumber\n", encoding="utf-8")
        source_id, _ = await store.source(job_id, source, FileStamp.of(source))

        async def batches() -> AsyncIterator[Sequence[Row | InvalidRow]]:
            for start in range(0, 15_000, 5000):
                numbers = range(start, start + 5000)
                yield [Row(i + 2, f"9{i:09d}", odd, f" 9{i:09d}'") for i in numbers]

        counts = await store.insert_all(job_id, source_id, batches())
        assert counts.new == 15_000
        assert Path(f"{path}-wal").stat().st_size == 0
        settings = [
            (await store._fetchone(f"PRAGMA {name}", {}) or [None])[0]
            for name in ("cache_size", "temp_store", "wal_autocheckpoint")
        ]
        assert settings == [-2000, 0, 1000]
    assert sql(path, "SELECT line, phone, name, cell FROM records WHERE id = 2") == [
        (3, "9000000001", odd, " 9000000001'")
    ]


# ---------------------------------------------------------------- read-only readers


def test_reader_uri_is_immutable_only_without_a_wal_in_a_folder_it_cannot_write() -> None:
    database = Path("/data/odd ?#%.db")
    uri = connection.reader_uri
    assert uri(database, wal_exists=False, folder_writable=False).endswith("?immutable=1")
    assert uri(database, wal_exists=True, folder_writable=False).endswith("?mode=ro")
    assert uri(database, wal_exists=False, folder_writable=True).endswith("?mode=ro")
    assert "odd%20%3F%23%25.db?" in uri(database, wal_exists=True, folder_writable=True)


async def test_open_readonly_never_creates_and_asks_for_an_upgrade(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    with pytest.raises(StoreError, match="no database here"):
        await Store.open_readonly(missing)
    assert not missing.exists()
    path = tmp_path / "runner.db"
    async with await Store.open(path):
        pass
    sql(path, "PRAGMA user_version = 3")
    older = rf"version 3 is older than this runner reads \({OLDEST_READABLE}\)"
    with pytest.raises(StoreError, match=older):
        await Store.open_readonly(path)
    assert sql(path, "PRAGMA user_version") == [(3,)]


READER_SCRIPT = """
import asyncio, io, sys
from pathlib import Path
from runner.reports.export import export_records
from runner.storage.store import Store

async def main():
    path = Path(sys.argv[1])
    async with await Store.open_readonly(path) as reader:
        counts = await reader.state_counts()
        jobs = [job.name for job in await reader.jobs()]
    exported = await export_records(path, io.StringIO())
    print(jobs, sum(c.total for c in counts.values()), exported)

asyncio.run(main())
"""


@pytest.fixture
def shared_folder() -> Iterator[Path]:
    """A folder of the readers' group, mode 2750 (tests/readers.py)."""
    with monitored_folder("runner-ro-") as folder:
        yield folder


async def read_as_nobody(database: Path, member: bool = True) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(as_reader, "-c", READER_SCRIPT, str(database), member=member)


async def test_a_user_who_cannot_write_reads_after_and_during_a_run(
    shared_folder: Path,
) -> None:
    await asyncio.to_thread(skip_unless_importable)
    path = shared_folder / "runner.db"
    async with await Store.open(path) as store:
        await new_job(store, shared_folder, count=3)
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        assert not leftover.exists()  # closed cleanly: only the immutable open can read it
    assert stat.S_IMODE(shared_folder.stat().st_mode) == 0o2750
    assert stat.S_IMODE(path.stat().st_mode) == 0o640

    outsider = await read_as_nobody(path, member=False)
    assert outsider.returncode != 0  # others have no access at all
    after = await read_as_nobody(path)
    assert after.returncode == 0, after.stderr
    assert after.stdout.split() == ["['job']", "3", "3"]

    async with await Store.open(path) as store:
        job_id = (await store.jobs())[0].id
        (claimed,) = await store.claim_many([job_id], "main", 1, now=1.0)
        await store.settle(claimed, answer(RecordState.DELETED))
        assert Path(f"{path}-wal").exists()
        during = await read_as_nobody(path)
        assert during.returncode == 0, during.stderr
        assert during.stdout.split() == ["['job']", "3", "3"]
    assert sql(path, "SELECT COUNT(*) FROM records WHERE state = 'deleted'") == [(1,)]
