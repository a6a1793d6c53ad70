"""Which lock says that this process sends for an account, and taking it.

With SQLite the lock is a ``flock`` file per account identity under ``state_dir``
(runner.storage.lock). With PostgreSQL many processes on many hosts share the queue:
the lock is an advisory lock on the process's one lock connection
(runner.storage.pg.lock), and a process holds at most ``max_accounts`` of them.
psycopg is imported only for a PostgreSQL queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from runner.config import AccountConfig
from runner.core.errors import AccountLocked
from runner.storage.lock import AccountLock
from runner.storage.pg.url import Database, PgUrl

if TYPE_CHECKING:
    from runner.storage.pg.lock import LockSession, PgAccountLock

AnyLock: TypeAlias = "AccountLock | PgAccountLock"


def lock_session(database: Database) -> LockSession | None:
    """The connection holding this process's advisory locks; None for SQLite."""
    if isinstance(database, PgUrl):
        from runner.storage.pg.lock import LockSession

        return LockSession(database)
    return None


def new_lock(
    config: AccountConfig, name: str, session: LockSession | None, state_dir: Path, database: str
) -> AnyLock:
    if session is not None:
        from runner.storage.pg.lock import PgAccountLock

        return PgAccountLock(session, config.identity, name)
    return AccountLock(state_dir, config.identity, name, database)


async def take(
    lock: AnyLock, name: str, locks: Iterable[AnyLock], limit: int | None, now: float
) -> None:
    """Lock the account for this process, or AccountLocked; ``locks`` are all this
    process has made, held or not."""
    if isinstance(lock, AccountLock):
        lock.acquire()
        return
    held = sum(1 for other in locks if other.held)
    if not lock.held and limit is not None and held >= limit:
        raise AccountLocked(
            f"account {name!r}: this process sends for max_accounts ({limit}) accounts already"
        )
    await lock.acquire(now)
