"""What the operator is told is true (sender state, the jobs a worker drains), via the CLI."""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
from collections.abc import Callable

from harness import Project, Sandbox, cli_command, cli_env, log_events, numbers, wait_until
from test_sharing import second_config

from runner.testing import retry_config

RATE = "10/s"


def until(condition: Callable[[], bool], what: str) -> None:
    """Poll until the condition holds; the guard only turns a hang into a failure."""
    wait_until(condition, what, guard=60)


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
        loaded = project.run("load", str(second_config(project, name, 20, start)))
        assert loaded.code == 0, loaded.stderr
        # Off a terminal (cron's load.log) JSON lines like every command, not a box table.
        assert loaded.stdout == ""
        (said,) = [e for e in log_events(loaded.stderr) if e["event"] == "loaded"]
        assert (said["job"], said["new"]) == (name, 20)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", said["timestamp"])
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


# ---------------------------------------------------------------- ways out of a mistake


def test_a_mistyped_campaign_is_fixed_by_loading_the_job_again(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, _sandbox = sandbox_project("--campaign", "Sales")
    project.add_job("dnc", numbers(5), campaign="Sals")
    project.write()
    first = project.run("run")
    assert first.code == 1, first.stderr
    job = project.job_status("dnc")
    assert (job["state"], job["blocked_reason"], job["eta"]) == ("blocked", "invalid_campaign",
                                                                 "blocked")  # fmt: skip
    assert job["eta_seconds"] is None
    assert project.run("status", "--check").code == 3

    project.jobs[0]["campaign"] = "Sales"
    project.write()
    fixed = project.run("run")
    assert fixed.code == 0, fixed.stderr
    assert "campaign_corrected" in fixed.stderr
    job = project.job_status("dnc")
    assert (job["state"], job["campaign"], job["deleted"]) == ("done", "Sales", 5)
    audit = project.run("export", "--requests", "--format", "jsonl")
    campaigns = [json.loads(line)["campaign"] for line in audit.stdout.splitlines()]
    assert campaigns[0] == "Sals" and campaigns[-5:] == ["Sales"] * 5
    assert project.run("status", "--check").code == 0


def test_a_job_cancelled_is_never_sent_and_comes_back(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project()
    project.add_job("keep", numbers(3))
    project.add_job("oops", numbers(4, 9_700_000_000))
    project.write()
    assert project.run("load").code == 0
    assert project.run("status", "--check").code == 5  # pending, nobody sends
    cancelled = project.run("cancel", "--job", "oops")
    assert cancelled.code == 0 and "4 pending records" in cancelled.stdout, cancelled
    assert project.run("cancel").code == 2  # neither --job nor --all-pending
    assert project.run("cancel", "--job", "nope").code == 2
    assert project.run("run").code == 0
    assert sandbox.stats()["requests"] == 3
    oops = project.job_status("oops")
    assert (oops["state"], oops["cancelled"], oops["pending"]) == ("done", 4, 0)
    assert project.status()["totals"]["cancelled"] == 4

    back = project.run("retry", "--job", "oops", "--cancelled")
    assert back.code == 0 and "4 cancelled records" in back.stdout
    assert project.run("run").code == 0
    assert sandbox.stats()["requests"] == 7
    assert project.job_status("oops")["deleted"] == 4


def metric_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_total(text: str) -> float:
    values = metric_values(text)
    return sum(v for (name, _), v in values.items() if name == "runner_requests_total")


def test_prune_archives_final_jobs_and_the_counters_keep_counting(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, _sandbox = sandbox_project()
    project.add_job("dnc-2026-12-03", numbers(3))
    project.write()
    assert project.run("run").code == 0
    first = project.run("status", "--prometheus", "-").stdout
    assert requests_total(first) == 3

    project.jobs = []
    project.add_job("dnc-2026-12-04", numbers(2, 9_700_000_000))
    project.write()
    assert project.run("run").code == 0  # a second process: counted from the database
    assert requests_total(project.run("status", "--prometheus", "-").stdout) == 5

    archive = project.root / "old.jsonl.gz"
    pruned = project.run("prune", "--finished-before", "0s", "--archive", str(archive))
    assert pruned.code == 0 and "pruned 2 jobs" in pruned.stdout, pruned
    assert project.status()["jobs"] == []
    after = project.run("status", "--prometheus", "-").stdout
    assert "dnc-2026-12-03" not in after
    assert requests_total(after) == 5  # a counter never goes down
    back = project.run("export", "--archive", str(archive), "--job", "dnc-2026-12-03")
    rows = list(csv.DictReader(io.StringIO(back.stdout)))
    assert [(row["job"], row["state"]) for row in rows] == [("dnc-2026-12-03", "deleted")] * 3
    requests = project.run("export", "--archive", str(archive), "--requests").stdout
    assert len(list(csv.DictReader(io.StringIO(requests)))) == 5
    assert project.run("prune", "--finished-before", "soon").code == 2


def test_prune_never_removes_unfinished_work(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, _sandbox = sandbox_project()
    project.add_job("later", numbers(3))
    project.write()
    assert project.run("load").code == 0
    pruned = project.run("prune", "--finished-before", "0s")
    assert pruned.code == 0 and "pruned 0 jobs" in pruned.stdout
    assert project.job_status("later")["pending"] == 3


def test_no_eta_during_a_backoff_nor_after_ctrl_c(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project("--error-rate", "1.0")
    project.add_job("dnc", numbers(3))
    project.settings = {"retry": retry_config(120, 300)}
    project.write()
    worker = project.start("worker")
    sandbox.wait_for(lambda stats: stats["requests"] >= 3)  # each record waits 120 s now
    until(lambda: sender_state(project) == "waiting", "waiting out the back-off")
    status = project.status()
    (account,) = status["accounts"]
    job = status["jobs"][0]
    assert account["sender"]["until"] is not None
    assert (job["eta_seconds"], job["eta"]) == (None, "waiting")
    assert job["eta_until"] is not None
    assert project.run("status", "--check").code == 0  # a sender has it in hand
    worker.send_signal(signal.SIGINT)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 130, stderr

    job = project.job_status("dnc")
    assert (job["eta_seconds"], job["eta"]) == (None, "no sender")
    assert project.run("status", "--check").code == 5
    table = project.run("status").stdout
    assert "no sender" in table and "ETA" in table


def test_the_status_table_fits_80_columns_when_piped(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, _sandbox = sandbox_project()
    project.add_job("dnc-2026-12-04-a-long-nightly-name", numbers(3))
    project.add_job("oops", numbers(2, 9_700_000_000))
    project.write()
    assert project.run("load").code == 0
    assert project.run("cancel", "--job", "oops").code == 0
    narrow = cli_env(COLUMNS="80")
    done = subprocess.run(cli_command("status"), cwd=project.root, env=narrow,
                          capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    shown = done.stdout
    lines = shown.splitlines()
    assert max(map(len, lines)) <= 80, shown
    assert all(line == line.rstrip() for line in lines), shown
    assert "dnc-2026-12-04-a-long-nightly-name" in shown and " active " in shown
    wide = project.run("status").stdout  # piped without COLUMNS: the whole table
    assert "cancelled" in wide and "cancelled 2" in wide


def test_an_export_reconciles_with_the_input_line_by_line(
    sandbox_project: Callable[..., tuple[Project, Sandbox]],
) -> None:
    project, sandbox = sandbox_project()
    path = project.root / "dnc.csv"
    path.write_text(
        "phoneNumber,name\n98765-43210,Asha\n9876543211,Bo\n(98765) 43210,Asha again\n9.18E+11,X\n",
        encoding="utf-8",
    )
    project.jobs.append({"name": "dnc", "campaign": "Sales", "input": "dnc.csv",
                         "phone_column": "phoneNumber", "name_column": "name"})  # fmt: skip
    project.write()
    assert project.run("run").code == 0
    assert sandbox.stats()["requests"] == 2  # the duplicate line is never sent

    exported = project.run("export", "--format", "jsonl")
    rows = {row["line"]: row for row in map(json.loads, exported.stdout.splitlines())}
    assert sorted(rows) == [2, 3, 4, 5]  # every input line (after the header line)
    assert (rows[2]["cell"], rows[2]["phone"], rows[2]["name"]) == ("98765-43210", "9876543210",
                                                                    "Asha")  # fmt: skip
    assert (rows[4]["state"], rows[4]["cell"], rows[4]["name"]) == ("duplicate", "(98765) 43210",
                                                                    "Asha again")  # fmt: skip
    assert (rows[4]["duplicate_of_file"], rows[4]["duplicate_of_line"]) == (str(path), 2)
    assert (rows[5]["state"], rows[5]["cell"]) == ("invalid", "9.18E+11")
    assert re.fullmatch(r"\S+T\S+\.\d{3}\+00:00", rows[2]["finished_at"])
    plain = project.run("export", "--no-duplicates", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["line"] for line in plain] == [2, 3, 5]
    only = project.run("export", "--state", "duplicate", "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line)["line"] for line in only] == [4]
