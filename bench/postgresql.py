"""`make bench --only postgresql`: the load and the drain on PostgreSQL beside SQLite.

Both backends in the same run, on the same machine, the same input and the same
sandbox (limit lifted): a `runner load` of the same CSV, then a `runner run` draining
the same numbers. PostgreSQL is started here with pgserver (a dev dependency), or
RUNNER_TEST_POSTGRES_URL's server is used. Figures only: no target is set.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg
from cases import LIFTED, Context, Figure, rows
from common import account, job, query, run_measured, runner_command, write_csv, write_txt

from runner.testing import retry_config
from runner.testing import write_config as write_jobs

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))


def database_url(admin_url: str) -> str:
    """A fresh database on the server (tests/pg.py does the same for the tests)."""
    import pg  # tests/pg.py

    name = f"runner_bench_{uuid.uuid4().hex[:8]}"
    pg.admin(admin_url, f"CREATE DATABASE {name}")
    return pg.with_database(admin_url, name)


def config(root: Path, url: str, csv: Path, database: str, name: str = "load") -> Path:
    return write_jobs(
        root / "jobs.yaml", accounts={"main": account(url, LIFTED)},
        jobs=[job(name, "main", "Bench", csv) | {"input": str(csv)}], workers=4,
        retry=retry_config(0.05, 1), database=database,
    )  # fmt: skip


def drained(database: str, root: Path) -> tuple[int, float]:
    """(requests, seconds from the first start to the last finish) of a drain."""
    sql = "SELECT COUNT(*), MIN(started_at), MAX(finished_at) FROM requests"  # one job's
    if database.startswith("postgresql://"):
        with psycopg.connect(database) as conn:
            row: Any = conn.execute(sql).fetchone()
    else:
        row = query(root / database, sql)[0]
    return int(row[0]), float(row[2]) - float(row[1])


def one_backend(ctx: Context, name: str, database: str, csv: Path, numbers: Path) -> list[float]:
    """[load seconds, drain requests per second] of one backend."""
    root = ctx.folder(f"postgresql-{name}")
    config(root, "http://127.0.0.1:1", csv, database)
    ctx.log(f"{name}: runner load of {csv.name}")
    loaded = run_measured(runner_command("load", "jobs.yaml"), cwd=root).check()
    drain_db = database if name == "postgresql" else "runner.db"
    with ctx.sandbox(root) as sandbox:
        # A job of its own: the loaded CSV stays pending, untouched by the drain.
        config(root, sandbox.url, numbers, drain_db, name="drain")
        ctx.log(f"{name}: runner run, limit lifted")
        run_measured(runner_command("run", "jobs.yaml"), cwd=root).check()
    sent, seconds = drained(drain_db, root)
    return [loaded.seconds, sent / seconds]


def bench_postgresql(ctx: Context) -> list[Figure]:
    s = ctx.sizes
    root = ctx.folder("postgresql")
    csv = write_csv(root / "numbers.csv", s.big_rows)
    numbers = write_txt(root / "drain.txt", (f"9{i:09d}" for i in range(s.drain_records)))
    existing = os.environ.get("RUNNER_TEST_POSTGRES_URL")
    with tempfile.TemporaryDirectory(prefix="runner-pg-") as folder:
        server: Any = None
        if not existing:
            import pgserver

            server = pgserver.get_server(folder, cleanup_mode="stop")
        try:
            admin = existing or str(server.get_uri())
            sqlite = one_backend(ctx, "sqlite", "runner.db", csv, numbers)
            postgresql = one_backend(ctx, "postgresql", database_url(admin), csv, numbers)
        finally:
            if server is not None:
                server.cleanup()
    return [
        Figure(f"`runner load` {rows(s.big_rows)}-row CSV, PostgreSQL ÷ SQLite",
               postgresql[0] / sqlite[0], f"{postgresql[0] / sqlite[0]:.2f}", "—", None,
               f"PostgreSQL {postgresql[0]:.2f} s ({s.big_rows / postgresql[0]:,.0f} rows/s), "
               f"SQLite {sqlite[0]:.2f} s ({s.big_rows / sqlite[0]:,.0f} rows/s)"),
        Figure(f"drain rate, limit lifted, {rows(s.drain_records)} requests, PostgreSQL ÷ SQLite",
               postgresql[1] / sqlite[1], f"{postgresql[1] / sqlite[1]:.2f}", "—", None,
               f"PostgreSQL {postgresql[1]:.0f} req/s, SQLite {sqlite[1]:.0f} req/s"),
    ]  # fmt: skip
