"""Files the runner writes cannot be redirected; odd inputs and shared key files are refused."""

from __future__ import annotations

import fcntl
import io
import os
import stat
from pathlib import Path

import pytest
from test_config import account

from runner.core.errors import AccountLocked, ConfigError, DatabaseLocked, InputError
from runner.intake.inputs import read_rows
from runner.reports.writing import row_writer, spreadsheet_safe
from runner.storage.lock import AccountLock, RunLock

SECRET = "s3cr3t-KEY/value=42"


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"), ("@SUM(1+1)", "'@SUM(1+1)"),
     ("+A1", "'+A1"), ("-2+3", "'-2+3"), ("\tx", "'\tx"), ("\r=1", "'\r=1"),
     ("+919876543210", "+919876543210"), ("-5", "-5"), ("9876543210", "9876543210"),
     ("plain", "plain"), ("", ""), (None, None), (404, 404)],
)  # fmt: skip
def test_cells_a_spreadsheet_would_run_are_neutralised(cell: object, shown: object) -> None:
    assert spreadsheet_safe(cell) == shown


def test_csv_rows_are_neutralised_and_jsonl_kept_raw() -> None:
    csv_out, json_out = io.StringIO(), io.StringIO()
    row_writer("csv", csv_out, ["job", "message"])(["=evil", "@SUM(1)"])
    row_writer("jsonl", json_out, ["job", "message"])(["=evil", "@SUM(1)"])
    assert csv_out.getvalue().splitlines()[1] == "'=evil,'@SUM(1)"
    assert '"job": "=evil"' in json_out.getvalue()


@pytest.mark.parametrize("mode", [0o644, 0o666, 0o640, 0o604])
def test_a_key_file_others_may_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "key.txt"
    path.write_text(SECRET)
    path.chmod(mode)
    with pytest.raises(ConfigError) as caught:
        account(api_key_env=None, api_key_file=path).api_key()
    message = str(caught.value)
    assert message.endswith(f"(mode {mode:04o}): run chmod 600 {path}")
    assert SECRET not in message
    path.chmod(0o600)
    assert account(api_key_env=None, api_key_file=path).api_key() == SECRET


def test_a_fifo_as_input_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "in.txt"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match=r"in\.txt: not a regular file"):
        list(read_rows(fifo, "phoneNumber", None))


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("root only\n")
    (tmp_path / "runner.db.lock").symlink_to(target)
    with pytest.raises(ConfigError, match=r"runner\.db\.lock: is a symbolic link"):
        RunLock(tmp_path / "runner.db").acquire()
    assert target.read_text() == "root only\n"


def test_a_folder_writable_by_all_without_sticky_bit_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ConfigError, match=f"{shared}: .*writable by every user"):
        AccountLock(shared, "abc", "main", tmp_path / "x.db").acquire()
    shared.chmod(0o1777)  # like /tmp: the sticky bit keeps others' hands off our files
    lock = AccountLock(shared, "abc", "main", tmp_path / "x.db")
    lock.acquire()
    assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
    lock.release()


def test_a_lock_held_by_a_program_that_wrote_no_pid_names_no_process(tmp_path: Path) -> None:
    path = tmp_path / "runner.db.lock"
    path.write_text("999999999\n")  # left by a runner long gone
    other = os.open(path, os.O_RDONLY)
    fcntl.flock(other, fcntl.LOCK_SH)
    try:
        with pytest.raises(DatabaseLocked) as caught:
            RunLock(tmp_path / "runner.db").acquire()
        assert "999999999" not in str(caught.value)
        assert "not a runner" in str(caught.value)
        lock = AccountLock(tmp_path, "abc", "main", tmp_path / "x.db")
        os.rename(path, lock.path)
        with pytest.raises(AccountLocked) as refused:
            lock.acquire()
        assert "999999999" not in str(refused.value)
    finally:
        os.close(other)
