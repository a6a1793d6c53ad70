"""Storage trouble: each case gives one clear line and a non-zero exit, loses no recorded
result, and the next run recovers once the cause is gone."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from harness import Project, Sandbox, numbers


def one_line_error(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("runner: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount small tmpfs file systems (needs root, which CI and this machine have)."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        point = tmp_path / f"fs{len(mounts)}"
        point.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounts.append(point)
        return point

    yield mount
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], check=False)


def records(database: Path) -> dict[str, str]:
    with sqlite3.connect(database) as db:
        return dict(db.execute("SELECT phone, state FROM records"))


def test_a_full_disk_stops_the_run_and_the_next_run_finishes(
    project: Project, sandbox: Sandbox, tiny_fs: Callable[[str], Path]
) -> None:
    disk = tiny_fs("16m")  # room for SQLite's 4 MB WAL once the filler is gone
    phones = numbers(3000)
    project.add_job("purge", phones)
    project.settings = {"database": str(disk / "runner.db")}
    project.account = {"rate_limit": "500/s"}
    project.write()
    assert project.run("load").code == 0
    filler = disk / "filler"
    with filler.open("wb") as out:  # leave the database a few pages to grow into
        free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        out.write(b"\0" * max(free - 1024 * 1024, 0))

    full = project.run("run")

    assert full.code == 1
    assert "disk is full" in one_line_error(full.stderr)
    before = records(disk / "runner.db")
    deleted_by_server = sandbox.deleted()
    recorded = {phone for phone, state in before.items() if state == "deleted"}
    assert recorded and recorded <= deleted_by_server  # what was recorded really happened
    filler.unlink()

    again = project.run("run")

    assert again.code == 0, again.stderr
    after = records(disk / "runner.db")
    assert all(after[phone] == "deleted" for phone in recorded)  # no recorded result lost
    assert all(state in ("deleted", "not_found") for state in after.values())
    assert len(after) == 3000


def test_a_read_only_database_is_a_clear_error(
    project: Project, sandbox: Sandbox, tiny_fs: Callable[[str], Path]
) -> None:
    disk = tiny_fs("4m")
    project.add_job("purge", numbers(10))
    project.settings = {"database": str(disk / "runner.db")}
    project.write()
    assert project.run("load").code == 0
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

    result = project.run("run")

    assert result.code != 0
    assert "read-only" in one_line_error(result.stderr).lower()
    assert sandbox.stats()["requests"] == 0
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    assert project.run("run").code == 0


def test_a_corrupt_database_is_refused_in_one_line(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(5))
    project.write()
    project.database.write_bytes(os.urandom(8192))

    for command in (["run"], ["status"], ["load"], ["export"]):
        result = project.run(*command)
        assert result.code == 1, command
        assert "corrupt or not a runner database" in one_line_error(result.stderr)
    assert sandbox.stats()["requests"] == 0


def test_a_database_from_a_newer_runner_is_refused(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(5))
    project.write()
    assert project.run("load").code == 0
    with sqlite3.connect(project.database) as db:
        db.execute("PRAGMA user_version = 99")

    result = project.run("run")

    assert result.code == 1
    assert "schema version 99 is newer" in one_line_error(result.stderr)
    assert sandbox.stats()["requests"] == 0


def test_a_database_locked_by_another_program(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(5))
    project.write()
    assert project.run("load").code == 0
    holder = sqlite3.connect(project.database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # some other program writing and never committing

    try:
        result = project.run("run")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    assert result.code == 1
    assert "another program holds the database" in one_line_error(result.stderr)
    assert sandbox.stats()["requests"] == 0
    assert project.run("run").code == 0
