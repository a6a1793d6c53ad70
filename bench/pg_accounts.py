"""`make bench --only postgresql_accounts`: many accounts shared by two `runner worker`s.

The accounts case (cases.bench_accounts) measures how many accounts ONE process keeps
at their rate on SQLite. Here two `runner worker` processes, each with its own state
folder (two hosts, as far as the runner can tell), share the same accounts through one
PostgreSQL: each account is owned through an advisory lock keyed by its identity, and
each worker takes at most half of them (`max_accounts`). The sandbox plays the accounts
(`--users N`: each its own user, key and rate window, so N distinct identities) and
enforces every account's limit. PostgreSQL as in bench/postgresql.py: started here with
pgserver, or RUNNER_TEST_POSTGRES_URL's server. Figures only: no target is set.

It runs 120 accounts, not the SQLite case's 175: here two workers, PostgreSQL and the
sandbox share the 2 cores, and at 175 they are saturated: each account kept 0.83-0.88 of
its rate, and the sandbox answered 1 to 4 × 429 in 52,000 requests. The workers count a
request from when its body is written; the sandbox counts it when its loop reaches it,
and on saturated cores that is most likely what came more than the 50 ms margin late.
`--accounts 175` shows it.
"""

from __future__ import annotations

import math
import os
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psycopg
from cases import VENDOR_RATE_PER_SECOND, Context, Figure
from common import (
    API_KEY,
    USER,
    Sandbox,
    phones,
    run_measured,
    runner_command,
    runner_env,
    sustained_rate,
    write_txt,
)
from postgresql import database_url

from runner.testing import account_config, retry_config
from runner.testing import write_config as write_jobs

KEY_ENV = "BENCH_API_KEY_{}"
SETTLED_SQL = "SELECT COUNT(*) FROM records WHERE state IN ('pending', 'in_flight')"
PER_ACCOUNT_SQL = (
    "SELECT account, COUNT(*), MIN(started_at), MAX(started_at) FROM requests GROUP BY account"
)
ALL_SQL = "SELECT COUNT(*), MIN(started_at), MAX(started_at) FROM requests"
# No takeover happens here, so an account's last sender note names the worker that sent it.
SPLIT_SQL = (
    "SELECT s.pid, COUNT(DISTINCT r.account), COUNT(*) FROM requests r"
    " JOIN senders s ON s.account = r.account GROUP BY s.pid"
)


def credentials(number: int) -> tuple[str, str]:
    """The user and the key the sandbox's ``--users`` gives account ``number`` (from 1)."""
    suffix = "" if number == 1 else f"-{number}"
    return USER + suffix, API_KEY + suffix


def keys_env(count: int) -> dict[str, str]:
    return runner_env() | {KEY_ENV.format(n): credentials(n)[1] for n in range(1, count + 1)}


