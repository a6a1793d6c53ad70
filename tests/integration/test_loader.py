"""The loader: a job's phone format decides what is sent and so what is a duplicate."""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import closing
from pathlib import Path

import pytest

from runner.commands.loader import (
    LOAD_SWITCH_INTERVAL,
    all_invalid,
    check_inputs,
    load_job,
    load_jobs,
)
from runner.config import Config, JobConfig
from runner.core.errors import InputError
from runner.intake.inputs import InvalidRow, Row
from runner.storage.db.loading import LoadCounts
from runner.storage.store import Store

# Four spellings of one Indian mobile, another country's number, and a number
# of a length no Indian number has (but that cleaning alone accepts).
NUMBERS = """\
+91 98765 43210
098765-43210
9876543210
0091 98765 43210
+1 (555) 123-4567
12345678901234
"""


def job(input_path: Path, **settings: object) -> JobConfig:
    fields: dict[str, object] = {
        "name": "dnc",
        "account": "main",
        "campaign": "Sales",
        "input": input_path,
    }
    return JobConfig.model_validate(fields | settings)


async def records(store: Store) -> list[tuple[int, str, str, str | None]]:
    """(line, phone, state, reason slug) of every record, in file order."""
    return [
        (row[3], row[4], row[5], None if row[6] is None else row[6].split(":")[0])
        async for row in store.export_rows(["dnc"])
    ]


@pytest.mark.parametrize(
    ("settings", "counts", "expected"),
    [
        (
            {},
            LoadCounts(new=6),
            [
                (1, "+919876543210", "pending", None),
                (2, "09876543210", "pending", None),
                (3, "9876543210", "pending", None),
                (4, "00919876543210", "pending", None),
                (5, "+15551234567", "pending", None),
                (6, "12345678901234", "pending", None),
            ],
        ),
        (
            {"phone_format": "e164", "default_region": "IN"},
            LoadCounts(new=2, duplicate=3, invalid=1),
            [
                (1, "+919876543210", "pending", None),
                (5, "+15551234567", "pending", None),
                (6, "12345678901234", "invalid", "unparseable_number"),
            ],
        ),
        (
            {"phone_format": "national", "default_region": "IN"},
            LoadCounts(new=1, duplicate=3, invalid=2),
            [
                (1, "9876543210", "pending", None),
                (5, "+1 (555) 123-4567", "invalid", "other_country"),
                (6, "12345678901234", "invalid", "unparseable_number"),
            ],
        ),
    ],
    ids=["as_is", "e164", "national"],
)
async def test_spellings_of_one_number_are_one_record_after_formatting(
    tmp_path: Path,
    settings: dict[str, object],
    counts: LoadCounts,
    expected: list[tuple[int, str, str, str | None]],
) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text(NUMBERS, encoding="utf-8")
    async with await Store.open(tmp_path / "db") as store:
        loaded = await load_job(store, job(path, **settings))
        assert loaded.counts == counts
        assert await records(store) == expected


async def test_formatted_numbers_match_across_files_of_a_job(tmp_path: Path) -> None:
    """Identity is (job, number as sent): a later file in another spelling adds nothing."""
    first, second = tmp_path / "first.txt", tmp_path / "second.csv"
    first.write_text("+91 98765 43210\n", encoding="utf-8")
    second.write_text("phoneNumber\n098765 43210\n", encoding="utf-8")
    settings = {"phone_format": "e164", "default_region": "IN"}
    async with await Store.open(tmp_path / "db") as store:
        assert (await load_job(store, job(first, **settings))).counts == LoadCounts(new=1)
        again = await load_job(store, job(second, **settings))
        assert again.counts == LoadCounts(duplicate=1)
        assert await records(store) == [(1, "+919876543210", "pending", None)]


