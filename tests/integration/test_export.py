"""Tests of runner.reports.export against databases built with the real Store in tmp_path.

Times are set through ``Store.claim_many(now=...)`` and ``Settlement.finished_at``,
so every expected timestamp below is exact.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import os
import re
import sqlite3
import stat
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dbhelpers import claim as claim_at
from dbhelpers import insert_rows

from runner.core.errors import StoreError
from runner.core.states import RecordState
from runner.intake.inputs import FileStamp, InvalidRow, Row
from runner.reports import writing
from runner.reports.export import (
    RECORD_COLUMNS,
    REQUEST_COLUMNS,
    ExportError,
    export_records,
    export_requests,
    export_to,
)
from runner.storage.db.connection import OLDEST_READABLE
from runner.storage.queue import Settlement
from runner.storage.store import Store

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z
SCI_REASON = "scientific_notation: '9.18E+11' looks like Excel scientific notation"
BODY_OK = '{"status": "Success",\n "message": "Deleted Successfully"}'
# (job, line) of every record of build(), in export order.
EVERY_RECORD = [("job-a", 1), ("job-a", 2), ("job-a", 3), ("job-a", 4), ("job-b", 1), ("job-b", 2)]


def answer(state: str, finished_at: float, **changes: Any) -> Settlement:
    """A Settlement for state ``state``, like the drain would write it."""
    messages = {
        "deleted": "Deleted Successfully",
        "not_found": "No Record Found",
        "pending": "HTTP 503",
        "failed": "PhoneNumber should not be null are empty",
    }
    fields: dict[str, Any] = {
        "state": RecordState(state),
        "reason": None,
        "attempts": 1,
        "not_before": 0.0,
        "http_status": 200,
        "outcome": state,
        "message": messages[state],
        "body": "{}",
        "finished_at": finished_at,
    }
    fields.update(changes)
    return Settlement(**fields)


async def add_job(
    store: Store, folder: Path, name: str, account: str, campaign: str, rows: list[Any]
) -> tuple[int, Path]:
    job_id = await store.ensure_job(name, account, campaign)
    source = folder / f"{name}.csv"
    source.write_text("phoneNumber\n", encoding="utf-8")
    source_id, _ = await store.source(job_id, source, FileStamp.of(source))
    await insert_rows(store, job_id, source_id, rows)
    return job_id, source


async def send(store: Store, job_id: int, account: str, at: float, result: Settlement) -> None:
    claim = await claim_at(store, [job_id], account, at)
    assert claim is not None
    await store.settle(claim, result)


async def build(store: Store, folder: Path) -> SimpleNamespace:
    """job-a (main, Camp_A): line 1 deleted on its 2nd try after a 503, 2 not_found,
    3 failed invalid_phone, 4 invalid. job-b (other, Camp_B): line 1 deleted, 2 in flight.
    """
    a, path_a = await add_job(
        store,
        folder,
        "job-a",
        "main",
        "Camp_A",
        [
            Row(1, "8123400000", None),
            Row(2, "8123400001", None),
            Row(3, "8123400002", None),
            InvalidRow(4, "9.18E+11", SCI_REASON),
        ],
    )
    b, path_b = await add_job(
        store,
        folder,
        "job-b",
        "other",
        "Camp_B",
        [Row(1, "+918123400100", "Asha"), Row(2, "8123400101", None)],
    )
    await send(
        store,
        a,
        "main",
        T0,
        answer("pending", T0 + 1, http_status=503, outcome="transient", body="<html>busy</html>"),
    )
    await send(store, a, "main", T0 + 10.25, answer("deleted", T0 + 10.5, attempts=2))
    await send(store, a, "main", T0 + 20, answer("not_found", T0 + 21))
    failed = answer("failed", T0 + 31, reason="invalid_phone", outcome="failed")
    await send(store, a, "main", T0 + 30, failed)
    await send(store, b, "other", T0 + 40, answer("deleted", T0 + 41.123, body=BODY_OK))
    assert await claim_at(store, [b], "other", T0 + 50) is not None  # left in flight
    return SimpleNamespace(path_a=str(path_a), path_b=str(path_b))


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SimpleNamespace]:
    """The database of :func:`build`, closed; ``.path`` is its file."""
    path = tmp_path / "runner.db"
    async with await Store.open(path) as store:
        data = await build(store, tmp_path)
    data.path = path
    yield data


def records_row(data: SimpleNamespace, job: str, line: int) -> list[str]:
    """The expected CSV row of a record of :func:`build`."""
    a, b = data.path_a, data.path_b
    rows = {
        ("job-a", 1): [a, "8123400000", "deleted", "", "2", "200", "Deleted Successfully",
                       "2023-11-14T22:13:30.500+00:00", "", ""],
        ("job-a", 2): [a, "8123400001", "not_found", "", "1", "200", "No Record Found",
                       "2023-11-14T22:13:41.000+00:00", "", ""],
        ("job-a", 3): [a, "8123400002", "failed", "invalid_phone", "1", "200",
                       "PhoneNumber should not be null are empty",
                       "2023-11-14T22:13:51.000+00:00", "", ""],
        ("job-a", 4): [a, "9.18E+11", "invalid", SCI_REASON, "0", "", "", "", "9.18E+11", ""],
        ("job-b", 1): [b, "+918123400100", "deleted", "", "1", "200", "Deleted Successfully",
                       "2023-11-14T22:14:01.123+00:00", "", "Asha"],
        ("job-b", 2): [b, "8123400101", "in_flight", "", "0", "", "", "", "", ""],
    }  # fmt: skip
    campaign = {"job-a": "Camp_A", "job-b": "Camp_B"}[job]
    # cell and name as loaded, then the duplicate's pointers (none: these are records)
    return [job, campaign, rows[job, line][0], str(line), *rows[job, line][1:], "", ""]


async def csv_of(coroutine_factory: Any, *args: Any, **kwargs: Any) -> tuple[int, list[list[str]]]:
    out = io.StringIO(newline="")
    count = await coroutine_factory(*args, out, **kwargs)
    return count, list(csv.reader(io.StringIO(out.getvalue(), newline="")))


# ---------------------------------------------------------------- records


async def test_records_csv_has_every_record_in_job_and_file_order(db: SimpleNamespace) -> None:
    count, rows = await csv_of(export_records, db.path)
    assert rows[0] == list(RECORD_COLUMNS)
    assert rows[1:] == [records_row(db, job, line) for job, line in EVERY_RECORD]
    assert count == 6


async def test_records_csv_lines_end_with_crlf(db: SimpleNamespace) -> None:
    out = io.StringIO(newline="")
    await export_records(db.path, out, jobs=["job-b"])
    assert out.getvalue().count("\r\n") == 3


async def test_records_jsonl_keeps_types_and_nulls(db: SimpleNamespace) -> None:
    out = io.StringIO()
    count = await export_records(db.path, out, fmt="jsonl", jobs=["job-a"])
    lines = out.getvalue().splitlines()
    assert count == len(lines) == 4
    objects = [json.loads(line) for line in lines]
    assert all(list(obj) == list(RECORD_COLUMNS) for obj in objects)
    assert objects[0] == {
        "job": "job-a",
        "campaign": "Camp_A",
        "file": db.path_a,
        "line": 1,
        "phone": "8123400000",
        "state": "deleted",
        "reason": None,
        "attempts": 2,
        "last_http_status": 200,
        "last_message": "Deleted Successfully",
        "finished_at": "2023-11-14T22:13:30.500+00:00",
        "cell": None,
        "name": None,
        "duplicate_of_file": None,
        "duplicate_of_line": None,
    }
    invalid = objects[3]
    assert (invalid["state"], invalid["last_http_status"], invalid["finished_at"]) == (
        "invalid",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"jobs": ["job-b"]}, [("job-b", 1), ("job-b", 2)]),
        ({"jobs": ["job-b", "job-a"]}, EVERY_RECORD),  # in job order, not filter order
        ({"states": ["failed", "invalid"]}, [("job-a", 3), ("job-a", 4)]),
        ({"states": ["deleted"], "jobs": ["job-b"]}, [("job-b", 1)]),
        ({"states": ["pending"]}, []),
        ({"phones": [" +91 81234-00100 "]}, [("job-b", 1)]),
        ({"phones": ["(812) 340.0001", "8123400101"]}, [("job-a", 2), ("job-b", 2)]),
        ({"phones": ["918123400100"]}, [("job-b", 1)]),  # without its +
        ({"phones": ["0 81234 00100"]}, [("job-b", 1)]),  # national, with a trunk 0
        ({"phones": ["+91 8123400000"]}, [("job-a", 1)]),  # a country code not sent
        ({"phones": ["8123400099", "4400100"]}, []),  # other numbers
    ],
)  # fmt: skip
async def test_record_filters(
    db: SimpleNamespace, filters: dict[str, list[str]], expected: list[tuple[str, int]]
) -> None:
    count, rows = await csv_of(export_records, db.path, **filters)
    assert rows[1:] == [records_row(db, job, line) for job, line in expected]
    assert count == len(expected)


@pytest.mark.parametrize(
    "phone", ["400100", "00000812", "81234 0010x", "", "+", "８１２３４００１００"]
)
async def test_a_phone_that_cannot_be_looked_up_is_an_error(
    db: SimpleNamespace, phone: str
) -> None:
    with pytest.raises(ExportError, match="give a phone number"):
        await export_records(db.path, io.StringIO(), phones=[phone])


async def test_a_misspelt_job_is_an_error_naming_the_jobs(db: SimpleNamespace) -> None:
    out = io.StringIO()
    with pytest.raises(ExportError, match=r"'job-c'.*jobs: job-a, job-b") as caught:
        await export_records(db.path, out, jobs=["job-a", "job-c"])
    assert caught.value.exit_code == 2
    assert out.getvalue() == ""  # not even the header: stdout shows only the error


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"states": ["done"]}, "unknown state done"), ({"fmt": "xlsx"}, "unknown format 'xlsx'")],
)
async def test_unknown_state_or_format_is_an_error(
    db: SimpleNamespace, kwargs: dict[str, Any], message: str
) -> None:
    out = io.StringIO()
    with pytest.raises(ExportError, match=message):
        await export_records(db.path, out, **kwargs)
    assert out.getvalue() == ""


# ---------------------------------------------------------------- requests


def request_rows(db: SimpleNamespace) -> list[list[str]]:
    # The request still out (job-b line 3) has no row: a row is written with its answer.
    return [
        ["job-a", "Camp_A", "main", "8123400000", "deleted", "2023-11-14T22:13:20.000+00:00",
         "2023-11-14T22:13:21.000+00:00", "503", "transient", "HTTP 503", "<html>busy</html>", ""],
        ["job-a", "Camp_A", "main", "8123400000", "deleted", "2023-11-14T22:13:30.250+00:00",
         "2023-11-14T22:13:30.500+00:00", "200", "deleted", "Deleted Successfully", "{}", ""],
        ["job-a", "Camp_A", "main", "8123400001", "not_found", "2023-11-14T22:13:40.000+00:00",
         "2023-11-14T22:13:41.000+00:00", "200", "not_found", "No Record Found", "{}", ""],
        ["job-a", "Camp_A", "main", "8123400002", "failed", "2023-11-14T22:13:50.000+00:00",
         "2023-11-14T22:13:51.000+00:00", "200", "failed",
         "PhoneNumber should not be null are empty", "{}", ""],
        ["job-b", "Camp_B", "other", "+918123400100", "deleted", "2023-11-14T22:14:00.000+00:00",
         "2023-11-14T22:14:01.123+00:00", "200", "deleted", "Deleted Successfully", BODY_OK, ""],
    ]  # fmt: skip


async def test_requests_csv_has_one_row_per_request_in_order(db: SimpleNamespace) -> None:
    count, rows = await csv_of(export_requests, db.path)
    assert rows[0] == list(REQUEST_COLUMNS)
    assert rows[1:] == request_rows(db)  # the body's newline and quotes survive the round trip
    assert count == 5


async def test_requests_answer_was_this_number_deleted(db: SimpleNamespace) -> None:
    out = io.StringIO()
    count = await export_requests(db.path, out, fmt="jsonl", phones=["+91 81234 00100"])
    assert count == 1
    assert json.loads(out.getvalue()) == {
        "job": "job-b",
        "campaign": "Camp_B",
        "account": "other",
        "phone": "+918123400100",
        "record_state": "deleted",
        "started_at": "2023-11-14T22:14:00.000+00:00",
        "finished_at": "2023-11-14T22:14:01.123+00:00",
        "http_status": 200,
        "outcome": "deleted",
        "message": "Deleted Successfully",
        "body": BODY_OK,
        "deleted_count": None,
    }


async def test_request_filters_use_the_record(db: SimpleNamespace) -> None:
    _, rows = await csv_of(export_requests, db.path, jobs=["job-a"], states=["deleted"])
    assert rows[1:] == request_rows(db)[:2]  # both tries of the deleted record
    _, rows = await csv_of(export_requests, db.path, states=["invalid"])
    assert rows[1:] == []  # invalid records are never sent


# ---------------------------------------------------------------- files and stdout


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


async def test_export_to_file_replaces_it_whole(db: SimpleNamespace, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n", encoding="utf-8")
    old_inode = target.stat().st_ino
    count = await export_to(db.path, target, requests=True, jobs=["job-b"])
    assert count == 1
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"), newline="")))
    assert rows == [list(REQUEST_COLUMNS), *request_rows(db)[4:]]
    assert target.stat().st_ino != old_inode  # renamed into place, not rewritten in place
    assert leftovers(tmp_path) == []


async def test_failed_export_leaves_the_file_as_it_was(db: SimpleNamespace, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n", encoding="utf-8")
    with pytest.raises(ExportError):
        await export_to(db.path, target, jobs=["nobody"])
    assert target.read_text(encoding="utf-8") == "old\n"
    assert leftovers(tmp_path) == []
    with pytest.raises(StoreError):
        await export_to(tmp_path / "missing.db", tmp_path / "new.csv")
    assert not (tmp_path / "new.csv").exists()
    assert leftovers(tmp_path) == []


async def test_export_file_mode_follows_the_umask(db: SimpleNamespace, tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    await export_to(db.path, target, fmt="jsonl")
    assert target.stat().st_mode & 0o777 == writing._umask_mode()
    assert writing._umask_mode() & 0o400


async def test_a_pipe_is_written_through_not_replaced(db: SimpleNamespace, tmp_path: Path) -> None:
    """``-o /dev/stdout`` or a named pipe: renaming over it would swap the pipe for a file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # so that the writer's open returns
    try:
        assert await export_to(db.path, fifo, states=["in_flight"]) == 1
        received = os.read(reader, 65536).decode()
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert list(csv.reader(io.StringIO(received, newline=""))) == [
        list(RECORD_COLUMNS),
        records_row(db, "job-b", 2),
    ]
    assert leftovers(tmp_path) == []


