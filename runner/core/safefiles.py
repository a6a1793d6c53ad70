"""Files the runner writes cannot be redirected, and hold no more than their owner's group may read.

A folder another user may write (the database's, ``state_dir``) lets that user put
a symlink where the runner will create a file: the runner would then truncate and
write whatever the link points to, as itself. So such a folder is refused unless
it has the sticky bit (``/tmp``), files are opened with ``O_NOFOLLOW``, and a path
that is a symlink is refused before SQLite (which follows links) opens it.

Modes: the database, its ``-wal``/``-shm``, exports and the database's lock file
are created 0640 whatever the umask (phone numbers: the owner writes, a
monitoring group reads, others nothing); the per-account locks in ``state_dir``
0600. SQLite gives ``-wal``/``-shm`` the database file's own mode.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Final

from runner.core.errors import ConfigError

FILE_MODE: Final = 0o640
PRIVATE_MODE: Final = 0o600
NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)


def shared_without_sticky(mode: int) -> bool:
    """A folder any user may write to, and in which anyone may rename anyone's files."""
    return bool(mode & stat.S_IWOTH) and not mode & stat.S_ISVTX


def check_folder(folder: Path, what: str) -> None:
    """Refuse a folder writable by others without the sticky bit, naming it."""
    try:
        mode = os.stat(folder).st_mode
    except OSError:
        return  # a missing folder is reported by whatever opens a file in it
    if shared_without_sticky(mode):
        raise ConfigError(
            f"{folder}: {what} is writable by every user without the sticky bit: another user "
            f"could redirect the runner's files; use a private folder (chmod o-w {folder})"
        )


def refuse_symlink(path: Path) -> None:
    """A file the runner will write must not be a symlink (its target is someone else's)."""
    if path.is_symlink():
        raise ConfigError(f"{path}: is a symbolic link; the runner does not write through links")


def open_nofollow(path: Path, flags: int, mode: int) -> int:
    """``os.open`` that fails on a symlink, with ``mode`` kept whatever the umask."""
    try:
        fd = os.open(path, flags | NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as error:
        if path.is_symlink():
            raise ConfigError(
                f"{path}: is a symbolic link; the runner does not write through links"
            ) from None
        raise error
    return fd


def create_private(path: Path, mode: int = FILE_MODE) -> None:
    """Create ``path`` empty with ``mode`` exactly, unless it exists (never through a link)."""
    refuse_symlink(path)
    try:
        fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError:
        return  # it exists, or cannot be made: SQLite says which, with what to do
    try:
        os.fchmod(fd, mode)
    finally:
        os.close(fd)
