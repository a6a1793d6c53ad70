"""asyncpg against psycopg 3 on the two things the PostgreSQL queue does most.

* load: COPY ``ROWS`` records into ``records`` (what ``runner load`` does);
* drain: claim ``BATCH`` records with ``FOR UPDATE SKIP LOCKED``, then settle them
  (an UPDATE per record and an audit INSERT per record, in one transaction), until
  ``DRAIN_ROWS`` records are done (what the drain's claim/settle loop does).

Run: ``.venv/bin/python bench/pg_drivers.py`` (starts its own server with pgserver, or
uses RUNNER_TEST_POSTGRES_URL). Prints one line per driver and case, best of ``REPEAT``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import psycopg

ROWS = 100_000
DRAIN_ROWS = 10_000
BATCH = 50
REPEAT = 3

SCHEMA = """
DROP TABLE IF EXISTS bench_requests; DROP TABLE IF EXISTS bench_records;
CREATE TABLE bench_records (
    id BIGSERIAL PRIMARY KEY, job_id BIGINT NOT NULL, line BIGINT NOT NULL,
    phone TEXT NOT NULL, name TEXT, state TEXT NOT NULL DEFAULT 'pending',
    attempts INT NOT NULL DEFAULT 0, not_before DOUBLE PRECISION NOT NULL DEFAULT 0,
    finished_at DOUBLE PRECISION, UNIQUE (job_id, phone));
CREATE INDEX bench_runnable ON bench_records (job_id, not_before DESC, id)
 WHERE state = 'pending';
CREATE TABLE bench_requests (
    id BIGSERIAL PRIMARY KEY, record_id BIGINT NOT NULL, started_at DOUBLE PRECISION,
    finished_at DOUBLE PRECISION, http_status INT, outcome TEXT);
"""
CLAIM = """
UPDATE bench_records SET state = 'in_flight' WHERE id IN (
  SELECT id FROM bench_records WHERE job_id = 1 AND state = 'pending' AND not_before <= {now}
   ORDER BY not_before DESC, id LIMIT {count} FOR UPDATE SKIP LOCKED) RETURNING id
"""
SETTLE = (
    "UPDATE bench_records SET state = 'deleted', attempts = 1, finished_at = {p} WHERE id = {p}"
)
AUDIT = (
    "INSERT INTO bench_requests (record_id, started_at, finished_at, http_status, outcome) "
    "VALUES ({p}, {p}, {p}, 200, 'deleted')"
)
COLUMNS = ("job_id", "line", "phone", "name")


def rows() -> list[tuple[int, int, str, str]]:
    return [(1, i, f"98{i:08d}", f"name {i}") for i in range(ROWS)]


def numbered(sql: str) -> str:
    """``{p}`` placeholders as asyncpg's $1, $2, ..."""
    count = sql.count("{p}")
    return sql.format(p="{}").format(*(f"${i}" for i in range(1, count + 1)))


async def asyncpg_case(url: str, case: str) -> float:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(SCHEMA)
        data = rows()
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_records", records=data, columns=COLUMNS)
        if case == "load":
            return time.perf_counter() - started
        settle, audit = numbered(SETTLE), numbered(AUDIT)
        started, done = time.perf_counter(), 0
        while done < DRAIN_ROWS:
            async with conn.transaction():
                ids = [r[0] for r in await conn.fetch(CLAIM.format(now=1.0, count=BATCH))]
            now = time.time()
            async with conn.transaction():
                await conn.executemany(settle, [(now, i) for i in ids])
                await conn.executemany(audit, [(i, now, now) for i in ids])
            done += len(ids)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def psycopg_case(url: str, case: str) -> float:
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        await conn.execute(SCHEMA)
        data = rows()
        started = time.perf_counter()
        async with (
            conn.cursor() as cur,
            cur.copy(f"COPY bench_records ({', '.join(COLUMNS)}) FROM STDIN") as copy,
        ):
            for row in data:
                await copy.write_row(row)
        if case == "load":
            return time.perf_counter() - started
        settle, audit = SETTLE.format(p="%s"), AUDIT.format(p="%s")
        started, done = time.perf_counter(), 0
        while done < DRAIN_ROWS:
            async with conn.transaction():
                cursor = await conn.execute(CLAIM.format(now=1.0, count=BATCH))
                ids = [r[0] for r in await cursor.fetchall()]
            now = time.time()
            async with conn.transaction(), conn.cursor() as cur:
                await cur.executemany(settle, [(now, i) for i in ids])
                await cur.executemany(audit, [(i, now, now) for i in ids])
            done += len(ids)
        return time.perf_counter() - started
    finally:
        await conn.close()


def best(run: Callable[[], Awaitable[float]]) -> float:
    return min(asyncio.run(run()) for _ in range(REPEAT))


def measure(url: str) -> None:
    cases: dict[str, Callable[[str, str], Awaitable[float]]] = {
        "asyncpg": asyncpg_case, "psycopg": psycopg_case,
    }  # fmt: skip
    for case, count in (("load", ROWS), ("drain", DRAIN_ROWS)):
        for driver, run in cases.items():
            seconds = best(lambda run=run, case=case: run(url, case))  # type: ignore[misc]
            print(f"{case:5} {driver:8} {count:>7} rows {seconds:6.2f} s "
                  f"{count / seconds:>9,.0f} rows/s")  # fmt: skip


def main() -> None:
    url = os.environ.get("RUNNER_TEST_POSTGRES_URL")
    if url:
        measure(url)
        return
    import pgserver

    with tempfile.TemporaryDirectory() as folder:
        server: Any = pgserver.get_server(folder, cleanup_mode="stop")
        try:
            measure(server.get_uri())
        finally:
            server.cleanup()


if __name__ == "__main__":
    sys.exit(main())
