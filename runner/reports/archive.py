"""The archive ``runner prune --archive FILE.jsonl.gz`` writes and ``runner export
--archive FILE`` reads back.

One gzip-compressed JSON object a line: ``{"type": "record", ...}`` with the export's
record columns, or ``{"type": "request", ...}`` with its request columns, times kept as
Unix seconds so that an export from the archive formats them exactly as one from the
database. The file appears complete or not at all (written under a temporary name).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

from runner.core.errors import ExportError

RECORD: Final = "record"
REQUEST: Final = "request"


def write(
    path: Path,
    record_columns: Sequence[str],
    records: Sequence[Sequence[Any]],
    request_columns: Sequence[str],
    requests: Sequence[Sequence[Any]],
) -> None:
    """Write the rows to ``path`` (replacing it), flushed to disk before it appears."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as out:
            for kind, columns, rows in ((RECORD, record_columns, records),
                                        (REQUEST, request_columns, requests)):  # fmt: skip
                for row in rows:
                    line = {"type": kind, **dict(zip(columns, row, strict=True))}
                    out.write((json.dumps(line, ensure_ascii=False) + "\n").encode())
            out.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def read(path: Path, kind: str, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """The rows of one type, as tuples in ``columns`` order (as the database gives them)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                item = _line(path, number, line)
                if item.get("type") == kind:
                    yield tuple(item.get(column) for column in columns)
    except (OSError, EOFError) as error:
        raise ExportError(f"{path}: not a readable runner archive ({error})") from None


def _line(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as error:
        raise ExportError(f"{path}, line {number}: not JSON ({error.msg})") from None
    if not isinstance(item, dict):
        raise ExportError(f"{path}, line {number}: not a JSON object")
    return item


def matches(
    row: Sequence[Any], jobs: Sequence[str], states: Sequence[str], phones: Sequence[str],
    *, phone_at: int, state_at: int, min_digits: int,
) -> bool:  # fmt: skip
    """The export's filters (runner.reports.export.Filters) on an archived row, as its SQL does."""
    if jobs and row[0] not in jobs:
        return False
    if states and row[state_at] not in states:
        return False
    digits = str(row[phone_at] or "").replace("+", "").lstrip("0")
    return not phones or any(
        digits.endswith(p) or (len(digits) >= min_digits and p.endswith(digits)) for p in phones
    )
