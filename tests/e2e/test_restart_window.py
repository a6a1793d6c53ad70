"""The rate across a restart, against a window much longer than a process's start-up.

With windows of 1-2 s (the other e2e tests), a new process takes about that long to
start, and the window has cleared before it sends, so nothing shows whether the
restarted runner reads the recent starts back from the database. Here the sandbox
enforces 10 in any 20 s: a first run sends 10 in about 4 s (its config allows 10/4s,
which the sandbox's 20 s window still admits), and a second run at 10/20s must wait
until the first of those has aged out of the window. A runner that forgot them would
send at once and be refused (HTTP 429).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import Project, Sandbox, numbers

pytestmark = pytest.mark.slow


def test_a_restart_counts_the_previous_runs_starts_against_a_20_s_window(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--rate-limit", "10/20s")
    project.add_job("purge", numbers(12))
    project.account = {"rate_limit": "10/4s"}
    project.write()
    first = project.run("run", "--limit", "10")
    assert first.code == 0, first.stderr
    assert sandbox.stats()["requests"] == 10

    project.account = {"rate_limit": "10/20s"}
    project.write()
    second = project.run("run", "--limit", "2")

    assert second.code == 0, second.stderr
    stats = sandbox.stats()
    assert stats["requests"] == 12
    assert stats["rate_limited"] == 0
    assert stats["max_in_window_overall"] <= 10
    assert project.job_status("purge")["deleted"] == 12
