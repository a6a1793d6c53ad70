"""The real CLI against the real sandbox on loopback, with a real SQLite file."""

from __future__ import annotations

import csv
import fcntl
import json
import signal
import sqlite3
from collections.abc import Callable

from harness import Project, Sandbox, log_events, numbers

from runner.sandbox import number_present


def present(phones: list[str], campaign: str = "Sales", ratio: float = 0.5) -> set[str]:
    return {p for p in phones if number_present(campaign, p, ratio)}


def test_purge_deletes_exactly_the_present_numbers(project: Project, sandbox: Sandbox) -> None:
    phones = numbers(60)
    project.add_job("purge", phones)
    project.write()

    result = project.run("run")

    assert result.code == 0, result.stderr
    assert sandbox.deleted() == present(phones)
    job = project.job_status("purge")
    assert job["state"] == "done"
    assert job["deleted"] == len(present(phones))
    assert job["deleted"] + job["not_found"] == 60
    assert sandbox.stats()["requests"] == 60
    (account,) = project.status()["accounts"]
    assert (account["name"], account["stopped"], account["reason"]) == ("main", False, None)


def test_a_rerun_sends_nothing(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(20))
    project.write()
    assert project.run("run").code == 0
    sent = sandbox.stats()["requests"]

    again = project.run("run")

    assert again.code == 0, again.stderr
    assert sandbox.stats()["requests"] == sent


def test_limit_sends_at_most_n_and_the_rest_waits(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(30))
    project.write()

    result = project.run("run", "--limit", "7")

    assert result.code == 0, result.stderr
    assert sandbox.stats()["requests"] == 7
    assert project.job_status("purge")["pending"] == 23
    assert project.run("run").code == 0
    assert sandbox.stats()["requests"] == 30


def test_wrong_key_stops_the_account_and_keeps_records_pending(
    project: Project, sandbox: Sandbox
) -> None:
    project.add_job("purge", numbers(40))
    project.write()

    result = project.run("run", api_key="not-the-key")

    assert result.code == 3, result.stderr
    job = project.job_status("purge")
    assert job["pending"] == 40
    assert job["deleted"] == job["failed"] == 0
    # Stopped at once: at most the requests already started by the workers.
    assert sandbox.stats()["requests"] <= 4
    assert project.status()["accounts"][0]["reason"] == "auth"
    assert "not-the-key" not in result.stderr


