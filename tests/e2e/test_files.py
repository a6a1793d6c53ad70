"""Files through the real CLI: modes whatever the umask, links and shared folders refused,
FIFO inputs and shared key files refused, CSV exports safe in a spreadsheet, big answers."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

from harness import Project, Sandbox, cli_command, cli_env, numbers, run_cli


def one_line_exit_2(result_code: int, stderr: str) -> str:
    assert result_code == 2, stderr
    (line,) = stderr.splitlines()
    assert line.startswith("runner: error: ") and "Traceback" not in stderr
    return line


def test_a_fifo_as_input_is_refused_at_once(project: Project) -> None:
    project.add_job("purge", numbers(3))
    os.unlink(project.root / "purge.txt")
    os.mkfifo(project.root / "purge.txt")
    project.write()
    result = project.run("load", timeout=30)  # blocked for ever before
    line = one_line_exit_2(result.code, result.stderr)
    assert "purge.txt: not a regular file" in line
    assert not project.database.exists()


def test_a_key_file_others_may_read_is_refused(project: Project) -> None:
    (project.root / "main.key").write_text("sandbox-key\n")
    (project.root / "main.key").chmod(0o644)
    project.add_job("purge", numbers(3))
    project.account = {"api_key_env": None, "api_key_file": "main.key"}
    project.write()
    result = project.run("run")
    line = one_line_exit_2(result.code, result.stderr)
    assert f"(mode 0644): run chmod 600 {project.root / 'main.key'}" in line
    assert "sandbox-key" not in result.stderr


def test_new_files_give_others_no_access_whatever_the_umask(
    project: Project, sandbox: Sandbox
) -> None:
    project.add_job("purge", numbers(10))
    project.write()
    for args in (["run"], ["export", "-o", "out.csv"]):
        done = subprocess.run(
            cli_command(*args), cwd=project.root, env=cli_env(), capture_output=True,
            text=True, timeout=120, check=False, preexec_fn=lambda: os.umask(0),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    for name in ("runner.db", "runner.db.lock", "out.csv"):
        assert stat.S_IMODE((project.root / name).stat().st_mode) == 0o640, name


def test_a_symlinked_lock_in_a_shared_folder_is_left_untouched(
    project: Project, tmp_path: Path
) -> None:
    precious = tmp_path / "precious"
    precious.write_text("root only\n")
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o1777)  # shared, with the sticky bit: allowed, but links are not followed
    project.add_job("purge", numbers(3))
    project.settings = {"state_dir": str(state)}
    project.write()
    assert project.run("load").code == 0
    (project.root / "runner.db.lock").symlink_to(precious)

    result = project.run("run")

    line = one_line_exit_2(result.code, result.stderr)
    assert "runner.db.lock: is a symbolic link" in line
    assert precious.read_text() == "root only\n"


def test_a_state_dir_every_user_may_write_is_refused(project: Project, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    project.add_job("purge", numbers(3))
    project.settings = {"state_dir": str(state)}
    project.write()
    result = project.run("run")
    line = one_line_exit_2(result.code, result.stderr)
    assert f"{state}: state_dir is writable by every user" in line
    assert list(state.iterdir()) == []


def test_csv_exports_neutralise_formulas_and_jsonl_keeps_them(project: Project) -> None:
    (project.root / "rows.csv").write_text(
        "phoneNumber\n9876543210\n=cmd|' /C calc'!A0\n@SUM(1+1)\n+919876543211\n"
    )
    project.jobs.append({"name": "=HYPERLINK(1)", "campaign": "Sales", "input": "rows.csv"})
    project.write()
    assert project.run("run").code == 0

    rows = list(csv.reader(io.StringIO(project.run("export").stdout)))[1:]
    cells = {cell for row in rows for cell in row}
    assert "'=HYPERLINK(1)" in cells and "=HYPERLINK(1)" not in cells
    assert not any(cell[:1] in "=@" for cell in cells if cell)
    assert "+919876543211" in cells  # a number stays as sent
    raw = project.run("export", "--format", "jsonl").stdout
    jobs = {json.loads(line)["job"] for line in raw.splitlines()}
    assert jobs == {"=HYPERLINK(1)"}


def test_a_valid_answer_over_64_kib_is_parsed(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    phones = numbers(3)
    padding = "x" * (300 * 1024)
    body = json.dumps({"status": "Success", "message": "Deleted Successfully", "pad": padding})
    answers = {phone: {"status": 200, "body": body} for phone in phones}
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    sandbox = sandbox_factory("--answers", str(tmp_path / "answers.json"))
    project = Project(tmp_path / "p", sandbox.url)
    project.root.mkdir()
    project.add_job("purge", phones)
    project.write()
    assert project.run("run").code == 0
    assert project.job_status("purge")["deleted"] == 3


def test_status_works_on_the_new_files(project: Project) -> None:
    project.add_job("purge", numbers(2))
    project.write()
    assert run_cli("load", cwd=project.root).code == 0
    assert project.status()["totals"]["total"] == 2
