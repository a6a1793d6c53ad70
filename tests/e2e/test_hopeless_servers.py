"""Hopeless servers through the real CLI: a closed port, an HTML page for ever, 429 for ever.

``run`` stops the account with the named reason (exit 3, records pending) once it has
had no usable answer for ``retry.give_up_after_seconds`` (1 s here); a ``worker`` keeps
going and ``status --json`` names the state, its start and no ETA.
"""

from __future__ import annotations

import json
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import Project, Sandbox, log_events, numbers

RECORDS = 20
PATIENT = {"max_attempts": 1000, "backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05,
           "give_up_after_seconds": 1}  # fmt: skip


def closed_port_url() -> str:
    """A loopback URL nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def forced(tmp_path: Path, phones: list[str], status: int, body: str) -> Path:
    """An --answers file giving every record the same answer."""
    path = tmp_path / "answers.json"
    answer = {"status": status, "body": body, "headers": {"Retry-After": "0",
                                                          "Content-Type": "text/html"}}
    path.write_text(json.dumps({phone: answer for phone in phones}))
    return path


def hopeless_project(tmp_path: Path, url: str, phones: list[str]) -> Project:
    project = Project(tmp_path / "project", url)
    project.root.mkdir()
    project.add_job("purge", phones)
    project.settings = {"retry": PATIENT}
    project.write()
    return project


def assert_stopped_pending(project: Project, stderr: str, reason: str, words: str) -> None:
    (account,) = project.status()["accounts"]
    assert (account["stopped"], account["reason"]) == (True, reason)
    assert f"{reason} since " in account["message"] and words in account["message"]
    job = project.job_status("purge")
    assert job["pending"] == RECORDS and job["failed"] == 0  # untouched, resumable
    assert job["eta_seconds"] is None
    assert "Traceback" not in stderr


def test_a_closed_port_stops_a_run_as_unreachable(tmp_path: Path) -> None:
    project = hopeless_project(tmp_path, closed_port_url(), numbers(RECORDS))
    result = project.run("run", "--log-format", "json")
    assert result.code == 3, result.stderr
    assert_stopped_pending(project, result.stderr, "unreachable", "connection refused")
    events = {event["event"] for event in log_events(result.stderr)}
    assert {"account_hopeless", "account_stopped", "run_finished"} <= events


@pytest.mark.parametrize(
    ("status", "body", "reason", "words"),
    [(200, "<html><body>Captive portal: please log in</body></html>", "no_usable_answer",
      "not JSON"),
     (405, "Method Not Allowed", "no_usable_answer", "HTTP 405"),
     (429, "Too Many Requests", "rate_limited", "429")],
)  # fmt: skip
def test_a_server_with_no_usable_answer_stops_a_run(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path, status: int, body: str,
    reason: str, words: str
) -> None:  # fmt: skip
    phones = numbers(RECORDS)
    sandbox = sandbox_factory("--answers", str(forced(tmp_path, phones, status, body)))
    project = hopeless_project(tmp_path, sandbox.url, phones)
    result = project.run("run", "--log-format", "json")
    assert result.code == 3, result.stderr
    assert_stopped_pending(project, result.stderr, reason, words)
    assert sandbox.stats()["requests"] >= 2


def test_a_worker_keeps_going_and_status_names_the_state_without_eta(tmp_path: Path) -> None:
    project = hopeless_project(tmp_path, closed_port_url(), numbers(RECORDS))
    worker = project.start("worker", "--log-format", "json")
    try:
        deadline = time.monotonic() + 60
        account: dict[str, Any] = {}
        while time.monotonic() < deadline:
            said = project.run("status", "--json")  # fails until the worker made the database
            accounts = json.loads(said.stdout)["accounts"] if said.code == 0 else []
            account = accounts[0] if accounts else {}
            if (account.get("sender") or {}).get("state") == "unreachable":
                break
            time.sleep(0.1)  # polling a condition with a deadline, not waiting for a result
        sender = account["sender"]
        assert sender["state"] == "unreachable", account
        assert sender["note"] == "connection refused" and sender["since"] is not None
        assert account["stopped"] is False  # a worker never gives up
        assert project.job_status("purge")["eta_seconds"] is None
        table = project.run("status").stdout
        assert "unreachable since " in table and ": connection refused" in table
        metrics = project.run("status", "--prometheus", "-").stdout
        assert 'runner_account_hopeless_since_seconds{account="main",state="unreachable"}' in (
            metrics
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 143, stderr
    assert project.job_status("purge")["pending"] == RECORDS
