"""The ``runner`` command line (docs/contract.md §4): parse, call the modules, set the exit code.

The group and what every command shares live in :mod:`runner.cli.group`; the commands
that send (load, run, worker, retry) are in :mod:`runner.cli.sending`, the ones that read
(status, export) in :mod:`runner.cli.reading`. Each command imports what it needs when
it runs, so that `runner status` does not pay for aiohttp, pydantic and the sandbox
before it can print anything.
"""

from __future__ import annotations

# The commands register themselves on the group when imported.
from runner.cli import reading, sending
from runner.cli.group import EXPORT_FORMATS, cli, main

__all__ = ["EXPORT_FORMATS", "cli", "main", "reading", "sending"]