def test_unknown_campaign_blocks_only_its_job(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, _sandbox = sandbox_project("--campaign", "Sales")
    project.add_job("good", numbers(10), campaign="Sales")
    project.add_job("bad", numbers(10, start=9_900_000_000), campaign="Nope")
    project.write()

    result = project.run("run")

    assert result.code == 1, result.stderr
    bad, good = project.job_status("bad"), project.job_status("good")
    assert bad["state"] == "blocked"
    assert bad["blocked_reason"].startswith("invalid_campaign")
    assert bad["pending"] == 10
    assert good["state"] == "done"
    assert good["deleted"] == 10
    blocked = [e for e in log_events(result.stderr) if e["event"] == "job_blocked"]
    assert blocked and blocked[0]["job"] == "bad"


def test_server_errors_are_retried_until_everything_is_done(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--error-rate", "0.4", "--seed", "3")
    phones = numbers(40)
    project.add_job("purge", phones)
    project.settings = {
        "retry": {"max_attempts": 30, "backoff_initial_seconds": 0.01, "backoff_max_seconds": 0.02}
    }
    project.write()

    result = project.run("run")

    assert result.code == 0, result.stderr
    stats = sandbox.stats()
    assert stats["errors"] > 0
    assert sandbox.deleted() == set(phones)
    assert project.job_status("purge")["deleted"] == 40


def test_429s_are_retried_without_using_attempts(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    # The server allows 10 per second; the runner is told it may send 40.
    project, sandbox = sandbox_project("--rate-limit", "10/s")
    project.add_job("purge", numbers(30))
    project.account = {"rate_limit": "40/s"}
    project.settings = {"retry": {"max_attempts": 1}}  # one 429 counted would fail a record
    project.write()

    result = project.run("run")

    assert result.code == 0, result.stderr
    assert sandbox.stats()["rate_limited"] > 0
    job = project.job_status("purge")
    assert job["deleted"] == 30 and job["failed"] == 0


def test_runner_paced_at_the_servers_limit_sees_no_429(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--rate-limit", "20/s")
    project.add_job("purge", numbers(70))
    project.account = {"rate_limit": "20/s"}
    project.write()

    # Stopped by --limit and restarted at once: the pace holds across the restart.
    assert project.run("run", "--limit", "30").code == 0
    result = project.run("run")

    assert result.code == 0, result.stderr
    stats = sandbox.stats()
    assert stats["rate_limited"] == 0
    assert stats["max_in_window_overall"] <= 20
    assert stats["requests"] == 70


def test_a_second_runner_exits_4_and_sends_nothing(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(10))
    project.write()
    # Load first so the lock file and database exist, then hold the lock as a runner would.
    assert project.run("load").code == 0
    with open(project.database.with_name("runner.db.lock"), "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)

        result = project.run("run")

    assert result.code == 4
    assert "another runner holds this database" in result.stderr
    assert sandbox.stats()["requests"] == 0


def test_a_second_runner_is_refused_while_one_runs(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project()
    # 40 s of work: the first is still sending when the SIGTERM comes, however slow the
    # machine (a process already past its exit is ended by the signal itself: -15).
    project.add_job("purge", numbers(400))
    project.account = {"rate_limit": "10/s"}
    project.write()
    first = project.start("run")
    sandbox.wait_for(lambda s: s["requests"] >= 2)

    second = project.run("run")

    assert second.code == 4
    assert project.status()["runner"]["active"] is True
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 143


def test_sigint_stops_gracefully_and_the_next_run_resumes(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--latency-ms", "50")
    phones = numbers(60)
    project.add_job("purge", phones)
    project.account = {"rate_limit": "20/s"}
    project.write()
    process = project.start("run")
    sandbox.wait_for(lambda s: s["requests"] >= 10)

    process.send_signal(signal.SIGINT)

    assert process.wait(timeout=30) == 130
    job = project.job_status("purge")
    assert job["in_flight"] == 0  # every started request was finished and recorded
    assert 0 < job["deleted"] < 60
    sent_before = sandbox.stats()["requests"]
    assert job["deleted"] + job["pending"] == 60

    assert project.run("run").code == 0
    assert sandbox.deleted() == set(phones)
    stats = sandbox.stats()
    assert stats["duplicate_deletes"] == 0  # nothing was sent twice
    assert stats["requests"] == 60 and sent_before < 60


def test_hangs_past_the_timeout_are_retried(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--hang-rate", "0.15", "--seed", "5")
    phones = numbers(30)
    project.add_job("purge", phones)
    project.account = {"timeout_seconds": 0.3}
    project.settings = {"workers": 8}
    project.write()

    result = project.run("run")

    assert result.code == 0, result.stderr
    assert sandbox.stats()["hangs"] > 0
    assert sandbox.deleted() == set(phones)


def test_the_api_key_is_never_written(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(20))
    project.write()
    result = project.run("run", "-v")
    assert result.code == 0
    for path in project.root.iterdir():
        if path.name.startswith("runner.db"):
            assert b"sandbox-key" not in path.read_bytes(), path
    assert "sandbox-key" not in result.stderr + result.stdout


def test_every_request_is_in_the_audit_trail(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(15))
    project.write()
    assert project.run("run").code == 0
    with sqlite3.connect(project.database) as db:
        rows = db.execute("SELECT outcome, http_status, finished_at FROM requests").fetchall()
    assert len(rows) == sandbox.stats()["requests"] == 15
    assert all(status == 200 and finished for _, status, finished in rows)
    assert {outcome for outcome, _, _ in rows} <= {"deleted", "not_found"}


def test_off_a_terminal_progress_is_logged_as_json_lines(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, _sandbox = sandbox_project()
    project.add_job("purge", numbers(30))
    project.account = {"rate_limit": "10/s"}
    project.write()

    result = project.run("run", "--summary-interval", "1")

    assert result.code == 0, result.stderr
    lines = [e for e in log_events(result.stderr) if e["event"] == "progress"]
    assert len(lines) >= 2
    first, last = lines[0]["jobs"][0], lines[-1]["jobs"][0]
    assert first["job"] == "purge" and first["total"] == 30
    assert 0 < first["done"] <= last["done"] <= 30
    assert last["rate_per_minute"] > 0
    finished = [e for e in log_events(result.stderr) if e["event"] == "run_finished"]
    assert finished[-1]["deleted"] + finished[-1]["not_found"] == 30


def test_logs_mask_numbers_unless_asked(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, _sandbox = sandbox_project("--error-rate", "0.5", "--seed", "1")
    phones = numbers(20)
    project.add_job("purge", phones)
    project.write()

    masked = project.run("run", "-v", "--limit", "10")
    shown = project.run("run", "-v", "--log-numbers")

    masked_events = [e for e in log_events(masked.stderr) if "phone" in e]
    shown_events = [e for e in log_events(shown.stderr) if "phone" in e]
    assert masked_events and shown_events
    assert not any(phone in masked.stderr for phone in phones)
    assert all("*" in e["phone"] for e in masked_events)
    assert all(e["phone"] in phones for e in shown_events)


def test_not_found_guard_blocks_a_job_of_unknown_numbers_until_retry(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--present-ratio", "0.02")  # nearly nothing exists
    project.add_job("wrong-format", numbers(200), not_found_guard={"sample": 20, "max_ratio": 0.9})
    project.write()

    blocked = project.run("run")

    assert blocked.code == 1, blocked.stderr
    job = project.job_status("wrong-format")
    assert job["state"] == "blocked"
    assert job["blocked_reason"] == "not_found_guard"  # a code; the words come apart
    assert "were No Record Found" in job["blocked_message"]
    assert sandbox.stats()["requests"] <= 20 + 4  # the sample, and what was in flight
    status = project.run("status")
    assert "phone_format" in status.stdout

    assert project.run("retry").code == 0  # the operator has looked: let it go on
    finished = project.run("run")
    assert finished.code == 0, finished.stderr
    assert project.job_status("wrong-format")["pending"] == 0


def test_a_changed_phone_format_is_refused_for_a_loaded_job(
    project: Project, sandbox: Sandbox
) -> None:
    project.add_job("purge", numbers(3))
    project.write()
    assert project.run("load").code == 0
    project.jobs[0].update({"phone_format": "e164", "default_region": "IN"})
    project.write()

    result = project.run("run")

    assert result.code == 2
    assert "phone format" in result.stderr and "another name" in result.stderr
    assert sandbox.stats()["requests"] == 0


def test_unfinished_jobs_missing_from_the_config_are_drained_too(
    project: Project, sandbox: Sandbox
) -> None:
    project.add_job("dnc-yesterday", numbers(10))
    project.write()
    assert project.run("load").code == 0
    project.jobs = []
    project.add_job("dnc-today", numbers(5, start=9_700_000_000))
    project.write()

    result = project.run("run")

    assert result.code == 0, result.stderr
    # The queue is shared: yesterday's job, loaded for the same account, is sent too.
    assert project.job_status("dnc-yesterday")["state"] == "done"
    assert project.job_status("dnc-today")["state"] == "done"
    assert sandbox.stats()["requests"] == 15


def test_a_job_whose_account_this_config_lacks_waits_with_a_reason(
    project: Project, sandbox: Sandbox
) -> None:
    project.add_job("other", numbers(10))
    project.write()
    assert project.run("load").code == 0
    config = project.config.read_text().replace("main:", "second:").replace("account: main", "")
    project.config.write_text(config)
    project.jobs = []
    project.add_job("mine", numbers(5, start=9_700_000_000))
    project.config.write_text(config.replace("input: other.txt", "input: mine.txt")
                              .replace("name: other", "name: mine"))  # fmt: skip

    result = project.run("run")

    assert result.code == 0, result.stderr
    (warning,) = [e for e in log_events(result.stderr) if e["event"] == "job_waiting"]
    assert warning["job"] == "other" and "'main' is not in the config" in warning["why"]
    assert project.job_status("other")["pending"] == 10
    with sqlite3.connect(project.database) as db:  # status shows it while a runner is active
        (waiting,) = db.execute("SELECT waiting FROM jobs WHERE name = 'other'").fetchone()
    assert "not in the config" in waiting


def test_export_answers_was_this_number_deleted_and_when(
    project: Project, sandbox: Sandbox
) -> None:
    phones = numbers(10)
    project.add_job("purge", phones)
    project.write()
    assert project.run("run").code == 0
    deleted = next(p for p in phones if p in sandbox.deleted())

    result = project.run("export", "--requests", "--phone", deleted, "--format", "jsonl")

    assert result.code == 0, result.stderr
    (request,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (request["phone"], request["outcome"], request["http_status"]) == (
        deleted, "deleted", 200)  # fmt: skip
    assert request["message"] == "Deleted Successfully" and request["finished_at"]

    records = project.run("export", "-o", "out.csv")
    assert records.code == 0
    rows = list(csv.DictReader((project.root / "out.csv").open()))
    assert {row["phone"] for row in rows} == set(phones)
    assert {row["state"] for row in rows} <= {"deleted", "not_found"}


def test_status_writes_prometheus_metrics(project: Project, sandbox: Sandbox) -> None:
    project.add_job("purge", numbers(8))
    project.write()
    assert project.run("run").code == 0

    result = project.run("status", "--prometheus", "runner.prom")

    assert result.code == 0, result.stderr
    text = (project.root / "runner.prom").read_text()
    job = project.job_status("purge")
    assert f'state="deleted"}} {job["deleted"]}' in text
    assert "runner_active 0" in text


def test_a_second_sigint_abandons_slow_requests_and_releases_them(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--latency-ms", "5000")
    project.add_job("purge", numbers(10))
    project.account = {"timeout_seconds": 30}
    project.write()
    process = project.start("run")
    sandbox.wait_for(lambda s: s["requests"] >= 4)  # every worker is waiting for an answer

    process.send_signal(signal.SIGINT)
    assert process.stderr is not None
    # Wait for the first signal to be taken: two sent at once would merge into one.
    while (line := process.stderr.readline()) and '"stopping"' not in line:
        pass
    assert '"stopping"' in line
    process.send_signal(signal.SIGINT)

    assert process.wait(timeout=60) == 130  # the timeout only guards against a hang
    answered = sandbox.stats()
    # It left before any of the 5 s answers existed: abandoned, not waited for.
    assert answered["deleted"] + answered["not_found"] + answered["invalid"] == 0
    job = project.job_status("purge")
    assert job["in_flight"] == 0 and job["pending"] == 10


def test_status_watch_follows_a_run_and_leaves_on_ctrl_c(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project()
    project.add_job("purge", numbers(20))
    project.write()
    assert project.run("load").code == 0
    watch = project.start("status", "--watch", "--interval", "0.2")
    assert project.run("run").code == 0
    sandbox.wait_for(lambda s: s["requests"] == 20)

    watch.send_signal(signal.SIGINT)
    out, err = watch.communicate(timeout=15)

    assert watch.returncode == 0, err
    assert "Traceback" not in err
    assert "20/20 100%" in out  # the last refresh shows the finished run
