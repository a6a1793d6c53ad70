"""Every answer a real account can give, through the real CLI against the sandbox.

Each stop must leave the records pending, exit 3 and send at most 2 × workers
requests after the first answer that called for it.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import API_KEY, Project, Sandbox, log_events, numbers

WORKERS = 4
RECORDS = 60


def stop_case(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], *options: str
) -> tuple[Project, Sandbox, dict[str, object]]:
    project, sandbox = sandbox_project(*options)
    project.add_job("purge", numbers(RECORDS))
    # Attempts enough that no record fails before a streak of odd answers is complete.
    retry = {"max_attempts": 30, "backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.05}
    project.settings = {"workers": WORKERS, "retry": retry}
    project.write()
    result = project.run("run")
    assert result.code == 3, result.stderr
    (account,) = project.status()["accounts"]
    job = project.job_status("purge")
    assert job["pending"] == RECORDS  # nothing lost, nothing failed: the records wait
    assert job["failed"] == job["deleted"] == 0
    return project, sandbox, account


@pytest.mark.parametrize(
    ("answer", "reason", "words"),
    [
        ("invalid_action", "auth_setting", "API Authentication"),
        ("invalid_token", "auth_setting", "auth: token"),
        ("token_expired", "auth_setting", "auth: token"),
        ("token_missing", "auth_setting", "auth: token"),
        ("key_missing", "auth", "Api Key"),
        ("invalid_user", "auth", "Invalid User Details"),
        ("http_401", "auth", "HTTP 401"),
        ("http_403", "auth", "HTTP 403"),
    ],
)
def test_an_answer_that_stops_the_account(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], answer: str, reason: str, words: str
) -> None:
    _, sandbox, account = stop_case(sandbox_project, "--answer", answer)

    assert account["stopped"] is True
    assert account["reason"] == reason
    assert words in str(account["message"])
    assert sandbox.stats()["requests"] <= 2 * WORKERS


def test_a_stop_met_mid_run_sends_at_most_two_per_worker_after_it(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--answer", "invalid_action", "--answer-from", "21")
    project.add_job("purge", numbers(RECORDS))
    project.settings = {"workers": WORKERS}
    project.write()

    result = project.run("run")

    assert result.code == 3, result.stderr
    assert 20 < sandbox.stats()["requests"] <= 20 + 2 * WORKERS
    job = project.job_status("purge")
    assert job["deleted"] + job["not_found"] == 20
    assert job["pending"] == RECORDS - 20


def test_a_redirect_is_never_followed_and_names_the_location(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    elsewhere = sandbox_factory()
    project, sandbox, account = stop_case(
        sandbox_project, "--answer", "redirect", "--redirect-to", elsewhere.url
    )

    assert account["reason"] == "redirect"
    assert elsewhere.url in str(account["message"])
    assert "base_url" in str(account["message"])
    assert elsewhere.stats()["requests"] == 0  # neither the request nor the key went there
    assert sandbox.stats()["requests"] <= 2 * WORKERS
    # The operator fixes base_url as the message says: the same jobs now go there.
    project.account = {"base_url": elsewhere.url}
    project.write()
    fixed = project.run("run")
    assert fixed.code == 0, fixed.stderr
    assert elsewhere.stats()["requests"] == RECORDS
    assert project.status()["accounts"][0]["stopped"] is False


def test_twenty_records_in_a_row_with_the_same_odd_answer_stop_the_account(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    _, sandbox, account = stop_case(sandbox_project, "--answer", "unknown")

    assert account["reason"] == "unknown_answers"
    assert "Something the runner never heard of" in str(account["message"])
    assert sandbox.stats()["requests"] <= 20 + 2 * WORKERS


def test_one_record_with_an_odd_answer_fails_alone(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], tmp_path: Path
) -> None:
    phones = numbers(30)
    odd = tmp_path / "answers.json"
    odd.write_text(json.dumps({phones[3]: {"status": 200, "body": '{"message": "Huh?"}'}}))
    project, _ = sandbox_project("--answers", str(odd))
    project.add_job("purge", phones)
    project.write()

    result = project.run("run")

    assert result.code == 1, result.stderr
    job = project.job_status("purge")
    assert job["failed"] == 1
    assert job["deleted"] + job["not_found"] == 29
    assert project.status()["accounts"][0]["stopped"] is False
    rows = project.run("export", "--state", "failed", "--format", "jsonl").stdout.splitlines()
    (row,) = [json.loads(line) for line in rows]
    assert (row["phone"], row["reason"], row["last_message"]) == (
        phones[3],
        "unexpected_response",
        "Huh?",
    )


@pytest.mark.parametrize("encoding", ["double", "bom"])
def test_double_encoded_and_bom_answers_are_understood(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], encoding: str
) -> None:
    project, sandbox = sandbox_project("--body-encoding", encoding, "--present-ratio", "0.5")
    project.add_job("purge", numbers(40))
    project.write()

    result = project.run("run")

    assert result.code == 0, result.stderr
    job = project.job_status("purge")
    assert job["deleted"] == sandbox.stats()["deleted"] > 0
    assert job["deleted"] + job["not_found"] == 40
    assert sandbox.stats()["requests"] == 40  # not one answer was retried as "not JSON"


def test_a_double_encoded_invalid_campaign_blocks_the_job(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--body-encoding", "double", "--campaign", "Sales")
    project.add_job("wrong", numbers(20), campaign="Nope")
    project.write()

    result = project.run("run")

    assert result.code == 1, result.stderr
    job = project.job_status("wrong")
    assert (job["state"], job["blocked_reason"]) == ("blocked", "invalid_campaign")
    assert "Passed campaign are invalid" in job["blocked_message"]
    assert job["pending"] == 20
    assert sandbox.stats()["requests"] <= 2 * 4


def test_a_key_echoed_by_the_server_is_stored_and_logged_masked(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], tmp_path: Path
) -> None:
    project, sandbox = sandbox_project("--answer", "echo_key")
    project.add_job("purge", numbers(25))
    project.settings = {"retry": {"max_attempts": 2, "backoff_initial_seconds": 0.01,
                                  "backoff_max_seconds": 0.02}}  # fmt: skip
    project.write()

    result = project.run("run", "-v")
    audit = project.run("export", "--requests", "--format", "jsonl")

    assert result.code == 3, result.stderr  # 20 records in a row got the same odd answer
    assert sandbox.stats()["requests"] > 0
    assert API_KEY not in result.stderr + result.stdout
    assert API_KEY not in audit.stdout and "Invalid apiKey ***" in audit.stdout
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("gap", [0.0, 0.005])
def test_two_sigints_at_any_spacing_exit_130_with_the_summary(
    sandbox_project: Callable[..., tuple[Project, Sandbox]], gap: float
) -> None:
    project, sandbox = sandbox_project("--latency-ms", "200")
    project.add_job("purge", numbers(200))
    project.write()
    process = project.start("run")
    sandbox.wait_for(lambda stats: stats["requests"] >= 3)

    process.send_signal(signal.SIGINT)
    time.sleep(gap)  # the spacing under test, not a wait for a result
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "Aborted" not in stderr and "Traceback" not in stderr
    events = [event["event"] for event in log_events(stderr)]
    assert "run_finished" in events
    assert project.job_status("purge")["in_flight"] == 0


def test_a_success_with_a_count_settles_deleted_with_the_count_in_the_audit(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    # The older API's form (DeleteCampaignData.php): one number matched several leads.
    project, sandbox = sandbox_project("--deleted-count", "4")
    project.add_job("purge", numbers(5))
    project.write()

    result = project.run("run")

    assert result.code == 0, result.stderr
    job = project.job_status("purge")
    assert job["deleted"] == 5 and job["failed"] == job["pending"] == 0
    assert sandbox.stats()["requests"] == 5  # none retried as an unexpected answer
    rows = project.run("export", "--requests", "--format", "jsonl").stdout.splitlines()
    audit = [json.loads(row) for row in rows]
    assert [(row["outcome"], row["deleted_count"]) for row in audit] == [("deleted", 4)] * 5
    assert audit[0]["message"] == "4 Records Deleted Successfully"
