"""TOKEN_AUTH accounts through the real CLI against the sandbox in token mode."""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.request
from collections.abc import Callable
from pathlib import Path

from harness import Project, Sandbox, log_events, numbers, wait_until

JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def token_project(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], *options: str, records: int = 60
) -> tuple[Project, Sandbox]:
    project, sandbox = sandbox_project("--auth", "token", *options)
    project.add_job("purge", numbers(records))
    project.account = {"auth": "token", "rate_limit": "20/s"}
    project.write()
    return project, sandbox


def attempts(database: Path) -> list[int]:
    with sqlite3.connect(database) as db:
        return [row[0] for row in db.execute("SELECT attempts FROM records")]


def assert_no_token_at_rest(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            assert not JWT.search(path.read_bytes()), f"a token in {path}"


def test_a_purge_outlives_several_short_lived_tokens(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = token_project(sandbox_project, "--token-ttl", "1.5", records=80)

    result = project.run("run")

    assert result.code == 0, result.stderr
    job = project.job_status("purge")
    assert job["deleted"] + job["not_found"] == 80 and job["failed"] == 0
    stats = sandbox.stats()
    assert 2 <= stats["token_generations"] <= 10
    assert stats["tokens_expired"] == 0  # renewed ahead of expiry
    assert set(attempts(project.database)) == {1}  # no record used more than one attempt
    assert_no_token_at_rest(project.root)
    assert not JWT.search(result.stderr.encode())
    print(
        f"token purge: tokens={stats['token_generations']} records=80 "
        f"requests={stats['requests']} invalid={stats['tokens_invalid']} max_attempts=1"
    )


def test_tokens_invalidated_by_another_process_are_recovered_from(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = token_project(sandbox_project, records=80)
    running = project.start("run")
    for done in (10, 30, 50):
        sandbox.wait_for(lambda stats, done=done: stats["requests"] >= done)
        request = urllib.request.Request(sandbox.url + "/_sandbox/invalidate-tokens", method="POST")
        urllib.request.urlopen(request, timeout=5).close()
    _, stderr = running.communicate(timeout=120)

    assert running.returncode == 0, stderr
    stats = sandbox.stats()
    assert stats["tokens_invalid"] >= 3
    assert stats["token_generations"] == 4
    assert set(attempts(project.database)) == {1}
    assert project.job_status("purge")["failed"] == 0


def test_the_generation_budget_holds_across_restarts(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = token_project(sandbox_project, records=40)
    for _ in range(10):
        assert project.run("run", "--limit", "1").code == 0
    assert sandbox.stats()["token_generations"] == 10

    eleventh = project.start("run", "--limit", "1")
    wait_until(
        lambda: (project.root / "runner.db").exists()
        and any(
            note.get("state") == "waiting" and note.get("until")
            for note in [a.get("sender") or {} for a in project.status()["accounts"]]
        ),
        project.status,
    )
    eleventh.terminate()
    _, stderr = eleventh.communicate(timeout=30)

    assert eleventh.returncode == 143, stderr
    (spent,) = [e for e in log_events(stderr) if e["event"] == "token_budget_spent"]
    assert spent["until"]
    stats = sandbox.stats()
    assert stats["token_generations"] == 10 and stats["token_refused"] == 0


def test_a_wrong_key_stops_the_account_before_any_delete(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = token_project(sandbox_project)

    result = project.run("run", api_key="not-the-key")

    assert result.code == 3, result.stderr
    stats = sandbox.stats()
    assert stats["deleted"] == stats["not_found"] == 0
    assert stats["token_generations"] == 0
    (account,) = project.status()["accounts"]
    assert account["reason"] == "auth" and "Invalid userName or apiKey" in account["message"]
    assert "not-the-key" not in result.stderr
    assert project.job_status("purge")["pending"] == 60


def test_a_basic_account_meeting_token_auth_is_told_what_to_set(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--auth", "token")
    project.add_job("purge", numbers(30))
    project.write()

    result = project.run("run")

    assert result.code == 3, result.stderr
    (account,) = project.status()["accounts"]
    assert account["reason"] == "auth_setting"
    assert "auth: token" in account["message"]
    assert sandbox.stats()["requests"] <= 8
    assert json.loads(project.run("status", "--json").stdout)["accounts"][0]["stopped"]


def test_a_server_requiring_the_key_beside_the_bearer_is_served_by_default(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    # The vendor's example request for the token variant sends apiKey and the bearer.
    project, sandbox = token_project(sandbox_project, "--token-headers", "both", records=20)

    result = project.run("run")

    assert result.code == 0, result.stderr
    assert project.job_status("purge")["deleted"] == 20
    stats = sandbox.stats()
    assert stats["token_with_key"] == 20 and stats["invalid"] == 0


def test_a_server_refusing_the_pair_needs_token_with_key_off(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = token_project(sandbox_project, "--token-headers", "bearer", records=20)

    refused = project.run("run")
    assert refused.code == 3, refused.stderr
    assert "token_with_key: false" in refused.stderr
    assert project.job_status("purge")["deleted"] == 0

    project.account = {"auth": "token", "rate_limit": "20/s", "token_with_key": False}
    project.write()
    result = project.run("run")

    assert result.code == 0, result.stderr
    assert project.job_status("purge")["deleted"] == 20
    assert sandbox.stats()["token_with_key"] == 1  # only the refused first request
