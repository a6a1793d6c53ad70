"""One sender per account on PostgreSQL: runner.storage.pg.lock's advisory lock on a real server."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from runner.core.errors import AccountLocked
from runner.core.states import StopReason
from runner.storage.pg.lock import HUNG_AFTER, AccountLockLost, LockSession, PgAccountLock, lock_key
from runner.storage.pg.store import PgStore
from runner.storage.pg.url import parse
from runner.storage.queue import SenderNote

IDENTITY = "ab" * 32
NOW = 1_000_000.0


async def note(url: str, updated_at: float) -> None:
    async with await PgStore.open(parse(url)) as store:
        await store.note_sender(SenderNote("main", 4242, "db", "worker", "busy"), updated_at)


async def eventually_acquired(lock: PgAccountLock, tries: int = 200) -> None:
    """The server ends a closed session's backend (and frees its locks) a moment after
    the client has gone: poll, with a guard that turns a hang into a failure."""
    for _ in range(tries):
        with contextlib.suppress(AccountLocked):
            await lock.acquire(NOW + 2)
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the lock of a closed session was never freed")


async def test_one_holder_at_a_time_and_the_lock_is_free_when_its_session_ends(
    pg_url: str,
) -> None:
    await note(pg_url, NOW)
    first, second = LockSession(parse(pg_url)), LockSession(parse(pg_url))
    holder = PgAccountLock(first, IDENTITY, "main")
    other = PgAccountLock(second, IDENTITY, "main")
    try:
        await holder.acquire(NOW)
        with pytest.raises(AccountLocked, match="pid 4242 on"):
            await other.acquire(NOW + 1)  # the holder's note is fresh: it waits
        assert not other.held
        await first.close()  # the process dies: its session and its locks go
        await eventually_acquired(other)
        assert other.held
    finally:
        await first.close()
        await second.close()


async def test_a_hung_holder_is_cut_off_and_then_stops_sending(pg_url: str) -> None:
    await note(pg_url, NOW)
    hung, taker = LockSession(parse(pg_url)), LockSession(parse(pg_url))
    try:
        await PgAccountLock(hung, IDENTITY, "main").acquire(NOW)
        # No note from the holder for longer than HUNG_AFTER: its session is ended.
        await PgAccountLock(taker, IDENTITY, "main").acquire(NOW + HUNG_AFTER + 1)
        with pytest.raises(AccountLockLost, match="stopped sending at once"):
            await hung.check()
    finally:
        await hung.close()
        await taker.close()


def test_the_lock_key_is_a_signed_64_bit_number_of_the_identity() -> None:
    assert lock_key("00" * 32) == 0
    assert lock_key("ff" * 32) == -1
    assert lock_key("7f" + "ff" * 31) == 2**63 - 1


async def test_many_accounts_locked_at_once_share_the_one_lock_connection(pg_url: str) -> None:
    """A worker takes its accounts concurrently (and watches its lock connection meanwhile):
    the acquisitions must not interleave their transactions on the one connection, nor
    open a second one whose locks would go with it."""
    identities = [f"{n:02x}" * 32 for n in range(1, 21)]
    await note(pg_url, NOW)  # a migrated queue: an acquisition requeues what was in flight
    session, other = LockSession(parse(pg_url)), LockSession(parse(pg_url))
    try:
        locks = [PgAccountLock(session, identity, f"a{n}") for n, identity in enumerate(identities)]
        await asyncio.gather(*(lock.acquire(NOW) for lock in locks), session.check())
        assert all(lock.held for lock in locks)
        for n, identity in enumerate(identities):
            with pytest.raises(AccountLocked):
                await PgAccountLock(other, identity, f"a{n}").acquire(NOW)
    finally:
        await session.close()
        await other.close()


async def test_taking_an_account_clears_its_stop_and_leaves_the_others(pg_url: str) -> None:
    """A shared queue's stops belong to the processes holding their accounts: the one
    that takes an account clears that account's stop, not one another process keeps."""
    async with await PgStore.open(parse(pg_url)) as store:
        for account in ("main", "other"):
            await store.stop_account(account, StopReason.AUTH, "Invalid User Details", NOW)
    session = LockSession(parse(pg_url))
    try:
        await PgAccountLock(session, IDENTITY, "main").acquire(NOW)
    finally:
        await session.close()
    async with await PgStore.open(parse(pg_url)) as store:
        assert set(await store.account_stops()) == {"other"}
