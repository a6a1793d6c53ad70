"""Which numbers exist in which campaign: a ``--numbers`` file, or a deterministic fraction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


def number_present(campaign: str, phone: str, ratio: float) -> bool:
    """Deterministic membership: sha256 (not ``hash()``) so every process agrees."""
    if ratio >= 1.0:
        return True
    digest = hashlib.sha256(f"{campaign}\x00{phone}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < ratio


@dataclass(frozen=True)
class NumberList:
    """Numbers read from a ``--numbers`` file: global ones and per-campaign ones."""

    everywhere: frozenset[str]
    scoped: frozenset[tuple[str, str]]

    def contains(self, campaign: str, phone: str) -> bool:
        """Whether ``phone`` exists in ``campaign``."""
        return phone in self.everywhere or (campaign, phone) in self.scoped


def parse_numbers(lines: Iterable[str]) -> NumberList:
    """Parse a numbers file's lines; raises ValueError naming the bad line."""
    everywhere: set[str] = set()
    scoped: set[tuple[str, str]] = set()
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 1:
            everywhere.add(parts[0])
        elif len(parts) == 2 and all(parts):
            scoped.add((parts[0], parts[1]))
        else:
            raise ValueError(f"line {lineno}: expected 'number' or 'campaign,number', got {line!r}")
    return NumberList(frozenset(everywhere), frozenset(scoped))


def load_numbers(path: Path) -> NumberList:
    """Read and parse a numbers file (UTF-8)."""
    with path.open(encoding="utf-8") as handle:
        try:
            return parse_numbers(handle)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
