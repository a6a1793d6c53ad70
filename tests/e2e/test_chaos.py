"""Crash chaos: SIGKILL the runner at random moments against a faulty sandbox, then finish.

docs/contract.md §5: after any crash the next run finishes the work; nothing is lost or
counted twice; only the records in flight at a crash are sent twice; and the
rate holds across every restart (zero 429s from a sandbox enforcing the same
limit).
"""

from __future__ import annotations

import random
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from harness import Project, Sandbox, numbers

from runner.sandbox import number_present

RECORDS = 2000
KILLS = 20
RATE = "200/2s"  # the runner and the sandbox enforce the same limit
RATIO = 0.6


def in_flight(database: Path) -> int:
    with sqlite3.connect(database) as db:
        return int(
            db.execute("SELECT COUNT(*) FROM records WHERE state = 'in_flight'").fetchone()[0]
        )


@pytest.mark.slow
def test_kill_minus_nine_twenty_times_loses_nothing(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = sandbox_factory(
        "--rate-limit",
        RATE,
        "--error-rate",
        "0.3",
        "--hang-rate",
        "0.01",
        "--present-ratio",
        str(RATIO),
        "--seed",
        "11",
    )
    project = Project(tmp_path, sandbox.url)
    phones = numbers(RECORDS)
    project.add_job("chaos", phones)
    project.account = {"rate_limit": RATE, "timeout_seconds": 0.5}
    project.settings = {
        "workers": 8,
        "retry": {"max_attempts": 100, "backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.5},
    }
    project.write()
    rng = random.Random(2026)

    in_flight_at_kills = []
    for _ in range(KILLS):
        before = sandbox.stats()["requests"]
        process = project.start("run")
        # Kill only once this run is sending: start-up has put the previous crash's
        # in-flight records back (else they would be counted at two kills).
        sandbox.wait_for(lambda stats, before=before: stats["requests"] > before)
        time.sleep(rng.uniform(0.0, 1.0))  # the moment of the crash: chaos, not a wait for a result
        process.send_signal(signal.SIGKILL)
        process.wait()
        if project.database.exists():
            in_flight_at_kills.append(in_flight(project.database))

    final = project.run("run", timeout=300)

    assert final.code == 0, final.stderr
    totals = project.status()["totals"]
    assert totals["pending"] == totals["in_flight"] == 0
    assert totals["deleted"] + totals["not_found"] + totals["failed"] == totals["total"] == RECORDS
    assert totals["failed"] == 0
    present = {p for p in phones if number_present("Sales", p, RATIO)}
    assert sandbox.deleted() == present
    with sqlite3.connect(project.database) as db:
        recorded_deleted = {
            row[0] for row in db.execute("SELECT phone FROM records WHERE state = 'deleted'")
        }
        interrupted = db.execute(
            "SELECT COUNT(*) FROM requests WHERE outcome = 'interrupted'"
        ).fetchone()[0]
        after_interrupted = {
            row[0]
            for row in db.execute(
                "SELECT phone FROM records "
                "WHERE state = 'not_found' AND reason = 'after_interrupted'"
            )
        }
    # A deletion the runner recorded really happened; one it did not see (killed before
    # the answer was committed) comes back as not_found on the resend.
    assert recorded_deleted <= present
    # A present number that ended not_found was deleted by a request a kill cut off:
    # each one says so, so the audit can be reconciled with the vendor's counts.
    assert present - recorded_deleted <= after_interrupted
    stats = sandbox.stats()
    assert stats["duplicate_deletes"] <= sum(in_flight_at_kills)
    assert interrupted == sum(in_flight_at_kills)
    assert stats["rate_limited"] == 0
    assert stats["max_in_window_overall"] <= 200
    print(
        f"chaos: kills={len(in_flight_at_kills)} records={RECORDS} "
        f"requests={stats['requests']} in_flight_at_kills={sum(in_flight_at_kills)} "
        f"resent_after_delete={stats['duplicate_deletes']} 429s={stats['rate_limited']} "
        f"errors={stats['errors']} hangs={stats['hangs']}"
    )
