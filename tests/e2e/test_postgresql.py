"""Many hosts, one queue: the real CLI on a real PostgreSQL (tests/pg.py) and the sandbox.

Each "host" is a process with its own state folder (``XDG_STATE_HOME``), so the flock
account locks of a SQLite queue could not see each other: one sender per account
holds here only through the PostgreSQL advisory lock. The sandbox enforces the
account's limit and counts every request.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from typing import Any

import pg
import psycopg
import yaml
from harness import API_KEY, Project, Sandbox, cli_command, cli_env, numbers, wait_until

# The account's limit, enforced by the sandbox; the config asks for 80 % of it (as an
# operator would), so that a loaded test machine's scheduling jitter cannot make one
# sender's 429, while two senders at once (2 × 16/s) would exceed it at once.
LIMIT = "20/s"
RATE = "16/s"


def pg_project(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], url: str, *options: str
) -> tuple[Project, Sandbox]:
    project, sandbox = sandbox_project("--rate-limit", LIMIT, *options)
    project.account = {"rate_limit": RATE}
    project.settings = {"database": url}
    return project, sandbox


def run_as(project: Project, host: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(*args), cwd=project.root, env=host_env(project, host, **env),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def start_as(project: Project, host: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_command(*args), cwd=project.root, env=host_env(project, host),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def host_env(project: Project, host: str, **extra: str) -> dict[str, str]:
    """A process of its own OS-level identity: its own state folder."""
    state = project.root / f"state-{host}"
    state.mkdir(exist_ok=True)
    return cli_env(API_KEY, XDG_STATE_HOME=str(state), **extra)


def status(project: Project, *args: str) -> dict[str, Any]:
    done = run_as(project, "monitor", "status", "--json", *args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def counts(project: Project) -> dict[str, int]:
    (job,) = status(project)["jobs"]
    return {state: job[state] for state in ("pending", "in_flight", "deleted", "not_found")}


def stop(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


def test_a_password_in_the_url_is_refused_before_anything_happens(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = pg_project(
        sandbox_project, "postgresql://runner:hunter2@127.0.0.1:1/queue?sslmode=require"
    )
    project.add_job("purge", numbers(3))
    project.write()
    for args in (("load",), ("run",), ("status",)):
        done = run_as(project, "a", *args)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "hunter2" not in done.stderr + done.stdout
        assert "PGPASSWORD" in lines[0] and "~/.pgpass" in lines[0] and "jobs.yaml" in lines[0]
    done = run_as(project, "a", "export", "--db", "postgres://runner:hunter2@db/queue")
    assert done.returncode == 2 and "hunter2" not in done.stderr and "PGPASSWORD" in done.stderr
    assert sandbox.stats()["requests"] == 0


def test_a_load_from_one_process_is_drained_by_a_worker_and_read_by_a_select_only_role(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], pg_url: str
) -> None:
    project, sandbox = pg_project(sandbox_project, pg_url)
    wanted = numbers(60)
    project.add_job("purge", wanted)
    project.write()
    # The cron host's config names no database: its unit sets DATABASE_URL.
    data = yaml.safe_load(project.config.read_text())
    data["database_env"] = "DATABASE_URL"
    del data["database"]
    cron = project.root / "cron.yaml"
    cron.write_text(yaml.safe_dump(data, sort_keys=False))
    worker = start_as(project, "host-a", "worker")
    try:
        loaded = run_as(project, "cron-host", "load", str(cron), DATABASE_URL=pg_url)
        assert loaded.returncode == 0, loaded.stderr
        wait_until(lambda: counts(project).get("deleted", 0) == 60, lambda: counts(project))
    finally:
        stop(worker)
    assert sandbox.deleted() == set(wanted)
    assert sandbox.stats()["rate_limited"] == 0

    reader = pg.select_only_role(pg_url)
    report = status(project, "--db", reader)
    (account,) = report["accounts"]
    assert report["jobs"][0]["deleted"] == 60
    sender = account["sender"]
    assert sender["pid"] == worker.pid
    assert sender["database"].startswith(f"{socket.gethostname()}: postgresql://")
    exported = run_as(project, "monitor", "export", "--db", reader, "--state", "deleted")
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout.strip().splitlines()) == 61  # header + one row per number


def sender_pid(project: Project) -> int | None:
    (account,) = status(project)["accounts"]
    sender = account["sender"]
    return int(sender["pid"]) if sender and sender["current"] else None


class Lines:
    """The stderr lines of a process as they come (a thread reads them)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stderr is not None
        self._thread = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    def events(self) -> list[str]:
        return [json.loads(line).get("event", "") for line in self.lines if line.startswith("{")]