async def test_load_jobs_checks_every_input_before_loading_any(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.csv"
    good.write_text("9876543210\n", encoding="utf-8")
    bad.write_text("phone\n9876543211\n", encoding="utf-8")
    config = Config.model_validate(
        {
            "path": tmp_path / "jobs.yaml",
            "accounts": {
                "main": {"base_url": "http://localhost:1", "api_key_env": "K", "user_name": "u"}
            },
            "jobs": [
                {"name": "dnc", "campaign": "c", "input": good},
                {"name": "other", "campaign": "c", "input": bad},
            ],
        }
    )
    with pytest.raises(InputError, match="no column 'phoneNumber'"):
        check_inputs(config)
    async with await Store.open(tmp_path / "db") as store:
        with pytest.raises(InputError):
            await load_jobs(store, config)
        assert await records(store) == []


# ---------------------------------------------------------------- no valid row


def config_of(tmp_path: Path, *inputs: Path, **settings: object) -> Config:
    return Config.model_validate(
        {
            "path": tmp_path / "jobs.yaml",
            "accounts": {
                "main": {"base_url": "http://localhost:1", "api_key_env": "K", "user_name": "u"}
            },
            "jobs": [
                {"name": f"job{i}", "campaign": "c", "input": path, **settings}
                for i, path in enumerate(inputs)
            ],
        }
    )


async def test_a_job_without_a_valid_row_is_an_input_error_before_anything_loads(
    tmp_path: Path,
) -> None:
    good, bad = tmp_path / "good.txt", tmp_path / "bad.csv"
    good.write_text("9876543210\n", encoding="utf-8")
    bad.write_text("phoneNumber\nabc\n\n12\n9.18E+11\n++91\nx\n", encoding="utf-8")
    config = config_of(tmp_path, good, bad)
    with pytest.raises(InputError) as caught:
        check_inputs(config)
    assert str(caught.value) == (
        f"{bad}: job 'job1': none of its 5 rows is valid ("
        "line 2: not_a_number: unexpected character 'a'; "
        "line 4: too_short: 2 digits; at least 7 are needed; "
        "line 5: scientific_notation: 9.18E+11 looks like Excel scientific notation; "
        "format the column as text; and 2 more); nothing was loaded or sent"
    )
    async with await Store.open(tmp_path / "db") as store:
        with pytest.raises(InputError, match="none of its 5 rows is valid"):
            await load_jobs(store, config)
        assert [row async for row in store.export_rows(["job0"])] == []


def test_one_invalid_row_and_masked_numbers_in_the_reasons(tmp_path: Path) -> None:
    bad = tmp_path / "uk.txt"
    bad.write_text("+44 7911 123456\n", encoding="utf-8")
    config = config_of(tmp_path, bad, phone_format="national", default_region="IN")
    with pytest.raises(InputError) as caught:
        check_inputs(config)
    message = str(caught.value)
    assert "its only row is invalid (line 1: other_country: +44********56 has" in message
    assert "447911123456" not in message


@pytest.mark.parametrize(
    ("name", "content"),
    [("empty.txt", ""), ("header.csv", "phoneNumber\n"), ("comments.txt", "# none yet\n\n"),
     ("late.txt", "abc\n" * 1000 + "9876543210\n")],
)  # fmt: skip
def test_no_rows_or_one_valid_row_is_fine(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    check_inputs(config_of(tmp_path, path))


def test_the_scan_stops_at_the_first_valid_row() -> None:
    def rows() -> Iterator[Row | InvalidRow]:
        yield InvalidRow(1, "x", "not_a_number: x")
        yield Row(2, "9876543210", None)
        raise AssertionError("read past the first valid row")

    assert all_invalid(rows()) is None
    assert all_invalid([]) is None
    invalid = [InvalidRow(n, "x", f"empty: {n}") for n in range(1, 6)]
    assert all_invalid(invalid) == (5, invalid[:3])


# ---------------------------------------------------- an unchanged input is not read again


async def test_an_unchanged_input_is_not_read_again_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text("9876543210\n9876543211\n", encoding="utf-8")
    async with await Store.open(tmp_path / "db") as store:
        first = await load_job(store, job(path))
        assert (first.unchanged, first.counts) == (False, LoadCounts(new=2))
        again = await load_job(store, job(path))
        assert (again.unchanged, again.counts) == (True, LoadCounts())


async def test_only_invalid_lines_are_flagged_invalid_and_a_line_loads_once(
    tmp_path: Path,
) -> None:
    # The identity and invalid-line indexes are partial on the flag (migration 0009).
    lines = ["9876543210", "not a number", "9876543210", "not a number"]
    path = tmp_path / "numbers.txt"
    async with await Store.open(tmp_path / "db") as store:
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        counts = (await load_job(store, job(path))).counts
        assert (counts.new, counts.duplicate, counts.invalid) == (1, 1, 2)
        with path.open("a", encoding="utf-8") as more:
            more.write("9876543211\n")  # read again: the lines already loaded load once
        assert (await load_job(store, job(path))).counts.new == 1
    with closing(sqlite3.connect(tmp_path / "db")) as db:
        rows = db.execute("SELECT line, state, invalid FROM records ORDER BY line").fetchall()
    assert rows == [(1, "pending", 0), (2, "invalid", 1), (4, "invalid", 1), (5, "pending", 0)]


async def test_an_edit_of_the_same_size_is_read_again_and_its_new_numbers_enqueued(
    tmp_path: Path,
) -> None:
    """Size alone does not say "unchanged": the edited number must be deleted too."""
    path = tmp_path / "numbers.txt"
    path.write_text("9876543210\n9876543211\n", encoding="utf-8")
    async with await Store.open(tmp_path / "db") as store:
        await load_job(store, job(path))
        before = path.stat()
        path.write_text("9876543210\n9876543299\n", encoding="utf-8")
        # A later modification time whatever the file system's resolution.
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        assert path.stat().st_size == before.st_size
        edited = await load_job(store, job(path))
        assert (edited.unchanged, edited.counts) == (False, LoadCounts(new=1, duplicate=1))
        assert [phone for _, phone, _, _ in await records(store)] == [
            "9876543210", "9876543211", "9876543299"
        ]  # fmt: skip


class CutOffError(Exception):
    """Whatever ends a load half-way: a crash, a full disk, Ctrl-C."""


async def test_a_load_cut_off_half_way_resumes_on_the_unchanged_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file has not changed, but it was never loaded whole: it is read again."""
    path = tmp_path / "numbers.txt"
    path.write_text("".join(f"98765{i:05d}\n" for i in range(3)), encoding="utf-8")
    async with await Store.open(tmp_path / "db") as store:
        insert_all = store.insert_all

        async def cut_off(
            job_id: int,
            source_id: int,
            batches: AsyncIterator[Sequence[Row | InvalidRow]],
            campaigns: Sequence[str] = (),
        ) -> LoadCounts:
            async def two_rows() -> AsyncIterator[Sequence[Row | InvalidRow]]:
                yield (await anext(batches))[:2]

            # committed, then the load dies
            await insert_all(job_id, source_id, two_rows(), campaigns)
            raise CutOffError

        with monkeypatch.context() as patch:
            patch.setattr(store, "insert_all", cut_off)
            with pytest.raises(CutOffError):
                await load_job(store, job(path))
        assert len(await records(store)) == 2
        resumed = await load_job(store, job(path))
        assert (resumed.unchanged, resumed.counts) == (False, LoadCounts(new=1, duplicate=2))
        assert len(await records(store)) == 3
        assert (await load_job(store, job(path))).unchanged


async def test_a_load_hands_the_gil_over_quickly_and_puts_the_interval_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's thread waits for the GIL after every statement: while a file loads the
    switch interval is short, and afterwards it is what it was."""
    path = tmp_path / "numbers.txt"
    path.write_text(NUMBERS, encoding="utf-8")
    seen: list[float] = []
    before = sys.getswitchinterval()
    async with await Store.open(tmp_path / "db") as store:
        insert_all = store.insert_all

        async def watched(*args: object, **kwargs: object) -> LoadCounts:
            seen.append(sys.getswitchinterval())
            return await insert_all(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(store, "insert_all", watched)
        await load_job(store, job(path))
    assert seen == [LOAD_SWITCH_INTERVAL] and before > LOAD_SWITCH_INTERVAL
    assert sys.getswitchinterval() == before
