"""Write the demo's input: a CSV of numbers, with a few duplicates and bad rows."""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

COUNT = 300


def main(path: Path) -> None:
    rng = random.Random(2026)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["phoneNumber", "name"])
        numbers = [f"98{rng.randrange(10**8):08d}" for _ in range(COUNT)]
        for i, number in enumerate(numbers):
            # Spreadsheet exports write numbers every which way; all of these are fine.
            shown = rng.choice(
                [number, f"+91 {number[:5]} {number[5:]}", f"({number[:3]}) {number[3:]}"]
            )
            writer.writerow([shown, f"Customer {i}"])
        writer.writerow([numbers[0], "Listed twice"])  # one record: a duplicate
        writer.writerow(["9.18E+11", "Excel ate this one"])
        writer.writerow(["call me", "Not a number"])
        writer.writerow(["", "Empty"])


if __name__ == "__main__":
    main(Path(sys.argv[1]))
