"""What the operator is told is true (sender state, the jobs a worker drains), via the CLI."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from harness import Project, Sandbox, log_events, numbers

RATE = "10/s"


def nightly(project: Project, name: str, count: int, start: int) -> Path:
    """A cron-style `dnc-{date}` jobs file on the same database and account."""
    data = yaml.safe_load(project.config.read_text())
    path = project.root / f"{name}.txt"
    path.write_text("".join(f"{n}\n" for n in numbers(count, start)))
    data["jobs"] = [{"name": name, "campaign": "Sales", "input": path.name}]
    config = project.root / f"{name}.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    return config


def until(condition: Callable[[], bool], what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def sender_state(project: Project) -> str | None:
    (account,) = project.status()["accounts"]
    return None if account["sender"] is None else account["sender"]["state"]


def test_an_evening_with_two_nightly_loads_beside_a_worker(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--rate-limit", "20/s")
    project.add_job("purge", numbers(150))
    project.account = {"rate_limit": RATE}
    project.write()
    worker = project.start("worker")
    sandbox.wait_for(lambda stats: stats["requests"] >= 10)
    # 10 requests a second take milliseconds each: the account is sending all the same.
    states = [sender_state(project) for _ in range(5)]
    assert states == ["sending"] * 5, states
    assert project.status()["runner"]["busy"] is True

    for name, start in (("dnc-2026-12-03", 9_700_000_000), ("dnc-2026-12-04", 9_600_000_000)):
        assert project.run("load", str(nightly(project, name, 20, start))).code == 0
    until(lambda: all(j["state"] == "done" for j in project.status()["jobs"]), "all done")
    until(lambda: sender_state(project) == "idle", "idle once drained")
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)

    assert worker.returncode == 143, stderr
    events = log_events(stderr)
    print("evening:", *(line for line in stderr.splitlines() if '"progress"' not in line),
          sep="\n")  # fmt: skip
    for name in ("purge", "dnc-2026-12-03", "dnc-2026-12-04"):
        started = [e for e in events if e["event"] == "job_started" and e["job"] == name]
        done = [e for e in events if e["event"] == "job_finished" and e["job"] == name]
        assert len(started) == len(done) == 1, (name, started, done)
        assert done[0]["exit_code"] == 0
        assert done[0]["deleted"] + done[0]["not_found"] == (150 if name == "purge" else 20)
    states = [e["state"] for e in events if e["event"] == "account_state"]
    assert "sending" in states and states[-1] == "idle"
    assert sandbox.stats()["rate_limited"] == 0
