"""Migration 0006 and the ways out of a mistake in the store: cancel, retry --cancelled,
a corrected campaign."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from test_db import answer, database_at, new_job, sql

from runner.core.errors import ConfigError
from runner.core.states import BlockReason, RecordState
from runner.storage.counts import Counts
from runner.storage.db.jobs import campaign_correctable
from runner.storage.store import Store

# An old database's job "a" and its input file, as the migration tests start from.
A_JOB_AND_ITS_FILE = (
    "INSERT INTO jobs (id, name, account, campaign, created_at) VALUES (1, 'a', 'm', 'C', 0);"
    "INSERT INTO sources (id, job_id, path, size, mtime_ns) VALUES (1, 1, 'f', 0, 0);"
)


def database_with(path: Path, version: int, script: str) -> Path:
    """An old database at ``version`` holding job "a", its file, and ``script``'s rows."""
    with closing(database_at(path, version)) as db:
        db.executescript(A_JOB_AND_ITS_FILE + script)
    return path


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "runner.db") as opened:
        yield opened


async def test_migration_0006_keeps_every_record_and_request_and_allows_cancelled(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    with closing(database_at(path, 5)) as db:
        db.executescript(
            A_JOB_AND_ITS_FILE +
            "INSERT INTO records (id, job_id, source_id, line, phone, name, state, reason,"
            " attempts, not_before, last_http_status, last_message, finished_at, interrupted)"
            " VALUES (1, 1, 1, 1, '9000000001', 'Ann', 'deleted', NULL, 1, 0, 200, 'ok', 7.5, 1),"
            " (2, 1, 1, 2, '9000000002', NULL, 'pending', NULL, 0, 0, NULL, NULL, NULL, 0);"
            "INSERT INTO requests (record_id, job_id, account, started_at, outcome)"
            " VALUES (1, 1, 'm', 5, 'deleted');"
        )
        before = db.execute("SELECT * FROM records ORDER BY id").fetchall()
    async with await Store.open(path) as store:
        assert await store.cancel(["a"], now=9.0) == 1
    # + cell (0006), campaign (0007), invalid (0009)
    assert sql(path, "SELECT * FROM records WHERE id = 1") == [(*before[0], None, "C", 0)]
    assert sql(path, "SELECT state FROM records WHERE id = 2") == [("cancelled",)]
    assert sql(path, "SELECT campaign FROM requests") == [("C",)]
    assert sql(path, "PRAGMA foreign_key_check") == []
    query = "SELECT name FROM sqlite_master WHERE tbl_name = 'records' AND type = 'index'"
    indexes = {row[0] for row in sql(path, query)}
    assert indexes == {"records_identity", "records_invalid_line", "records_runnable",
                       "records_job_state", "records_failed", "records_finished",
                       "records_after_interrupted"}  # fmt: skip


async def test_migration_0009_flags_invalid_lines_and_keeps_state_out_of_their_indexes(
    tmp_path: Path,
) -> None:
    path = database_with(
        tmp_path / "old.db",
        8,
        "INSERT INTO records (id, job_id, source_id, line, phone, state, reason)"
        " VALUES (1, 1, 1, 1, '9000000001', 'pending', NULL),"
        " (2, 1, 1, 2, 'not-a-number', 'invalid', 'not_a_number');",
    )
    async with await Store.open(path):
        pass
    assert sql(path, "SELECT id, invalid FROM records ORDER BY id") == [(1, 0), (2, 1)]
    # An index partial on `state` is rewritten at every claim and answer (0009).
    query = "SELECT name, sql FROM sqlite_master WHERE name IN (?, ?)"
    for name, definition in sql(path, query, ("records_identity", "records_invalid_line")):
        assert "state" not in definition, name
        assert "invalid =" in definition, name


async def test_cancelled_records_are_never_claimed_and_come_back(
    store: Store, tmp_path: Path
) -> None:
    job = await new_job(store, tmp_path, "dnc", count=3)
    other = await new_job(store, tmp_path, "keep", count=1)
    assert await store.cancel(["dnc"], now=5.0) == 3
    assert await store.claim_many([job, other], "main", 5, now=10.0) != []
    assert {c.job_id for c in await store.claim_many([job], "main", 5, now=10.0)} == set()
    assert (await store.state_counts())[job] == Counts(cancelled=3)
    assert await store.retry_cancelled("dnc") == 3
    assert len(await store.claim_many([job], "main", 5, now=11.0)) == 3


async def test_cancel_all_pending_leaves_final_records_alone(store: Store, tmp_path: Path) -> None:
    job = await new_job(store, tmp_path, "dnc", count=2)
    (first,) = await store.claim_many([job], "main", 1, now=1.0)
    await store.settle(first, answer(RecordState.DELETED))
    assert await store.cancel([], now=5.0) == 1
    assert (await store.state_counts())[job] == Counts(deleted=1, cancelled=1)


async def blocked_for_campaign(store: Store, tmp_path: Path) -> int:
    job = await new_job(store, tmp_path, "typo", count=2)
    (first,) = await store.claim_many([job], "main", 1, now=1.0)
    block = (BlockReason.INVALID_CAMPAIGN, "Passed campaign are invalid")
    refused = answer(RecordState.PENDING, attempts=0, outcome="invalid_campaign", block_job=block)
    await store.settle(first, refused)
    return job


async def test_a_campaign_refused_by_the_api_is_corrected_by_loading_again(
    store: Store, tmp_path: Path
) -> None:
    job = await blocked_for_campaign(store, tmp_path)
    assert await store.ensure_job("typo", "main", "Camp-fixed", account_identity="id-main") == job
    (loaded,) = [j for j in await store.jobs() if j.id == job]
    assert (loaded.campaign, loaded.state, loaded.blocked_reason) == ("Camp-fixed", "active", None)
    assert len(await store.claim_many([job], "main", 5, now=3.0)) == 2  # both sent again
    # The audit keeps the campaign the refused request was sent for.
    assert sql(tmp_path / "runner.db", "SELECT campaign FROM requests") == [("Camp",)]


async def test_a_changed_campaign_is_refused_otherwise(store: Store, tmp_path: Path) -> None:
    await new_job(store, tmp_path, "fine", count=1)
    with pytest.raises(ConfigError, match="another name"):
        await store.ensure_job("fine", "main", "Other")
    job = await blocked_for_campaign(store, tmp_path)
    (claimed,) = await store.claim_many([job], "main", 1, now=2.0)
    await store.settle(claimed, answer(RecordState.DELETED))  # the old campaign worked once
    with pytest.raises(ConfigError, match="another name"):
        await store.ensure_job("typo", "main", "Camp-fixed")


def test_only_the_campaign_of_a_job_blocked_for_it_is_correctable() -> None:
    stored, wanted = ("main", "Sals", "as_is"), ("main", "Sales", "as_is")
    assert campaign_correctable(stored, "blocked", "invalid_campaign", wanted)
    assert not campaign_correctable(stored, "blocked", "not_found_guard", wanted)
    assert not campaign_correctable(stored, "active", None, wanted)
    elsewhere = ("other", "Sales", "as_is")
    assert not campaign_correctable(stored, "blocked", "invalid_campaign", elsewhere)
    assert not campaign_correctable(stored, "blocked", "invalid_campaign", stored)
