"""The command line itself: its commands, the lazy sandbox, completion, and its exits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from runner import __version__
from runner.cli import cli


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("load", "run", "status", "retry", "export", "sandbox"):
        assert f"  {command} " in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.output.strip() == f"runner, version {__version__}"


def test_shell_completion_knows_commands_and_states() -> None:
    def complete(words: str, index: int) -> list[str]:
        env = dict(os.environ, COMP_WORDS=words, COMP_CWORD=str(index),
                   _RUNNER_COMPLETE="bash_complete")  # fmt: skip
        script = Path(sys.executable).with_name("runner")  # the console script pip installed
        done = subprocess.run([script], env=env, capture_output=True, text=True, check=False)
        return [line.split(",", 1)[1] for line in done.stdout.splitlines()]

    assert complete("runner sa", 1) == ["sandbox"]
    assert "not_found" in complete("runner export --state ", 3)


def test_a_missing_config_is_a_usage_error(tmp_path: object) -> None:
    result = CliRunner().invoke(cli, ["load", "nowhere.yaml"])
    assert result.exit_code == 2
    assert "nowhere.yaml" in result.output


def test_status_without_a_database_says_so(tmp_path: object) -> None:
    result = CliRunner().invoke(cli, ["status", "--db", "/nonexistent/runner.db"])
    assert result.exit_code == 1
    assert "no database here" in result.output


def test_status_before_the_first_load_says_there_is_nothing_yet(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "runner.db")])
    assert result.exit_code == 0, result.output
    assert "no jobs yet" in result.output
    assert not (tmp_path / "runner.db").exists()  # a reader never creates it
    checked = CliRunner().invoke(cli, ["status", "--db", str(tmp_path / "runner.db"), "--check"])
    assert checked.exit_code == 0


def test_status_reads_a_workers_config_without_jobs(tmp_path: Path) -> None:
    worker = (Path(__file__).parents[2] / "examples" / "worker.yaml").read_text()
    config = tmp_path / "worker.yaml"
    config.write_text(worker.replace("/var/lib/runner/runner.db", str(tmp_path / "runner.db")))
    result = CliRunner().invoke(cli, ["status", str(config)])
    assert result.exit_code == 0, result.output  # not "at least one job is required"
    assert "no jobs yet" in result.output


def test_status_refuses_what_it_would_silently_ignore_or_trace(tmp_path: Path) -> None:
    database = str(tmp_path / "runner.db")
    watch_json = CliRunner().invoke(cli, ["status", "--db", database, "--watch", "--json"])
    assert watch_json.exit_code == 2 and "--watch" in watch_json.output  # not printed once
    missing = tmp_path / "nowhere" / "runner.prom"
    prom = CliRunner().invoke(cli, ["status", "--db", database, "--prometheus", str(missing)])
    assert prom.exit_code == 2 and "is missing" in prom.output
    assert "Traceback" not in prom.output and "FileNotFoundError" not in prom.output
