"""One job, many campaigns: a number that asked not to be called leaves every campaign."""

from __future__ import annotations

import json
from collections.abc import Callable

from harness import Project, Sandbox, numbers

VALID = ("Outbound_A", "Outbound_B")
INVALID = "Retired_C"


def test_three_campaigns_one_invalid_deletes_from_the_two_and_blocks_the_third(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--campaign", VALID[0], "--campaign", VALID[1])
    phones = numbers(6)
    project.add_job("dnc", [*phones, phones[0]], campaign=[VALID[0], INVALID, VALID[1]])
    project.write()

    result = project.run("run")

    assert result.code == 1, result.stderr  # finished, with a blocked campaign
    deleted = sandbox.get("/_sandbox/deleted")
    assert {campaign: sorted(got) for campaign, got in deleted.items()} == {
        VALID[0]: sorted(phones), VALID[1]: sorted(phones)
    }
    job = project.job_status("dnc")
    assert (job["total"], job["deleted"], job["pending"]) == (18, 12, 6)  # 6 numbers × 3
    assert job["campaigns"] == [VALID[0], INVALID, VALID[1]]
    counts = job["campaign_counts"]
    per_campaign = {name: (n["deleted"], n["pending"]) for name, n in counts.items()}
    assert per_campaign == {VALID[0]: (6, 0), INVALID: (0, 6), VALID[1]: (6, 0)}
    (blocked,) = job["blocked_campaigns"]
    assert (blocked["campaign"], blocked["blocked_reason"]) == (INVALID, "invalid_campaign")
    # The invalid campaign's records stop after its first answer: at most 2 × workers
    # more were in hand or in flight (the bound the other stops keep, test_answers.py).
    assert 1 <= sandbox.stats()["invalid"] <= 8
    status = project.run("status")
    assert f"campaign '{INVALID}'" in status.stdout and "--campaign" in status.stdout

    rows = project.run("export", "--campaign", INVALID, "--format", "jsonl").stdout.splitlines()
    assert sorted(json.loads(row)["phone"] for row in rows) == sorted(phones)
    assert {json.loads(row)["state"] for row in rows} == {"pending"}

    again = project.run("retry", "--campaign", INVALID)
    assert again.code == 0, again.stderr
    assert project.job_status("dnc")["blocked_campaigns"] == []


def test_a_list_of_one_campaign_is_that_campaign(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, _ = sandbox_project()
    project.add_job("dnc", numbers(3), campaign=["Sales"])
    project.write()
    assert project.run("run").code == 0
    job = project.job_status("dnc")
    assert (job["campaign"], job["campaigns"], job["deleted"]) == ("Sales", ["Sales"], 3)
