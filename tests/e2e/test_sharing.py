"""One queue, one sender per account: loads, hand-overs and a worker, through the real CLI.

Every scenario runs against a sandbox that enforces the runner's own limit, and
checks that the sandbox never saw more than the limit in any window, nor a 429.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import yaml
from harness import Project, Sandbox, log_events, numbers, wait_until

RATE = "20/s"


def shared(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], records: int = 120
) -> tuple[Project, Sandbox]:
    project, sandbox = sandbox_project("--rate-limit", RATE)
    project.add_job("purge", numbers(records))
    project.account = {"rate_limit": RATE}
    project.write()
    return project, sandbox


def sending(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], records: int = 120
) -> tuple[Project, Sandbox, subprocess.Popen[str]]:
    """A purge being sent by a `runner run` (it has sent a few requests already)."""
    project, sandbox = shared(sandbox_project, records)
    running = project.start("run")
    sandbox.wait_for(lambda stats: stats["requests"] >= 5)
    return project, sandbox, running


def second_config(project: Project, name: str, count: int, start: int = 9_700_000_000) -> Path:
    """Another jobs file in the same folder, on the same database and account."""
    data = yaml.safe_load(project.config.read_text())
    path = project.root / f"{name}.txt"
    path.write_text("".join(f"{n}\n" for n in numbers(count, start)))
    data["jobs"] = [{"name": name, "campaign": "Sales", "input": path.name}]
    config = project.root / f"{name}.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def assert_rate_held(sandbox: Sandbox) -> dict[str, int]:
    stats = sandbox.stats()
    assert stats["rate_limited"] == 0
    assert stats["max_in_window_overall"] <= 20
    return {"max_in_window": stats["max_in_window_overall"], "429s": stats["rate_limited"]}


def test_a_load_while_a_run_drains_is_adopted_and_sent(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox, running = sending(sandbox_project, records=200)  # 10 s of sending

    loaded = project.run("load", str(second_config(project, "nightly", 40)))
    # Ordering, not a stopwatch: the load ended while the run was still sending, so it
    # did not wait for the run (nor for its lock).
    still_sending = running.poll() is None
    sent_meanwhile = sandbox.stats()["requests"]
    _, stderr = running.communicate(timeout=120)

    assert loaded.code == 0, loaded.stderr
    assert still_sending and sent_meanwhile < 200, sent_meanwhile
    assert running.returncode == 0, stderr
    assert project.job_status("nightly")["state"] == "done"
    assert project.job_status("purge")["state"] == "done"
    assert sandbox.stats()["requests"] == 240
    print("load while draining:", assert_rate_held(sandbox))


def test_a_second_run_hands_its_jobs_over_and_exits_4(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox, running = sending(sandbox_project, records=240)  # 12 s of sending

    second = project.run("run", str(second_config(project, "nightly", 30)))
    # It exited while the holder was still sending its own purge: it handed over and
    # left, it did not wait for the holder to finish.
    holder_busy = running.poll() is None and sandbox.stats()["requests"] < 240
    _, stderr = running.communicate(timeout=120)

    assert second.code == 4, second.stderr
    assert holder_busy
    assert f"pid {running.pid}" in second.stderr and "handed over" in second.stderr
    assert "run_finished" not in second.stderr  # it sent nothing of its own
    assert running.returncode == 0, stderr
    assert project.job_status("nightly")["deleted"] + project.job_status("nightly")[
        "not_found"
    ] == 30
    stats = sandbox.stats()
    assert stats["requests"] == 270, stats  # each number once: no 429, nothing sent twice
    print("hand-over:", assert_rate_held(sandbox))


def test_run_wait_waits_for_its_jobs_and_exits_with_their_code(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox, running = sending(sandbox_project, records=60)

    waited = project.run("run", "--wait", str(second_config(project, "nightly", 20)))

    assert waited.code == 0, waited.stderr
    assert project.job_status("nightly")["state"] == "done"
    assert running.wait(timeout=60) == 0
    print("run --wait:", assert_rate_held(sandbox))


def test_a_worker_drains_waits_adopts_and_stops_on_sigterm(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = shared(sandbox_project, records=30)
    worker = project.start("worker")
    sandbox.wait_for(lambda stats: stats["requests"] >= 30)
    # Idle once its work is done.
    wait_until(lambda: project.status()["runner"].get("busy") is False, project.status)
    runner = project.status()["runner"]
    assert runner["active"] is True and runner["mode"] == "worker"

    assert project.run("load", str(second_config(project, "later", 25))).code == 0
    sandbox.wait_for(lambda stats: stats["requests"] >= 55)
    wait_until(lambda: project.job_status("later")["state"] == "done", project.status)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)

    assert worker.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert project.status()["runner"]["active"] is False
    print("worker:", assert_rate_held(sandbox))


def test_a_second_database_on_the_same_account_is_refused(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], tmp_path: Path
) -> None:
    project, sandbox, running = sending(sandbox_project)
    other_root = tmp_path / "elsewhere"
    other_root.mkdir()
    other = Project(other_root, sandbox.url, account={"rate_limit": RATE})
    other.add_job("other", numbers(10, start=9_600_000_000))
    other.write()
    before = sandbox.stats()["requests"]

    refused = other.run("run")

    assert refused.code == 4, refused.stderr
    assert f"process {running.pid}" in refused.stderr
    assert str(project.database) in refused.stderr
    assert running.wait(timeout=120) == 0
    stats = sandbox.stats()
    assert stats["requests"] == 120  # the second database sent nothing
    assert before <= stats["requests"]
    assert other.job_status("other")["pending"] == 10
    sender = other.status()["accounts"][0]["sender"]  # its status says who sends instead
    assert sender["state"] == "locked_elsewhere" and f"process {running.pid}" in sender["note"]
    print("second database:", assert_rate_held(sandbox))
    assert [e for e in log_events(refused.stderr) if e.get("event") == "run_finished"] == []


def test_run_wait_reports_an_account_the_holder_had_to_stop(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project(
        "--rate-limit", RATE, "--answer", "invalid_action", "--answer-from", "40"
    )
    project.add_job("purge", numbers(120))
    project.account = {"rate_limit": RATE}
    project.write()
    running = project.start("run")
    sandbox.wait_for(lambda stats: stats["requests"] >= 5)

    waited = project.run("run", "--wait", str(second_config(project, "nightly", 20)))

    assert running.wait(timeout=60) == 3
    assert waited.code == 3, waited.stderr  # its jobs cannot be sent: the account is stopped
    nightly = project.job_status("nightly")
    assert nightly["pending"] > 0 and nightly["failed"] == 0
    assert project.status()["accounts"][0]["reason"] == "auth_setting"
    assert_rate_held(sandbox)
