"""Reading a file as text lines: its encoding, refusing binary files, bounded lines.

Encoding: a UTF-8 BOM means UTF-8, a UTF-16 BOM means UTF-16 (what Excel's "Unicode
text" writes); otherwise UTF-8 when the first 64 KiB decode as UTF-8, else
Windows-1252 (Excel's "CSV" on Western Windows). Bytes that do not decode become
U+FFFD. A file that starts like an Excel workbook, or has a NUL byte in its first
64 KiB (outside UTF-16), is not read at all.

A file is read one physical line at a time (``\\n``, ``\\r\\n`` or a lone ``\\r``
ends a line); a line longer than :data:`MAX_LINE_CHARS` is kept only up to
:data:`RAW_LIMIT` characters and flagged, so memory does not grow with the file.
"""

from __future__ import annotations

import codecs
import io
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple, TextIO

from runner.core.errors import InputError

# Longest line read; longer ones are reported and skipped. Real rows are < 1 KiB.
MAX_LINE_CHARS: Final = 64 * 1024
# Characters of a rejected value kept in InvalidRow.raw.
RAW_LIMIT: Final = 200
# Bytes looked at to choose between UTF-8 and Windows-1252, and to spot binary files.
SNIFF_BYTES: Final = 64 * 1024
# Characters decoded per read.
_CHUNK_CHARS: Final = 64 * 1024
_LINE_END: Final = re.compile(r"\r\n|\r|\n")


class Line(NamedTuple):
    """One physical line of a file."""

    number: int  # 1-based
    text: str  # without its line ending; only the start when too_long
    too_long: bool


def open_text(path: Path) -> TextIO:
    """``path`` as text in its detected encoding, line endings untouched."""
    binary = open_regular(path)
    try:
        head = binary.read(SNIFF_BYTES)
        binary.seek(0)
    except OSError as exc:
        binary.close()
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    problem = not_text(head)
    if problem is not None:
        binary.close()
        raise InputError(f"{path}: not a text file ({problem})")
    return io.TextIOWrapper(binary, encoding=detect_encoding(head), errors="replace", newline="")


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading if it is a regular file; a FIFO, a device or a folder
    is refused at once (opening a FIFO would wait for a writer for ever)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(f"{path}: cannot open: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"{path}: not a regular file (a pipe, device or folder); give a file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


# Signatures of the binary files most often saved under a .csv or .txt name.
_WORKBOOKS: Final = {
    b"PK\x03\x04": "it looks like an Excel workbook: save it as CSV",
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1": "it looks like an Excel 97-2003 workbook: save it as CSV",
}


def not_text(head: bytes) -> str | None:
    """Why a file starting with ``head`` is not a text file, or None if it may be one.

    A workbook renamed .csv would otherwise load as thousands of rows of binary
    garbage; a NUL byte is in no text file outside UTF-16, which has a BOM.
    """
    for signature, problem in _WORKBOOKS.items():
        if head.startswith(signature):
            return problem
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    nul = head.find(b"\0")
    if nul >= 0:
        return f"it has a NUL byte at byte {nul}: save it as CSV or plain text"
    return None


def detect_encoding(head: bytes) -> str:
    """The codec for a file starting with ``head`` (rules in the module docstring)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        # A character cut at the end of a full sniff buffer is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=len(head) < SNIFF_BYTES)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8"


def physical_lines(stream: TextIO) -> Iterator[Line]:
    """Lines of ``stream``, each held only up to MAX_LINE_CHARS.

    Splits decoded chunks itself rather than using readline(limit): that could cut
    between the ``\\r`` and ``\\n`` of a line ending and count one line twice.
    """
    number, kept, too_long, after_cr = 0, "", False, False
    while chunk := stream.read(_CHUNK_CHARS):
        if after_cr and chunk.startswith("\n"):  # the rest of a \r\n split by the read
            chunk = chunk[1:]
        start = 0
        for end in _LINE_END.finditer(chunk):
            kept, too_long = _append(kept, too_long, chunk[start : end.start()])
            number += 1
            yield Line(number, kept, too_long)
            kept, too_long, start = "", False, end.end()
        kept, too_long = _append(kept, too_long, chunk[start:])
        after_cr = chunk.endswith("\r")
    if kept or too_long:
        yield Line(number + 1, kept, too_long)


def _append(kept: str, too_long: bool, piece: str) -> tuple[str, bool]:
    """Add ``piece`` to the line so far, keeping only its start once it is too long."""
    if too_long:
        return kept, True
    if len(kept) + len(piece) > MAX_LINE_CHARS:
        return (kept + piece[:RAW_LIMIT])[:RAW_LIMIT], True
    return kept + piece, False
