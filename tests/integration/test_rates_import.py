"""The rate notation imports alone: a fresh interpreter, so an integration test (unit
tests start no process)."""

from __future__ import annotations

import subprocess
import sys


def test_rates_import_without_pydantic_or_yaml() -> None:
    code = (
        "import sys, runner.core.rates as r; r.parse_rate_limit('100/min');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'yaml')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
