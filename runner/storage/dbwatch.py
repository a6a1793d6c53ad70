"""Noticing that the database was deleted or replaced under the process that holds it.

``rm runner.db*`` or ``mv other.db runner.db`` under a running worker leaves it
writing to a file nobody will read again, while later ``load``s go to the new file
and are handed over to a process that never sees them. So the holder compares, every
few seconds, the file behind the database's path (and its lock's) with the one it
opened, and stops with exit 6 when they differ: systemd then starts it again on the
new file. The lock file also says which file its holder has open, so that a process
handing its jobs over can check that the holder really holds *this* database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from runner.core.lifecycle import Shutdown
from runner.core.logs import get_logger

# How often the holder looks at the path.
CHECK_INTERVAL: Final = 2.0


@dataclass(frozen=True, slots=True)
class FileId:
    """A file's identity: its device and inode."""

    dev: int
    ino: int

    def __str__(self) -> str:
        return f"{self.dev}:{self.ino}"

    @classmethod
    def parse(cls, text: str) -> FileId | None:
        dev, _, ino = text.partition(":")
        return cls(int(dev), int(ino)) if dev.isdigit() and ino.isdigit() else None


def file_id(path: Path) -> FileId | None:
    """The identity of the file at ``path`` now (None: there is none)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return FileId(info.st_dev, info.st_ino)


def fd_id(fd: int) -> FileId:
    info = os.fstat(fd)
    return FileId(info.st_dev, info.st_ino)


def change(path: Path, opened: FileId) -> str | None:
    """Why ``path`` is no longer the file opened as ``opened``, or None while it is."""
    now = file_id(path)
    if now is None:
        return f"{path} was deleted"
    if now != opened:
        return f"{path} was replaced by another file"
    return None


async def watch(watched: dict[Path, FileId], shutdown: Shutdown) -> str | None:
    """Until a shutdown: return why (and stop the process) once a watched path changes."""
    while not shutdown.requested.is_set():
        await shutdown.sleep(CHECK_INTERVAL)
        for path, opened in watched.items():
            why = change(path, opened)
            if why is not None:
                get_logger().error(
                    "database_gone", why=why,
                    hint="this process stops (exit 6); start it again to use the file now there",
                )  # fmt: skip
                shutdown.stop()
                return why
    return None


def holds_this_file(holder_lines: list[str], database: Path) -> bool:
    """Whether the lock's holder has the file now at ``database`` open (True if unsaid)."""
    said = FileId.parse(holder_lines[1]) if len(holder_lines) > 1 else None
    return said is None or said == file_id(database)
