"""The drain's writes as plain functions of a sqlite3 connection, run on aiosqlite's
thread inside one transaction of :class:`runner.storage.db.writer.GroupWriter`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Final

from runner.core.states import BlockReason, RecordState
from runner.storage.db.queries import Q
from runner.storage.queue import Claim, Settlement

# How much of a response body the audit trail keeps.
BODY_LIMIT: Final = 2000


def claim(
    raw: sqlite3.Connection, job_ids: Sequence[int], account: str, count: int, now: float
) -> list[Claim]:
    """Up to ``count`` due records of the first jobs that have them (one statement per
    job), turned ``in_flight``; due retries first, then file order."""
    claims: list[Claim] = []
    for job_id in job_ids:
        params = {"job_id": job_id, "now": now, "count": count - len(claims)}
        rows = raw.execute(Q.claim, params).fetchall()
        # RETURNING comes in no particular order: put it back in claim order.
        rows.sort(key=lambda row: (-row[5], row[0]))
        claims.extend(
            Claim(record_id, job, phone, name, attempts, account, now, bool(interrupted),
                  campaign)
            for record_id, job, phone, name, attempts, _, interrupted, campaign in rows
        )  # fmt: skip
        if len(claims) >= count:
            break
    return claims


def release(raw: sqlite3.Connection, record_id: int) -> None:
    raw.execute(Q.release, {"id": record_id})


def settlements(raw: sqlite3.Connection, batch: Sequence[tuple[Claim, Settlement]]) -> None:
    """The writes of a batch of answers: records, audit rows, blocks and stops."""
    # One statement each for the whole batch (queries.sql: settle_record, insert_request).
    records = [
        (s.state, s.reason, s.attempts, s.not_before, s.http_status, s.message,
         None if s.state == RecordState.PENDING else s.finished_at, c.record_id)
        for c, s in batch
    ]  # fmt: skip
    raw.execute(Q.settle_record, {"rows": json.dumps(records)})
    requests = [
        (c.record_id, c.job_id, c.account, c.started_at, s.finished_at, s.http_status,
         s.outcome, s.message, s.body[:BODY_LIMIT], s.deleted_count, c.campaign)
        for c, s in batch
    ]  # fmt: skip
    raw.execute(Q.insert_request, {"rows": json.dumps(requests)})
    for c, s in batch:
        if s.block_job is not None:
            block, why = s.block_job
            params = {"id": c.job_id, "reason": block, "message": why, "campaign": c.campaign}
            for statement in block_statements(block, c.campaign):
                raw.execute(statement, params)
        if s.stop_account is not None:
            stop, why = s.stop_account
            raw.execute(
                Q.stop_account,
                {"account": c.account, "reason": stop, "message": why,
                 "stopped_at": s.finished_at},
            )  # fmt: skip


def block_statements(block: BlockReason, campaign: str | None) -> tuple[str, ...]:
    """The statements of a block (see block_statement_names)."""
    return tuple(getattr(Q, name) for name in block_statement_names(block, campaign))


def block_statement_names(block: BlockReason, campaign: str | None) -> tuple[str, ...]:
    """An invalid campaign blocks only its own records in a job of several campaigns,
    the whole job in a job of one; any other block (the not-found guard) the job.
    Names of queries.sql (and of its PostgreSQL twin)."""
    if block == BlockReason.INVALID_CAMPAIGN and campaign is not None:
        return ("block_campaign", "block_job_of_one_campaign")
    return ("block_job",)
