"""The score of `make mutation` per module, from mutmut 3's results in mutants/.

mutmut keeps each mutant's exit code in ``mutants/<module>.py.meta``; this prints a
Markdown table (killed, survived, no tests, timeout, score) for the modules
``[tool.mutmut] only_mutate`` names, the table the README keeps. Score = killed /
(killed + survived): a mutant no unit test reaches counts separately.
"""

from __future__ import annotations

import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# mutmut's exit codes (mutmut/stats.py): 1 and 3 killed, 0 survived, 5 and 33 no tests.
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
          34: "skipped", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout",
          255: "timeout"}  # fmt: skip
COLUMNS = ("killed", "survived", "no tests", "timeout")


def modules() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["mutmut"]["only_mutate"])


def counts(module: str) -> Counter[str]:
    meta = ROOT / "mutants" / f"{module}.meta"
    codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
    return Counter(STATUS.get(code, "other") for code in codes.values())


def row(module: str, found: Counter[str]) -> str:
    tried = found["killed"] + found["survived"]
    score = f"{found['killed'] / tried:.0%}" if tried else "—"
    cells = " | ".join(str(found[column]) for column in COLUMNS)
    return f"| `{module}` | {cells} | {score} |"


def main() -> int:
    if not (ROOT / "mutants").is_dir():
        print("no mutants/: run `make mutation` first", file=sys.stderr)
        return 1
    print("| module | " + " | ".join(COLUMNS) + " | score |")
    print("|---|" + "---:|" * (len(COLUMNS) + 1))
    for module in modules():
        print(row(module, counts(module)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
