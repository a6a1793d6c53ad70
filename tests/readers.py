"""A monitoring user for the read-only tests: a member of the database's group, nothing more.

The runner creates the database, its -wal/-shm, its lock and exports 0640 whatever
the umask (runner.core.safefiles): others cannot read them, a group can. As the README
says, the folder belongs to the readers' group with the setgid bit (``chmod 2750``)
so that every file made in it is in that group. Root ignores file permissions, so
the reader runs as uid 65534 (``nobody``) with that group alone; a user outside the
group is refused.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# A numeric group: no /etc/group entry is needed to own files or to join it with setpriv.
READERS_GID = 4242
NOBODY = 65534


@contextmanager
def monitored_folder(prefix: str) -> Iterator[Path]:
    """A folder of group READERS_GID, mode 2750: its files are the group's, others see nothing."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv, to run the reader as another user in a group")
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    os.chown(folder, 0, READERS_GID)
    folder.chmod(0o2750)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def as_reader(*args: str, member: bool = True) -> subprocess.CompletedProcess[str]:
    """This Python as uid 65534, in the readers' group (``member``) or in no group at all."""
    groups = [f"--groups={READERS_GID}"] if member else ["--clear-groups"]
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", *groups, sys.executable, *args],
        capture_output=True, text=True, timeout=60, check=False, cwd="/",
        env={"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent"},
    )  # fmt: skip


def skip_unless_importable() -> None:
    probe = as_reader("-c", "import runner.cli")
    if probe.returncode != 0:
        pytest.skip(f"the reader cannot import runner here: {probe.stderr.strip()[-200:]}")
