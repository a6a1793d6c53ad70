"""Real parts for tests, benchmarks and rehearsals: the sandbox as a process, configs, env.

Shared by ``tests/harness.py`` and ``bench/common.py`` so both drive the sandbox and
write configs the same way. Nothing here sleeps and hopes: waits poll a condition
(a sandbox counter) with a deadline, and fail loudly when it passes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from runner.sending.limiter import Pacer

STATS_PATH = "/_sandbox/stats"
DELETED_PATH = "/_sandbox/deleted"
INVALIDATE_TOKENS_PATH = "/_sandbox/invalidate-tokens"


def _favour(pid: int) -> None:
    """Schedule the sandbox ahead of the tests' other processes, where allowed (root).

    The sandbox stamps each request when its event loop gets to it; starved of CPU by
    tests running beside it, it would stamp a backlog at once and see a burst that was
    never sent. A higher priority keeps its stamps close to the arrivals."""
    # Not permitted (not root): the stamps are then as good as the machine is quiet.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, -10)


class SandboxProcess:
    """``runner sandbox --port 0 ...`` as a child process.

    Started on a free loopback port; ``url`` is read from its first line. Stopped
    with SIGTERM (as an operator would), killed only if it does not stop.
    """

    def __init__(self, *options: str, stderr: Any = subprocess.PIPE) -> None:
        command = [sys.executable, "-m", "runner", "sandbox", "--port", "0", *options]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        _favour(self.process.pid)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("sandbox listening on "):
            self.stop()
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.url = line.split()[-1]

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def get(self, path: str) -> Any:
        """A side endpoint's JSON, e.g. ``get("/_sandbox/stats")``."""
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.load(response)

    def post(self, path: str) -> Any:
        """POST to a side endpoint (no body); its JSON answer."""
        request = urllib.request.Request(self.url + path, data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def stats(self) -> dict[str, Any]:
        """The sandbox's counters."""
        return dict(self.get(STATS_PATH))

    def deleted(self) -> set[str]:
        """Every number deleted so far, whatever its campaign."""
        return {phone for phones in self.get(DELETED_PATH).values() for phone in phones}

    def invalidate_tokens(self) -> int:
        """Invalidate the current token (``--auth token``), as another process would."""
        return int(self.post(INVALIDATE_TOKENS_PATH)["invalidated"])

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], timeout: float = 30) -> None:
        """Poll the counters until ``condition`` holds; AssertionError after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self.stats()):
                return
            time.sleep(0.02)
        raise AssertionError(f"sandbox never reached the condition: {self.stats()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def env_with_key(key_env: str, api_key: str, **extra: str) -> dict[str, str]:
    """This process's environment plus the API key under ``key_env`` (and ``extra``)."""
    return dict(os.environ) | {key_env: api_key} | extra


def account_config(
    base_url: str,
    *,
    key_env: str,
    user_name: str,
    rate_limit: str,
    timeout_seconds: float,
    **extra: Any,
) -> dict[str, Any]:
    """One ``accounts:`` entry of jobs.yaml; ``extra`` adds or overrides keys (e.g. ``auth``)."""
    return {
        "base_url": base_url,
        "api_key_env": key_env,
        "user_name": user_name,
        "rate_limit": rate_limit,
        "timeout_seconds": timeout_seconds,
    } | extra


def retry_config(initial: float, maximum: float, max_attempts: int = 8) -> dict[str, Any]:
    """The ``retry:`` section of jobs.yaml."""
    return {
        "max_attempts": max_attempts,
        "backoff_initial_seconds": initial,
        "backoff_max_seconds": maximum,
    }


def write_config(
    path: Path,
    *,
    accounts: Mapping[str, Mapping[str, Any]],
    jobs: list[dict[str, Any]],
    workers: int,
    retry: Mapping[str, Any],
    **settings: Any,
) -> Path:
    """Write a jobs.yaml (database ``runner.db`` next to it); ``settings`` override keys."""
    config = {
        "database": "runner.db",
        "accounts": {name: dict(account) for name, account in accounts.items()},
        "workers": workers,
        "retry": dict(retry),
        "jobs": jobs,
    } | settings
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def acquire(pacer: Pacer) -> float:
    """Reserve a slot and wait for it, reserving again after a pause: the pacer used
    alone, as a plain limiter (tests, and the limiter benchmark). The drain reserves
    and waits apart, doing its bookkeeping in between."""
    while True:
        slot = pacer.reserve()
        if await pacer.wait(slot) or pacer.now() < slot:
            return slot
