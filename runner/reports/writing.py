"""How a report reaches a file: rows as CSV or JSONL, cells a spreadsheet will not run,
and a file that appears complete or not at all (``runner export``, the metrics file).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final

from runner.core.errors import ExportError
from runner.core.safefiles import FILE_MODE

FORMATS: Final = ("csv", "jsonl")
_FORMULA_STARTS: Final = frozenset("=+-@\t\r")
_SIGNED_NUMBER: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?\Z")


def row_writer(fmt: str, out: IO[str], columns: Sequence[str]) -> Callable[[Sequence[Any]], None]:
    """A function writing one row in ``fmt``; the CSV header is written at once.

    CSV leaves a missing value empty; JSONL keeps types (numbers, ``null``) so a
    script can tell "no HTTP status" from "status 0".
    """
    check_format(fmt)
    if fmt == "csv":
        writer = csv.writer(out)
        writer.writerow(columns)
        return lambda row: writer.writerow([spreadsheet_safe(cell) for cell in row])

    def write_json(row: Sequence[Any]) -> None:
        out.write(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False) + "\n")

    return write_json


def spreadsheet_safe(cell: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula (OWASP's CSV injection rule).

    Text starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a
    leading ``'``. A plain signed number (``+919876543210``, ``-5``) is left alone: it
    is no formula, and the phone column must stay as it was sent. JSONL keeps raw values.
    """
    if isinstance(cell, str) and cell[:1] in _FORMULA_STARTS and not _SIGNED_NUMBER.match(cell):
        return "'" + cell
    return cell


def check_format(fmt: str) -> None:
    """Checked before the database is opened, so that a typo costs nothing."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")


def _umask_mode() -> int:
    """The mode ``open()`` would give a new file (mkstemp always gives 0600), without
    access for others whatever the umask: exports hold phone numbers (safefiles)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask & FILE_MODE


@contextlib.contextmanager
def atomic_text(path: Path, mode: int | None = None) -> Iterator[IO[str]]:
    """A text file that appears at ``path`` complete, or not at all.

    The content goes to a temporary file in the same folder (so the rename stays
    on one file system), is flushed to disk, and replaces ``path`` by
    ``os.replace``: a reader sees the old file or the new one, never a part.
    On an error the temporary file is removed and ``path`` is left as it was.
    ``mode`` defaults to what the umask gives a new file.

    A path that exists and is no regular file (``/dev/stdout``, a named pipe) is
    written through: renaming over it would replace the device, not feed it.
    """
    if path.exists() and not path.is_file():
        with path.open("w", encoding="utf-8", newline="") as through:
            yield through
        return
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, _umask_mode() if mode is None else mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
