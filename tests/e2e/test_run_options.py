"""`runner run` options against the real sandbox: --dry-run sends nothing and writes no
database; --workers N on the command line decides how many requests are out at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from harness import Project, Sandbox, numbers


def test_dry_run_sends_nothing_writes_no_database_and_says_what_it_would_send(
    project: Project, sandbox: Sandbox
) -> None:
    project.add_job("dnc", [*numbers(5), "9800000000", "abc"])  # a duplicate, an invalid row
    project.write()
    before = sorted(path.name for path in project.root.iterdir())
    result = project.run("run", "--dry-run")
    assert result.code == 0, result.stderr
    said = " ".join(result.stdout.split())  # rich wraps long lines off a terminal
    assert "│ dnc │ 5 │ 1 │ 1 │" in said
    assert (
        f"would send 5 requests for job 'dnc': DELETE {sandbox.url}/ca_apis/deleteCampaignData, "
        "campaign 'Sales', account 'main' at 50/s"
    ) in said
    assert "e.g. line 1: 9800000000" in said
    assert "dry run: nothing was sent and no database was written" in said
    stats = sandbox.stats()
    assert (stats["requests"], stats["token_generations"]) == (0, 0)
    assert sorted(path.name for path in project.root.iterdir()) == before
    assert not project.database.exists()


@pytest.mark.parametrize("workers", [1, 3])
def test_workers_on_the_command_line_decide_how_many_requests_are_out_at_once(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], workers: int
) -> None:
    """The config says 4; `--workers N` wins. Each answer takes 300 ms and the account
    allows one start every 20 ms, so N workers have N requests out at once, never more."""
    project, sandbox = sandbox_project("--latency-ms", "300")
    project.add_job("dnc", numbers(12))
    project.write()
    result = project.run("run", "--workers", str(workers))
    assert result.code == 0, result.stderr
    stats = sandbox.stats()
    assert stats["requests"] == 12
    assert stats["max_concurrent"] == workers
