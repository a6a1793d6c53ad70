"""``runner export``: one CSV row per record, for people and spreadsheets."""

from __future__ import annotations

import contextlib
import csv
import sys
from pathlib import Path
from typing import IO

from runner.status import iso
from runner.store import EXPORT_COLUMNS, Store


async def export_csv(
    database: Path, output: Path | None, *, job_name: str | None = None, state: str | None = None
) -> int:
    """Write the records (optionally of one job, in one state) as CSV; returns the row count."""
    async with await Store.open(database, create=False) as store:
        with contextlib.ExitStack() as stack:
            out: IO[str] = (
                sys.stdout
                if output is None
                else stack.enter_context(output.open("w", newline="", encoding="utf-8"))
            )
            writer = csv.writer(out)
            writer.writerow(EXPORT_COLUMNS)
            count = 0
            async for row in store.export_rows(job_name, state):
                *fields, finished_at = row
                writer.writerow([*fields, iso(finished_at) or ""])
                count += 1
            return count
