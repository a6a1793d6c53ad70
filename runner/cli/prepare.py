"""What ``runner run`` and ``worker`` do before anything else: the config, the keys of
the accounts they need, the log format, and the inputs checked (once per command)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runner.commands.loader import check_inputs
from runner.config import Config, load_config
from runner.core.logs import configure, redactor
from runner.core.safefiles import check_folder


def prepare(
    config_path: Path, log_format: str, verbose: bool, quiet: bool, *, worker: bool
) -> tuple[Config, Callable[[str], str], str]:
    """The config, its keys (read now for the accounts that will be needed), the log format.

    A worker needs every account's key; a run those of its jobs' accounts now, and
    another's only if a job loaded by someone else names it.
    """
    config = load_config(config_path, jobs_required=not worker)
    needed = sorted(config.accounts) if worker else sorted({j.account for j in config.jobs})
    keys = {name: config.accounts[name].api_key() for name in needed}
    log_format = configure(log_format, -1 if quiet else int(verbose), secrets=keys.values())

    def api_key(name: str) -> str:
        if name not in keys:
            keys[name] = config.accounts[name].api_key()
            redactor.add(keys[name])
        return keys[name]

    check_inputs(config)  # the only check of this command: its loads say checked=True
    # Before loading anything: a folder others may write could redirect our files.
    if isinstance(config.database, Path):  # a PostgreSQL queue has no folder
        check_folder(config.database.parent, "the database's folder")
    check_folder(config.state_dir, "state_dir")
    return config, api_key, log_format
