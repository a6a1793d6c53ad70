"""Who may send: one runner per database, and one sender per account across databases.

Both are ``flock`` locks on small files holding the holder's pid (and, for an
account, its database): the kernel releases them when the process dies, even by
``kill -9``, so a crash never leaves a stale lock behind.

* ``<database>.lock`` — the process that drains a database (``run`` or ``worker``).
  Loading needs no lock: a ``load`` or a second ``run`` puts its jobs in the queue
  and the holder sends them.
* ``<state_dir>/account-<hash>.lock`` — the process that sends for an account,
  named after the account's identity (its base_url and user_name, hashed), so a
  second database on the same account cannot double the rate. The state folder
  is per OS user (``$XDG_STATE_HOME/runner`` by default): processes of different
  users cannot see each other's locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path

from runner.core.errors import AccountLocked, ConfigError, DatabaseLocked, RunnerError
from runner.core.safefiles import FILE_MODE, PRIVATE_MODE, check_folder, open_nofollow
from runner.storage.dbwatch import FileId, fd_id


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def account_lock_path(state_dir: Path, identity: str) -> Path:
    return state_dir / f"account-{identity[:20]}.lock"


class FileLock:
    """An exclusive, non-blocking flock on ``path``; the file says who holds it."""

    def __init__(self, path: Path, holder_text: str, mode: int = FILE_MODE) -> None:
        self.path = path
        self._text = holder_text
        self._mode = mode
        self._fd: int | None = None
        self.foreign_owner: int | None = None  # uid of the file's owner when it is not us

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        """True when this process now holds the lock; False when another one does."""
        if self._fd is not None:
            return True
        check_folder(self.path.parent, "the lock file's folder")
        try:
            fd = open_nofollow(self.path, os.O_RDWR | os.O_CREAT, self._mode)
        except ConfigError:
            raise
        except OSError as error:
            raise RunnerError(
                f"{self.path}: cannot open the lock file ({error.strerror}); "
                "its folder must be writable"
            ) from None
        _refuse_odd(fd, self.path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.fstat(fd).st_uid
            self.foreign_owner = owner if owner != os.geteuid() else None
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, self._text.encode())
        self._fd = fd
        return True

    def identity(self) -> FileId:
        """The held lock file's identity (to notice it being deleted or replaced)."""
        assert self._fd is not None
        return fd_id(self._fd)

    def describe(self, text: str) -> None:
        """Replace what the held lock file says about its holder."""
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, text.encode(), 0)

    def holder(self) -> list[str]:
        """The lines the holder wrote (its pid first), when they name a live process.

        Another program (or user) may ``flock`` the file without writing it: the
        pid left by an earlier runner would then name a process that does not exist.
        """
        lines = read_holder(self.path)
        return lines if lines and pid_alive(lines[0]) else []

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class RunLock(FileLock):
    """The database's lock: held by the one process that drains it."""

    def __init__(self, database: Path) -> None:
        super().__init__(lock_path(database), f"{os.getpid()}\n")
        self.database = database

    def acquire(self) -> None:
        if not self.try_acquire():
            raise DatabaseLocked(f"{self.database}: another runner holds this database{_who(self)}")

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


class AccountLock(FileLock):
    """An account's lock in the per-user state folder: held while this process sends for it."""

    def __init__(self, state_dir: Path, identity: str, account: str, database: Path | str) -> None:
        self.account = account
        self.state_dir = state_dir
        super().__init__(
            account_lock_path(state_dir, identity), f"{os.getpid()}\n{database}\n", PRIVATE_MODE
        )

    def acquire(self) -> None:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise RunnerError(
                f"{self.state_dir}: cannot make the state folder ({error.strerror}); "
                "set state_dir in the config to a writable folder"
            ) from None
        if not self.try_acquire():
            raise AccountLocked(self.refusal())

    def refusal(self) -> str:
        lines = self.holder()
        pid = f"process {lines[0]}" if lines else _unnamed(self)
        where = f" from {lines[1]}" if len(lines) > 1 else ""
        return (
            f"account {self.account!r}: {pid}{where} is already sending for this account "
            "(same base_url and user_name); one sender per account keeps its rate limit: "
            "load these jobs into that database instead, or wait for it to finish"
        )


def _refuse_odd(fd: int, path: Path) -> None:
    """A lock file must be a regular file with one link (a hard link to another file is not)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise ConfigError(f"{path}: the lock file is not a plain file of its own; remove it")


def pid_alive(text: str) -> bool:
    """Whether ``text`` is the pid of a live process (one of another user counts)."""
    try:
        os.kill(int(text), 0)
    except PermissionError:
        return True
    except (ValueError, OSError, OverflowError):
        return False
    return True


def _unnamed(lock: FileLock) -> str:
    """Who holds a lock whose file names no live process."""
    if lock.foreign_owner is not None:
        return f"a process of another user (uid {lock.foreign_owner}, the lock file's owner)"
    return "another process (it wrote no pid: not a runner)"


def read_holder(path: Path) -> list[str]:
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    return []


def _who(lock: FileLock) -> str:
    lines = lock.holder()
    return f" (pid {lines[0]})" if lines else f" ({_unnamed(lock)})"


def holder_pid(database: Path) -> int | None:
    """The pid of the runner holding ``database``, or None when no runner is active.

    Opens the lock file read-only, so it works for a user who may not write there.
    """
    path = lock_path(database)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            lines = read_holder(path)
            with contextlib.suppress(ValueError):
                return int(lines[0]) if lines else -1
            return -1
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
