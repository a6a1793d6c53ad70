"""The values the job and input-file statements bind, and what their rows mean: the same
for both backends (:class:`runner.storage.store.Store`, :class:`runner.storage.pg.store.PgStore`),
whose statements take the same names (``queries.sql`` and its PostgreSQL twin)."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runner.intake.inputs import FileStamp
from runner.storage.queue import GuardSettings


def new_job(
    name: str, account: str, spelled: tuple[str, str | None], number_format: str,
    account_identity: str | None,
) -> dict[str, Any]:  # fmt: skip
    """insert_job's values; ``spelled`` is (campaign shown, JSON list or None)."""
    shown, listed = spelled
    return {"name": name, "account": account, "campaign": shown, "campaigns": listed,
            "number_format": number_format, "account_identity": account_identity,
            "created_at": time.time()}  # fmt: skip


def guard_text(guard: GuardSettings | None) -> str | None:
    """A job's not-found guard as the jobs table keeps it (JSON; NULL for none)."""
    return None if guard is None else json.dumps(dataclasses.asdict(guard))


def new_source(job_id: int, path: Path, stamp: FileStamp) -> dict[str, Any]:
    return {"job_id": job_id, "path": str(path), "size": stamp.size, "mtime_ns": stamp.mtime_ns}


def loaded_source(source_id: int, stamp: FileStamp) -> dict[str, Any]:
    return {"id": source_id, "size": stamp.size, "mtime_ns": stamp.mtime_ns,
            "loaded_at": time.time()}  # fmt: skip


def source_state(row: Sequence[Any], stamp: FileStamp) -> tuple[int, bool]:
    """(source id, fully loaded and unchanged) from source_by_path's row."""
    unchanged = (row[1], row[2]) == (stamp.size, stamp.mtime_ns)
    return int(row[0]), unchanged and row[3] is not None


def job_campaigns(row: Sequence[Any]) -> tuple[str, ...]:
    """A job's campaigns from job_campaigns's row: its list, or its one campaign."""
    return tuple(json.loads(row[1])) if row[1] else (str(row[0]),)