async def test_export_to_stdout(db: SimpleNamespace, capsys: pytest.CaptureFixture[str]) -> None:
    count = await export_to(db.path, None, fmt="jsonl", states=["in_flight"])
    assert count == 1
    assert json.loads(capsys.readouterr().out)["phone"] == "8123400101"


# ---------------------------------------------------------------- the database


async def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    out = io.StringIO()
    with pytest.raises(StoreError, match="no database here"):
        await export_records(tmp_path / "runner.db", out)
    assert list(tmp_path.iterdir()) == []
    assert out.getvalue() == ""


async def test_a_file_that_is_not_a_runner_database(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreError, match="not a runner database"):
        await export_records(other, io.StringIO())
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"x" * 8192)
    with pytest.raises(StoreError, match="corrupt"):
        await export_records(garbage, io.StringIO())


async def test_a_newer_schema_is_refused_and_left_alone(db: SimpleNamespace) -> None:
    with closing(sqlite3.connect(db.path)) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer"):
        await export_records(db.path, io.StringIO())
    with closing(sqlite3.connect(db.path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (99,)


async def test_an_older_schema_asks_for_an_upgrade_and_is_left_alone(
    db: SimpleNamespace,
) -> None:
    """A reader cannot migrate: it says which command upgrades the database."""
    with closing(sqlite3.connect(db.path)) as conn:
        conn.execute(f"PRAGMA user_version = {OLDEST_READABLE - 1}")
    expected = (
        f"database schema version {OLDEST_READABLE - 1} is older than this runner reads "
        f"({OLDEST_READABLE}); run `runner load` or `runner run` once to upgrade"
    )
    with pytest.raises(StoreError, match=re.escape(expected)):
        await export_records(db.path, io.StringIO())
    with closing(sqlite3.connect(db.path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (OLDEST_READABLE - 1,)
        conn.execute("PRAGMA user_version = 0")
    with pytest.raises(StoreError, match="not a runner database"):
        await export_records(db.path, io.StringIO())


async def test_export_reads_beside_an_open_writer(tmp_path: Path) -> None:
    """A run in progress keeps its Store open: the export sees every committed record."""
    folder = tmp_path / "odd ?#% name"
    folder.mkdir()
    async with await Store.open(folder / "runner.db") as store:
        job_id, _ = await add_job(store, folder, "job", "main", "C", [Row(1, "8123400000", None)])
        await send(store, job_id, "main", T0, answer("deleted", T0 + 1))
        out = io.StringIO()
        assert await export_records(folder / "runner.db", out, states=["deleted"]) == 1
        await insert_rows(store, job_id, 1, [Row(2, "8123400001", None)])
        assert await export_records(folder / "runner.db", io.StringIO()) == 2


class GoneAfter(io.TextIOBase):
    """An output whose reader goes away after ``lines`` writes, like ``runner export | head``."""

    def __init__(self, lines: int) -> None:
        self.left = lines

    def write(self, text: str) -> int:
        if self.left == 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.left -= 1
        return len(text)


async def test_a_reader_going_away_stops_the_export_cleanly(db: SimpleNamespace) -> None:
    """The cursor is closed before the connection, not later by the garbage collector."""
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: reported.append(context))
    with pytest.raises(BrokenPipeError):
        await export_records(db.path, GoneAfter(2), fmt="jsonl")
    gc.collect()
    for _ in range(5):
        await asyncio.sleep(0.01)
    gc.collect()
    assert reported == []


class Sink(io.TextIOBase):
    """A text output that keeps nothing, so only the export's own memory is measured."""

    def write(self, text: str) -> int:
        return len(text)


async def peak_memory(database: Path) -> tuple[int, int]:
    """(rows, peak bytes allocated by Python) of a records export of ``database``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        count = await export_records(database, Sink())
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


async def test_memory_does_not_grow_with_the_database(tmp_path: Path) -> None:
    peaks = []
    for size in (3_000, 30_000):
        path = tmp_path / f"{size}.db"
        async with await Store.open(path) as store:
            rows = [Row(i, f"8{i:09d}", None) for i in range(1, size + 1)]
            await add_job(store, tmp_path, f"job-{size}", "main", "C", rows)
        count, peak = await peak_memory(path)
        assert count == size
        peaks.append(peak)
    # Holding 30,000 rows would take about 15 MB; a stream holds one chunk at a time.
    assert peaks[1] < 1.5 * peaks[0], peaks
    assert peaks[1] < 2_000_000, peaks


def test_the_cli_offers_exactly_the_export_formats() -> None:
    from runner.cli import EXPORT_FORMATS
    from runner.reports.writing import FORMATS

    assert tuple(EXPORT_FORMATS) == tuple(FORMATS)