def write_config(
    root: Path, url: str, database: str, count: int, limit: str, numbers: Path
) -> None:
    accounts = {
        f"a{n:03d}": account_config(url, key_env=KEY_ENV.format(n), user_name=credentials(n)[0],
                                    rate_limit=limit, timeout_seconds=30)
        for n in range(1, count + 1)
    }  # fmt: skip
    jobs = [
        {"name": f"job-{name}", "account": name, "campaign": f"Campaign-{name}",
         "input": numbers.name}
        for name in accounts
    ]  # fmt: skip
    write_jobs(root / "jobs.yaml", accounts=accounts, jobs=jobs, workers=4,
               retry=retry_config(0.05, 1), database=database,
               max_accounts=math.ceil(count / 2))  # fmt: skip


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process, its reaped children and its live children (PostgreSQL's
    postmaster and its backends); 0.0 when /proc cannot tell (a remote server)."""

    def stat(path: Path) -> list[str]:
        return path.read_text().rsplit(")", 1)[1].split()

    tick = os.sysconf("SC_CLK_TCK")
    try:
        own = stat(Path(f"/proc/{pid}/stat"))
    except OSError:
        return 0.0
    total = sum(int(field) for field in own[11:15])  # utime stime cutime cstime
    for path in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat(path)
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == pid:
            total += sum(int(field) for field in fields[11:15])
    return total / tick


def postmaster_pid(database: str) -> int | None:
    """The server's main process, if it runs on this machine (a backend's parent)."""
    with psycopg.connect(database) as conn:
        row: Any = conn.execute("SELECT pg_backend_pid()").fetchone()
    try:
        return int(Path(f"/proc/{row[0]}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


@dataclass
class Worker:
    """One `runner worker` process: a host of its own (its own XDG_STATE_HOME)."""

    name: str
    process: subprocess.Popen[bytes]
    started: float
    log: IO[bytes]
    cpu_seconds: float = 0.0

    @classmethod
    def start(cls, root: Path, name: str, env: dict[str, str]) -> Worker:
        state = root / f"state-{name}"
        state.mkdir()
        log = (root / f"worker-{name}.log").open("wb")
        process = subprocess.Popen(
            runner_command("worker", "jobs.yaml"), cwd=root, stdin=subprocess.DEVNULL,
            stdout=log, stderr=log, env=env | {"XDG_STATE_HOME": str(state)},
        )  # fmt: skip
        return cls(name, process, time.perf_counter(), log)

    def failure(self) -> str | None:
        """Why it ended by itself (its last line), or None while it runs."""
        if self.process.poll() is None:
            return None
        said = Path(self.log.name).read_text(errors="replace").strip().splitlines()
        return f"worker {self.name} exited {self.process.returncode}: {said[-1] if said else ''}"

    def stop(self) -> None:
        """SIGTERM, then its CPU time from wait4 (it stops gracefully: exit 143)."""
        if self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGTERM)  # not send_signal: it would reap it
            _, status, usage = os.wait4(self.process.pid, 0)
            self.process.returncode = os.waitstatus_to_exitcode(status)
            self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.log.close()


def wait_settled(database: str, workers: list[Worker], timeout: float) -> float:
    """Poll until no record is pending or in flight; the time it was seen so."""
    give_up = time.perf_counter() + timeout
    with psycopg.connect(database, autocommit=True) as conn:
        while True:
            row: Any = conn.execute(SETTLED_SQL).fetchone()
            if row[0] == 0:
                return time.perf_counter()
            for worker in workers:
                if (failure := worker.failure()) is not None:
                    raise RuntimeError(failure)
            if time.perf_counter() > give_up:
                raise RuntimeError(f"{row[0]} records still unsettled after {timeout:.0f} s")
            time.sleep(0.25)


def rows_of(database: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database) as conn:
        return list(conn.execute(sql.encode()).fetchall())


@dataclass
class Drained:
    """What the two workers did, read back from the database and the processes."""

    ratios: list[float]
    aggregate: float
    seconds: float
    split: list[str]
    cores: list[str]


def drain(ctx: Context, root: Path, database: str, sandbox: Sandbox, count: int) -> Drained:
    """Start both workers, wait until every record is settled, stop them; what they did."""
    s = ctx.sizes
    expected = s.account_count * s.account_windows + 1
    env, server = keys_env(count), postmaster_pid(database)
    before = (sandbox.cpu_seconds(), tree_cpu_seconds(server) if server else 0.0)
    workers = [Worker.start(root, name, env) for name in ("A", "B")]
    try:
        done = wait_settled(database, workers, timeout=10 * expected / s.account_rate + 120)
    finally:
        for worker in workers:
            worker.stop()
    spent = done - workers[0].started
    after = (sandbox.cpu_seconds(), tree_cpu_seconds(server) if server else 0.0)
    pids = {worker.process.pid: worker for worker in workers}
    split = sorted(f"worker {pids[pid].name} {accounts} accounts, {sent:,} requests"
                   for pid, accounts, sent in rows_of(database, SPLIT_SQL))  # fmt: skip
    cores = [f"worker {w.name} {w.cpu_seconds / (done - w.started):.2f}" for w in workers]
    cores.append(f"sandbox {(after[0] - before[0]) / spent:.2f}")
    cores.append(f"PostgreSQL {(after[1] - before[1]) / spent:.2f}" if server else "PostgreSQL n/a")
    per = rows_of(database, PER_ACCOUNT_SQL)
    total, first, last = rows_of(database, ALL_SQL)[0]
    return Drained(
        ratios=[sustained_rate(n, a, b) / s.account_rate for _, n, a, b in per],
        aggregate=sustained_rate(total, first, last), seconds=last - first,
        split=split, cores=cores,
    )  # fmt: skip


def bench_postgresql_accounts(ctx: Context) -> list[Figure]:
    s = ctx.sizes
    count = s.pg_accounts
    root = ctx.folder("postgresql-accounts")
    limit = f"{s.account_count}/{s.account_period:g}s"
    numbers = write_txt(root / "numbers.txt", phones(s.account_count * s.account_windows + 1))
    users = ("--users", str(count), "--rate-limit", limit)
    import pg  # tests/pg.py: postgresql.py puts tests/ on the path

    with pg.server() as admin, ctx.sandbox(root, *users) as sandbox:
        database = database_url(admin)
        write_config(root, sandbox.url, database, count, limit, numbers)
        run_measured(runner_command("load", "jobs.yaml"), cwd=root).check()
        ctx.log(f"two runner workers, {count} accounts at {limit} each, max_accounts "
                f"{math.ceil(count / 2)}")  # fmt: skip
        drained = drain(ctx, root, database, sandbox, count)
        stats = sandbox.stats()
    return [figure(ctx, drained, stats, count, limit)]


def figure(ctx: Context, d: Drained, stats: dict[str, Any], count: int, limit: str) -> Figure:
    keeping_up = sum(ratio >= 0.99 for ratio in d.ratios)
    fine = keeping_up == count and stats["rate_limited"] == 0
    equivalent = d.aggregate / VENDOR_RATE_PER_SECOND
    return Figure(
        f"accounts drained by two `runner worker` processes on one PostgreSQL ({count} × "
        f"{limit}, max_accounts {math.ceil(count / 2)} each), each ≥ 99 % of its rate → "
        "equivalent accounts at 100/min",
        equivalent, f"{equivalent:.0f}" if fine else f"({equivalent:.0f})", "—", None,
        f"{keeping_up}/{count} accounts ≥ 99 % of {ctx.sizes.account_rate:g}/s "
        f"(worst {min(d.ratios, default=0):.4f}, median {statistics.median(d.ratios or [0]):.4f});"
        f" aggregate {d.aggregate:.0f} req/s over {d.seconds:.1f} s; {'; '.join(d.split)}; "
        f"cores used: {', '.join(d.cores)}; sandbox: {stats['rate_limited']} × 429, at most "
        f"{stats['max_in_window_overall']} in any window, {stats['deleted']:,} deleted, "
        f"{stats['duplicate_deletes']} re-sent"
        + ("" if fine else "; in ( ): not every account kept its rate, or a 429"),
    )  # fmt: skip
