"""Turning the jobs of a config into queued records, idempotently and in batches.

Parsing lives in :mod:`runner.intake.inputs`; this module only feeds its rows to the
store, a batch at a time, so memory does not grow with the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import itertools
import re
import sys
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from runner.config import Config, JobConfig
from runner.core.errors import InputError, first_error
from runner.core.logs import get_logger
from runner.intake.inputs import FileStamp, InvalidRow, Row, read_rows
from runner.intake.numbers import MIN_DIGITS, format_number, mask_number
from runner.storage.backend import open_store
from runner.storage.db.loading import INSERT_BATCH, LoadCounts
from runner.storage.queue import GuardSettings
from runner.storage.store import Store

if TYPE_CHECKING:
    from runner.storage.pg.store import PgStore


@dataclass(frozen=True, slots=True)
class JobLoad:
    job: str
    counts: LoadCounts
    unchanged: bool = False  # the input was already loaded and has not changed since


# Invalid rows quoted when every row of a job is invalid.
FIRST_REASONS: Final = 3
# A number in a reason ("+44... has country code +44") is masked as in logs: the
# message goes where the input file does not (a terminal, cron mail).
# The GIL's switch interval while a file loads (sys.setswitchinterval; Python's is 5 ms).
# A million rows: 7.4-7.6 s -> 6.0-6.1 s, with the same CPU (same-run A/B).
LOAD_SWITCH_INTERVAL: Final = 0.0005
_NUMBER: Final = re.compile(rf"\+?\d{{{MIN_DIGITS},}}")


def check_inputs(config: Config) -> None:
    """Fail early (InputError, exit 2), before any job loads, on an input that cannot be
    read or whose every row is invalid.

    A job's rows are read until the first valid one, so a good file costs one row;
    only a file with no valid row is read whole. A file with no rows at all (an
    empty .txt, a CSV header alone) is not an error: there is nothing to do.
    """
    for job in config.jobs:
        found = all_invalid(job_rows(job))  # job_rows opens the file, checks the header
        if found is not None:
            raise InputError(all_invalid_message(job, *found))


def all_invalid(rows: Iterable[Row | InvalidRow]) -> tuple[int, list[InvalidRow]] | None:
    """``(count, first few)`` of ``rows`` when there are some and none is valid, else None.

    Stops at the first valid row.
    """
    first: list[InvalidRow] = []
    count = 0
    for count, row in enumerate(rows, start=1):  # noqa: B007 - count is used after the loop
        if isinstance(row, Row):
            return None
        if len(first) < FIRST_REASONS:
            first.append(row)
    return (count, first) if count else None


def all_invalid_message(job: JobConfig, invalid: int, first: list[InvalidRow]) -> str:
    """One line: the job has ``invalid`` rows and none is valid; the first reasons."""
    reasons = "; ".join(
        f"line {row.line}: {_NUMBER.sub(lambda m: mask_number(m.group()), row.reason)}"
        for row in first
    )
    more = f"; and {invalid - len(first):,} more" if invalid > len(first) else ""
    verdict = (
        "its only row is invalid" if invalid == 1 else f"none of its {invalid:,} rows is valid"
    )
    return f"{job.input}: job {job.name!r}: {verdict} ({reasons}{more}); nothing was loaded or sent"


def job_rows(job: JobConfig) -> Iterator[Row | InvalidRow]:
    """The rows of a job's input as they will be sent: its columns, its phone format."""
    formatter = functools.partial(
        format_number, phone_format=job.phone_format, region=job.default_region
    )
    return read_rows(job.input, job.phone_column, job.name_column, formatter)


def number_format(job: JobConfig) -> str:
    """How the job writes its numbers, as stored with the job: 'as_is', 'e164:IN', ..."""
    if job.default_region is None:
        return str(job.phone_format)
    return f"{job.phone_format}:{job.default_region}"


def next_batch(rows: Iterator[Row | InvalidRow], size: int) -> list[Row | InvalidRow]:
    """Up to ``size`` rows; an empty list at the end."""
    return list(itertools.islice(rows, size))


@contextlib.contextmanager
def imports_left_alone() -> Iterator[None]:
    """While a file loads, the cyclic garbage collector skips the objects that were there
    before (modules, config): a million rows are some ten million allocations, and each
    full collection they set off walked all of those again (about 8 % of the CPU)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def quick_gil_handover() -> Iterator[None]:
    """While a file loads, threads hand the GIL over every LOAD_SWITCH_INTERVAL, not every
    5 ms (Python's default): SQLite's thread needs it for a moment after each statement and
    waited up to a whole interval behind the parser's threads each time."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(LOAD_SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


async def load_job(store: Store | PgStore, job: JobConfig, identity: str | None = None) -> JobLoad:
    """Enqueue one job's input; an input loaded before and unchanged is not read again."""
    job_id = await store.ensure_job(
        job.name,
        job.account,
        job.campaigns,
        number_format(job),
        # The account as this config knows it: a process sending with another
        # base_url or user_name under the same account name leaves the job alone.
        account_identity=identity,
    )
    guard = job.not_found_guard  # the job's own: a process adopting it reads it from here
    settings = None if guard is None else GuardSettings(guard.sample, guard.max_ratio)
    await store.set_job_guard(job_id, settings)
    source_id, unchanged = await store.source(job_id, job.input, FileStamp.of(job.input))
    if unchanged:
        return JobLoad(job.name, LoadCounts(), unchanged=True)
    # Parse in a thread while SQLite inserts (it releases the GIL): loading takes
    # the longer of the two, not their sum. Two batches in hand at most.
    parsed: asyncio.Queue[list[Row | InvalidRow]] = asyncio.Queue(maxsize=2)

    async def parse() -> None:
        rows = job_rows(job)
        while batch := await asyncio.to_thread(next_batch, rows, INSERT_BATCH):
            await parsed.put(batch)
        await parsed.put([])  # the end

    async def batches() -> AsyncIterator[list[Row | InvalidRow]]:
        while batch := await parsed.get():
            yield batch

    try:
        with imports_left_alone(), quick_gil_handover():
            async with asyncio.TaskGroup() as group:
                group.create_task(parse())
                counts = await store.insert_all(job_id, source_id, batches(), job.campaigns)
    except BaseExceptionGroup as failure:
        raise first_error(failure) from None
    await store.mark_loaded(source_id, FileStamp.of(job.input))
    return JobLoad(job.name, counts)


async def load_jobs(
    store: Store | PgStore, config: Config, *, checked: bool = False
) -> list[JobLoad]:
    """Load every job of the config; its inputs are checked first unless the command
    already did (``checked``: once per command, a file is not read again and again)."""
    if not checked:
        check_inputs(config)
    return [
        await load_job(store, job, config.accounts[job.account].identity) for job in config.jobs
    ]


# `runner load` imports this module, not runner.commands.run: without the sending stack
# (aiohttp and its TLS contexts) it starts sooner and leaves more memory to SQLite.
async def load(config: Config, *, checked: bool = False) -> list[JobLoad]:
    async with await open_store(config.database) as store:
        return await load_jobs(store, config, checked=checked)


def log_loads(loads: Iterable[JobLoad]) -> None:
    for item in loads:
        get_logger().info("loaded", job=item.job, new=item.counts.new,
                          duplicate=item.counts.duplicate, invalid=item.counts.invalid,
                          unchanged=item.unchanged)  # fmt: skip
