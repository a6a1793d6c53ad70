"""Real parts for integration tests: the sandbox as a process, the CLI as a process.

Nothing here sleeps and hopes: waits poll a condition (a sandbox counter, a
process exit) with a deadline, and fail loudly when it passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.testing import (
    SandboxProcess,
    account_config,
    env_with_key,
    retry_config,
    write_config,
)

API_KEY = "sandbox-key"
USER = "sandbox"
KEY_ENV = "RUNNER_TEST_API_KEY"


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "runner", *args]


def cli_env(api_key: str = API_KEY, **extra: str) -> dict[str, str]:
    return env_with_key(KEY_ENV, api_key, **extra)


Sandbox = SandboxProcess
"""The sandbox process, with what tests ask of it (stats, deleted, wait_for...)."""


@dataclass
class Project:
    """A folder with a jobs.yaml, its inputs and its database."""

    root: Path
    sandbox_url: str
    jobs: list[dict[str, Any]] = field(default_factory=list)
    account: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> Path:
        return self.root / "jobs.yaml"

    @property
    def database(self) -> Path:
        return self.root / "runner.db"

    def add_job(
        self, name: str, numbers: Iterable[str], campaign: str = "Sales", **extra: Any
    ) -> Path:
        path = self.root / f"{name}.txt"
        path.write_text("".join(f"{n}\n" for n in numbers))
        self.jobs.append({"name": name, "campaign": campaign, "input": path.name, **extra})
        return path

    def write(self) -> Path:
        account = account_config(
            self.sandbox_url, key_env=KEY_ENV, user_name=USER, rate_limit="50/s", timeout_seconds=5
        )
        options: dict[str, Any] = {"workers": 4, "retry": retry_config(0.01, 0.05)}
        return write_config(
            self.config,
            accounts={"main": account | self.account},
            jobs=self.jobs,
            **(options | self.settings),
        )

    def run(self, *args: str, api_key: str = API_KEY, timeout: float = 120) -> Result:
        return run_cli(*args, cwd=self.root, api_key=api_key, timeout=timeout)

    def start(self, *args: str, api_key: str = API_KEY) -> subprocess.Popen[str]:
        return subprocess.Popen(
            cli_command(*args),
            cwd=self.root,
            env=cli_env(api_key),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def status(self) -> dict[str, Any]:
        result = self.run("status", "--json")
        assert result.code == 0, result.stderr
        return dict(json.loads(result.stdout))

    def job_status(self, name: str) -> dict[str, Any]:
        return next(job for job in self.status()["jobs"] if job["name"] == name)


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path, api_key: str = API_KEY, timeout: float = 120) -> Result:
    done = subprocess.run(
        cli_command(*args),
        cwd=cwd,
        env=cli_env(api_key),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    # Whatever happens, the operator never sees a traceback.
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


def numbers(count: int, start: int = 9_800_000_000) -> list[str]:
    return [str(start + i) for i in range(count)]


def log_events(stderr: str) -> list[dict[str, Any]]:
    """The JSON log lines a run wrote to stderr."""
    events = []
    for line in stderr.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def wait_until(condition: Callable[[], bool], what: object, guard: float = 30) -> None:
    """Poll ``condition`` until it holds. ``guard`` only turns a hang into a failure that
    says ``what`` (called if callable, e.g. the status at that moment): it is no claim
    about speed."""
    give_up = time.monotonic() + guard
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(f"never happened: {what() if callable(what) else what}")
        time.sleep(0.1)
