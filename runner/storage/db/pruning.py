"""``runner prune``: final jobs leave the database, optionally into an archive first.

Everything happens in one write transaction: the jobs are chosen, their records and
requests read (for the archive), the pruned requests' counts kept for the metrics'
counter, then the rows deleted. A job that gets new records meanwhile (a load) is not
final inside that transaction, so it is never pruned; nothing unfinished ever is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from runner.storage.db.queries import Q
from runner.storage.db.reports import export_params

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def age_seconds(text: str) -> float | None:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` in seconds; None if it is none of them."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    return None if match is None else float(match.group(1)) * UNITS[match.group(2)]


# Receives (job names, record rows, request rows) before anything is deleted; raising
# (the archive cannot be written) rolls the prune back.
Archiver = Callable[[Sequence[str], list[tuple[Any, ...]], list[tuple[Any, ...]]], None]


@dataclass(frozen=True, slots=True)
class Pruned:
    jobs: tuple[str, ...]
    records: int
    requests: int


async def prune(
    conn: aiosqlite.Connection, before: float, now: float, archive: Archiver | None
) -> Pruned:
    """Inside the caller's transaction: remove the jobs final since before ``before``."""
    chosen = list(await conn.execute_fetchall(Q.prunable_jobs, {"before": before}))
    if not chosen:
        return Pruned((), 0, 0)
    names = [str(name) for _, name in chosen]
    params = {"ids": json.dumps([int(job_id) for job_id, _ in chosen])}
    if archive is not None:
        records = await _rows(conn, Q.export_records, names)
        archive(names, records, await _rows(conn, Q.export_requests, names))
    await conn.execute(Q.keep_pruned_totals, params | {"now": now})
    requests = await conn.execute(Q.prune_requests, params)
    await conn.execute(Q.prune_duplicates, params)
    records_gone = await conn.execute(Q.prune_records, params)
    await conn.execute(Q.prune_sources, params)
    await conn.execute(Q.prune_jobs, params)
    return Pruned(tuple(names), records_gone.rowcount, requests.rowcount)


async def _rows(
    conn: aiosqlite.Connection, sql: str, names: Sequence[str]
) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in await conn.execute_fetchall(sql, export_params(names, (), ()))]
