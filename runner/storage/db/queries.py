"""The runner's SQL, by name, from ``queries.sql`` next to this file.

Every statement lives in that one file (procrastinate style): a block begins with a
line ``-- name --`` and runs to the next one; ``{{name}}`` includes another block,
so a shared fragment (the export filters) is written once. Code outside this package
names statements (``Q.claim``) and never holds SQL text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

_HEADER: Final = re.compile(r"^-- (\w+) --$", re.MULTILINE)
_INCLUDE: Final = re.compile(r"\{\{(\w+)\}\}")


def parse(text: str) -> dict[str, str]:
    """{name: statement} of a queries file; comments and blank lines around it kept."""
    parts = _HEADER.split(text)
    # parts = [preamble, name1, body1, name2, body2, ...]
    blocks: dict[str, str] = {}
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in blocks:
            raise ValueError(f"queries.sql: block {name!r} is defined twice")
        # A section heading (a comment) before the next block belongs to neither.
        lines = body.strip().splitlines()
        while lines and lines[-1].startswith("--"):
            lines.pop()
        blocks[name] = "\n".join(lines).strip()
    for name, body in blocks.items():
        blocks[name] = _INCLUDE.sub(lambda match: blocks[match.group(1)], body)
    return blocks


class Queries:
    """The statements as attributes: ``Q.claim``; an unknown name fails at first use."""

    def __init__(self, blocks: dict[str, str]) -> None:
        self._blocks = blocks

    def __getattr__(self, name: str) -> str:
        try:
            return self._blocks[name]
        except KeyError:
            raise AttributeError(f"no query {name!r} in queries.sql") from None

    def names(self) -> list[str]:
        return list(self._blocks)


Q: Final = Queries(parse(Path(__file__).with_name("queries.sql").read_text(encoding="utf-8")))
# The PostgreSQL twin (runner/storage/pg/): the same statements by the same names.
PQ: Final = Queries(
    parse(Path(__file__).with_name("queries_postgresql.sql").read_text(encoding="utf-8"))
)
