"""Shared parts of the benchmarks: processes, the sandbox, configs, inputs, the machine.

Everything the benchmarks measure runs as a separate process, as an operator
would run it: ``runner`` commands, the sandbox, the ``sqlite3`` command line.
A command is measured with ``os.wait4``, which gives the wall time, the CPU time
and the peak RSS of that one process.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner import testing
from runner.testing import SandboxProcess, account_config, env_with_key, retry_config

API_KEY = "bench-key"
USER = "bench"
KEY_ENV = "BENCH_API_KEY"
COMMAND_TIMEOUT = 1800.0


# ---------------------------------------------------------------- the machine


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sqlite_cli() -> str | None:
    return shutil.which("sqlite3")


def sqlite_cli_version() -> str | None:
    cli = sqlite_cli()
    if cli is None:
        return None
    done = subprocess.run([cli, "--version"], capture_output=True, text=True, check=False)
    return done.stdout.split(" ")[0] if done.returncode == 0 else None


def code_version() -> str:
    """The commit of runner/ measured, with "+changes" when the work tree differs from it."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), *args], capture_output=True, text=True, check=False
            )
        except OSError:  # no git on this machine
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown"
    changed = git("status", "--porcelain", "--", "runner", "migrations")
    return commit + ("+changes" if changed else "")


def machine() -> dict[str, Any]:
    return {
        "runner": code_version(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite_library": sqlite3.sqlite_version,
        "sqlite_cli": sqlite_cli_version(),
        "platform": platform.platform(),
    }


# ---------------------------------------------------------------- processes


def runner_command(*args: str) -> list[str]:
    """The ``runner`` console script of this interpreter, as an operator runs it."""
    script = Path(sys.executable).with_name("runner")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "runner", *args]


def runner_env() -> dict[str, str]:
    return env_with_key(KEY_ENV, API_KEY)


@dataclass
class Measured:
    """One finished process: how long it took, what it cost, what it said."""

    args: list[str]
    code: int
    seconds: float
    cpu_seconds: float
    max_rss_mb: float
    stdout: str
    stderr: str

    def check(self, allowed: Sequence[int] = (0,)) -> Measured:
        if self.code not in allowed:
            raise RuntimeError(
                f"{' '.join(self.args[:3])} exited {self.code}: {self.stderr.strip()[-2000:]}"
            )
        return self


def run_measured(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    stdin: Path | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> Measured:
    """Run a command to its end; its own wall time, CPU time and peak RSS."""
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        open(stdin or os.devnull, "rb") as feed,
    ):
        start = time.perf_counter()
        process = subprocess.Popen(
            list(args), cwd=cwd, env=runner_env(), stdin=feed, stdout=out, stderr=err
        )
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(
            args=list(args),
            code=process.returncode,
            seconds=seconds,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            max_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process, from /proc (0.0 if unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the sandbox


class Sandbox(SandboxProcess):
    """The sandbox with the benchmarks' credentials, its stderr in a log file."""

    def __init__(self, *options: str, log: Path) -> None:
        self._log = log.open("wb")
        try:
            super().__init__("--api-key", API_KEY, "--user-name", USER, *options, stderr=self._log)
        except RuntimeError as error:
            self._log.close()
            raise RuntimeError(f"{error}; see {log}") from None

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.process.pid)

    def stop(self) -> None:
        super().stop()
        self._log.close()


# ---------------------------------------------------------------- configs and inputs


def account(url: str, rate_limit: str, timeout: float = 30) -> dict[str, Any]:
    return account_config(
        url, key_env=KEY_ENV, user_name=USER, rate_limit=rate_limit, timeout_seconds=timeout
    )


def job(name: str, account_name: str, campaign: str, path: Path) -> dict[str, Any]:
    spec = {"name": name, "account": account_name, "campaign": campaign, "input": path.name}
    if path.suffix == ".csv":
        spec |= {"phone_column": "phoneNumber", "name_column": "name"}
    return spec


def write_config(
    root: Path, accounts: dict[str, dict[str, Any]], jobs: list[dict[str, Any]], workers: int
) -> Path:
    return testing.write_config(
        root / "jobs.yaml",
        accounts=accounts,
        jobs=jobs,
        workers=workers,
        retry=retry_config(0.05, 1),
    )


# A multiplier coprime to PHONE_SPAN: row i gets a distinct number, in scattered
# order, as in a real list (sorted input would flatter every B-tree insert).
PHONE_BASE = 6_000_000_000
PHONE_SPAN = 4_000_000_000
PHONE_STEP = 2_654_435_761


def phone(index: int) -> str:
    return str(PHONE_BASE + (index * PHONE_STEP) % PHONE_SPAN)


def phones(count: int, start: int = 0) -> list[str]:
    return [phone(index) for index in range(start, start + count)]


def write_txt(path: Path, numbers: Iterable[str]) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.writelines(f"{number}\n" for number in numbers)
    return path


def write_csv(path: Path, rows: int) -> Path:
    """``phoneNumber,name`` and ``rows`` distinct, valid numbers."""
    chunk = 100_000
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("phoneNumber,name\n")
        for start in range(0, rows, chunk):
            stop = min(rows, start + chunk)
            out.write("".join(f"{phone(i)},Customer {i}\n" for i in range(start, stop)))
    return path


# ---------------------------------------------------------------- reading results


def query(database: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Rows from a runner database, opened read-only."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql, params))
    finally:
        conn.close()


def sustained_rate(count: int, first: float, last: float) -> float:
    """Requests per second between the first and the last start: n - 1 intervals."""
    return (count - 1) / (last - first) if count > 1 and last > first else 0.0