def test_two_workers_on_one_account_one_sends_then_the_other_takes_over_a_kill_9(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], pg_url: str
) -> None:
    project, sandbox = pg_project(sandbox_project, pg_url)
    wanted = numbers(300)
    project.add_job("purge", wanted)
    project.write()
    assert run_as(project, "cron-host", "load").returncode == 0
    first = start_as(project, "host-a", "worker")
    second: subprocess.Popen[str] | None = None
    try:
        sandbox.wait_for(lambda stats: stats["requests"] >= 20)
        wait_until(lambda: sender_pid(project) == first.pid, "the first worker never noted")
        second = start_as(project, "host-b", "worker")
        said = Lines(second)
        wait_until(lambda: "account_locked" in said.events(), lambda: said.lines)
        assert sender_pid(project) == first.pid  # the second waits
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        wait_until(lambda: sender_pid(project) == second.pid, "no takeover")  # type: ignore[union-attr]
        wait_until(lambda: counts(project)["deleted"] + counts(project)["not_found"] == 300,
                   lambda: counts(project))  # fmt: skip
    finally:
        stop(first, *([second] if second else []))
    stats = sandbox.stats()
    assert stats["rate_limited"] == 0
    assert stats["max_in_window_overall"] <= 20
    assert sandbox.deleted() == set(wanted)
    # Every number deleted once: a number the killed worker had in flight is resent by
    # the second and answers "No Record Found" (reported not_found, after_interrupted).
    assert stats["deleted"] == 300
    assert stats["duplicate_deletes"] == 0


def test_a_worker_that_loses_its_lock_connection_stops_sending_at_once(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], pg_url: str
) -> None:
    project, sandbox = pg_project(sandbox_project, pg_url)
    project.add_job("purge", numbers(300))
    project.write()
    worker = start_as(project, "host-a", "worker")
    try:
        sandbox.wait_for(lambda stats: stats["requests"] >= 10)
        pg.admin(pg_url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE application_name = 'runner account locks'")  # fmt: skip
        assert worker.wait(timeout=60) == 4
    finally:
        stop(worker)
    assert worker.stderr is not None
    said = worker.stderr.read()
    assert "stopped sending at once" in said and "Traceback" not in said
    sent = sandbox.stats()["requests"]
    left = counts(project)
    assert left["pending"] + left["in_flight"] > 0 and sent < 300


def test_two_workers_with_max_accounts_one_share_two_accounts(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], pg_url: str
) -> None:
    """Two accounts (two identities: the same sandbox as 127.0.0.1 and as localhost), two
    workers each allowed one: each sends for one, and every job is done."""
    project, sandbox = pg_project(sandbox_project, pg_url)
    project.add_job("first", numbers(40), account="main")
    project.add_job("second", numbers(40, start=9_700_000_000), account="other")
    project.settings |= {"max_accounts": 1}
    config = project.write()
    data = yaml.safe_load(config.read_text())
    main = data["accounts"]["main"] | {"rate_limit": "8/s"}
    other = main | {"base_url": main["base_url"].replace("127.0.0.1", "localhost")}
    data["accounts"] = {"main": main, "other": other}
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    workers = [start_as(project, f"host-{name}", "worker") for name in "ab"]
    try:
        wait_until(lambda: all(job["deleted"] == 40 for job in status(project)["jobs"]),
                   lambda: status(project)["jobs"])  # fmt: skip
        senders = {a["name"]: a["sender"]["pid"] for a in status(project)["accounts"]}
    finally:
        stop(*workers)
    assert sorted(senders.values()) == sorted(worker.pid for worker in workers)
    assert sandbox.stats()["rate_limited"] == 0


def test_token_generations_are_counted_across_the_two_workers(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], pg_url: str
) -> None:
    """A token account taken over after a kill -9: the second worker's generations add to
    the first's in the shared table, which counts every one the server made."""
    project, sandbox = pg_project(sandbox_project, pg_url, "--auth", "token", "--token-ttl", "1.5")
    project.account = {"rate_limit": RATE, "auth": "token"}
    project.add_job("purge", numbers(120))
    project.write()
    first = start_as(project, "host-a", "worker")
    second: subprocess.Popen[str] | None = None
    try:
        sandbox.wait_for(lambda stats: stats["token_generations"] >= 1 and stats["deleted"] >= 20)
        second = start_as(project, "host-b", "worker")
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
        wait_until(lambda: counts(project)["deleted"] + counts(project)["not_found"] == 120,
                   lambda: counts(project))  # fmt: skip
    finally:
        stop(first, *([second] if second else []))
    with psycopg.connect(pg_url) as conn:
        recorded = conn.execute("SELECT COUNT(*) FROM token_generations").fetchone()
    made = sandbox.stats()["token_generations"]
    assert recorded is not None and recorded[0] == made >= 2
    assert sandbox.stats()["rate_limited"] == 0


def test_a_run_clears_the_stop_of_the_account_it_takes_and_no_other(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], pg_url: str
) -> None:
    """On a shared queue another host's stopped account stays stopped (and shown so)
    when a process starts; the account this process takes is its own to clear."""
    project, sandbox = pg_project(sandbox_project, pg_url)
    project.add_job("purge", numbers(5))
    project.write()
    assert run_as(project, "cron-host", "load").returncode == 0
    with psycopg.connect(pg_url) as conn:
        for account in ("main", "elsewhere"):
            conn.execute(
                "INSERT INTO account_stops (account, reason, message, stopped_at) "
                "VALUES (%s, 'auth', 'Invalid User Details', 1)",
                (account,),
            )
    done = run_as(project, "host-a", "run")
    assert done.returncode == 0, done.stderr
    with psycopg.connect(pg_url) as conn:
        stopped = {row[0] for row in conn.execute("SELECT account FROM account_stops")}
    assert stopped == {"elsewhere"}
    assert len(sandbox.deleted()) == 5
