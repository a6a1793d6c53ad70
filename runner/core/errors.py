"""Errors the user sees, and the exit codes of docs/contract.md §4.

Every error meant for an operator derives from :class:`RunnerError`: its message is
one line that says what is wrong and where, and its class says how the process exits.
The CLI prints the message and exits with ``exit_code``; no traceback.
"""

from __future__ import annotations

from enum import IntEnum

from runner.core.states import StopReason


class ExitCode(IntEnum):
    """Process exit codes (docs/contract.md §4); scripts and cron wrappers rely on them."""

    OK = 0
    FAILURES = 1
    USAGE = 2
    AUTH = 3
    LOCKED = 4
    NO_SENDER = 5  # `status --check`: work is pending and no process sends it
    # 5 is `runner status --check`'s.
    DATABASE_GONE = 6  # the database was deleted or replaced under a worker: start again
    SIGHUP = 129
    SIGINT = 130
    SIGTERM = 143


class RunnerError(Exception):
    """An error reported to the operator as a single line, without a traceback."""

    exit_code: int = ExitCode.FAILURES


class ConfigError(RunnerError):
    """``jobs.yaml`` (or a key it points to) is unusable; nothing has been sent."""

    exit_code = ExitCode.USAGE


class InputError(RunnerError):
    """An input file cannot be read at all (missing, unknown type, bad CSV header)."""

    exit_code = ExitCode.USAGE


class ExportError(RunnerError):
    """An unknown job, state or format, or a ``--phone`` that is no number.

    A usage error (exit 2), raised before anything is written.
    """

    exit_code = ExitCode.USAGE


class StoreError(RunnerError):
    """The database cannot be used: corrupt, too new, too old to read, read-only, full."""


class DatabaseLocked(RunnerError):
    """Another runner holds this database: this one's jobs were handed over to it."""

    exit_code = ExitCode.LOCKED


class TokenStop(RunnerError):
    """A TOKEN_AUTH account cannot get a usable token: it stops (its records stay pending)."""

    exit_code = ExitCode.AUTH

    def __init__(self, reason: StopReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class DatabaseGone(RunnerError):
    """The file behind the database's path is no longer the one this process opened."""

    exit_code = ExitCode.DATABASE_GONE


class AccountLocked(RunnerError):
    """Another process of this OS user drains the same account from another database."""

    exit_code = ExitCode.LOCKED


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report from a task group: an operator-facing one if there is one."""
    errors: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        error = pending.pop(0)
        if isinstance(error, BaseExceptionGroup):
            pending.extend(error.exceptions)
        else:
            errors.append(error)
    return next((e for e in errors if isinstance(e, RunnerError)), errors[0])
