"""The worker as a service: SIGHUP, a stop bounded by the second deadline, a database held by
a nightly run, a database deleted or replaced under it. Through the real CLI and sandbox."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import Project, Sandbox, log_events, numbers, wait_until


def until(condition: Callable[[], bool], what: str) -> None:
    """Poll until the condition holds; the guard only turns a hang into a failure."""
    wait_until(condition, what, guard=60)


def events(stderr: str) -> list[str]:
    return [str(event.get("event")) for event in log_events(stderr)]


def status_or_none(project: Project) -> dict[str, Any] | None:
    said = project.run("status", "--json")
    return project.status() if said.code == 0 else None


def test_sighup_stops_gracefully_like_sigterm(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--latency-ms", "200")
    project.add_job("purge", numbers(200))
    project.write()
    process = project.start("run", "--log-format", "json")
    sandbox.wait_for(lambda stats: stats["requests"] >= 3)

    process.send_signal(signal.SIGHUP)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 129, stderr
    assert "run_finished" in events(stderr) and "Traceback" not in stderr
    job = project.job_status("purge")
    assert job["in_flight"] == 0 and job["pending"] > 0


def test_a_stop_is_bounded_by_the_second_deadline(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    # Every request hangs, and the account waits up to an hour for an answer.
    project, sandbox = sandbox_project("--hang-rate", "1.0")
    project.add_job("purge", numbers(20))
    project.account = {"timeout_seconds": 3600}
    project.settings = {"stop_deadline_seconds": 1}
    project.write()
    worker = project.start("worker", "--log-format", "json")
    sandbox.wait_for(lambda stats: stats["requests"] >= 2)

    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=60)  # without the deadline: an hour

    assert worker.returncode == 143, stderr
    said = events(stderr)
    assert said.index("stopping") < said.index("abandoning_requests") < said.index("run_finished")
    job = project.job_status("purge")
    assert (job["in_flight"], job["pending"]) == (0, 20)  # abandoned requests: pending again


def test_a_worker_started_while_a_run_holds_the_database_drains_after_it(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--latency-ms", "20")
    project.add_job("nightly", numbers(30))
    project.account = {"rate_limit": "10/s"}
    project.write()
    nightly = project.start("run")
    sandbox.wait_for(lambda stats: stats["requests"] >= 2)
    worker = project.start("worker", "--log-format", "json")
    try:
        assert nightly.wait(timeout=120) == 0
        assert worker.poll() is None  # not exit 4: it waited for the run
        project.add_job("later", numbers(10, start=9_700_000_000))
        project.write()
        assert project.run("load").code == 0
        until(lambda: project.job_status("later")["state"] == "done", "the worker sends later")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 143, stderr
    assert events(stderr)[:3].count("waiting_for_database") == 1
    assert sandbox.stats()["requests"] == 40


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_worker_notices_its_database_deleted_or_replaced(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], tmp_path: Path, how: str
) -> None:
    project, sandbox = sandbox_project()
    project.root = tmp_path / "live"
    project.root.mkdir()
    project.add_job("first", numbers(5))
    project.write()
    worker = project.start("worker", "--log-format", "json")
    until(lambda: (status_or_none(project) or {}).get("totals", {}).get("pending") == 0,
          "the first job done")  # fmt: skip

    if how == "deleted":
        for path in project.root.glob("runner.db*"):
            path.unlink()
    else:
        other = Project(tmp_path / "other", sandbox.url)
        other.root.mkdir()
        other.add_job("elsewhere", numbers(3, start=9_600_000_000))
        other.write()
        assert other.run("load").code == 0
        os.replace(other.database, project.database)
    _, stderr = worker.communicate(timeout=60)

    assert worker.returncode == 6, stderr
    assert "database_gone" in events(stderr)
    # The next run uses the file now there, and is handed over to nobody.
    project.jobs = []
    project.add_job("second", numbers(7, start=9_500_000_000))
    project.write()
    result = project.run("run")
    assert result.code == 0, result.stderr
    assert project.job_status("second")["deleted"] + project.job_status("second")["not_found"] == 7


def test_a_job_loaded_beside_a_worker_has_its_not_found_guard(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    """The guard's settings belong to the job: one adopted after the worker started is
    guarded as one loaded before (it once had no guard at all, and "succeeded")."""
    project, sandbox = sandbox_project("--present-ratio", "0.02")  # nearly nothing exists
    project.write()
    worker = project.start("worker", "--log-format", "json")
    try:
        until(lambda: status_or_none(project) is not None, "the worker opens its database")
        project.add_job("later", numbers(200), not_found_guard={"sample": 20, "max_ratio": 0.9})
        project.write()
        assert project.run("load").code == 0
        until(lambda: project.job_status("later")["state"] != "active", "the worker ends later")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 143, stderr
    job = project.job_status("later")
    assert (job["state"], job["blocked_reason"]) == ("blocked", "not_found_guard")
    assert sandbox.stats()["requests"] < 200  # stopped early, not sent to the end
