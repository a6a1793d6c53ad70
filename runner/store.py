"""The SQLite queue: jobs, records, and the audit trail of every request.

One writer connection in autocommit mode; every write is either a single
statement (a claim, a release) or one ``BEGIN IMMEDIATE … COMMIT``, each taken
under an ``asyncio.Lock``, because coroutines sharing an aiosqlite connection
share its transaction (../shared/PITFALLS.md). Answers are group-committed.
WAL with ``synchronous=NORMAL`` keeps every commit through a process crash. A
result is committed before the record counts as done.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite

from runner.errors import ConfigError, StoreError
from runner.inputs import InvalidRow, Row

# How much of a response body the audit trail keeps.
BODY_LIMIT = 2000
# Rows sent to SQLite per executemany while loading, and per commit.
INSERT_BATCH = 5000
ROWS_PER_COMMIT = 200_000

MIGRATION_NAME = re.compile(r"^(\d+)_.*\.sql$")


@dataclass(frozen=True, slots=True)
class Job:
    id: int
    name: str
    account: str
    campaign: str
    state: str
    blocked_reason: str | None
    number_format: str = "as_is"
    guard_cleared: bool = False


@dataclass(frozen=True, slots=True)
class Claim:
    """A record taken for one request, and when that request starts."""

    record_id: int
    job_id: int
    phone: str
    name: str | None
    attempts: int
    account: str
    started_at: float


@dataclass(frozen=True, slots=True)
class Settlement:
    """Everything one answer changes, written in one transaction."""

    state: str
    reason: str | None
    attempts: int
    not_before: float
    http_status: int | None
    outcome: str
    message: str
    body: str
    finished_at: float
    block_job_reason: str | None = None
    stop_account: tuple[str, str] | None = None  # (account, message)


@dataclass(frozen=True, slots=True)
class LoadCounts:
    new: int = 0
    duplicate: int = 0
    invalid: int = 0

    def __add__(self, other: LoadCounts) -> LoadCounts:
        return LoadCounts(
            self.new + other.new,
            self.duplicate + other.duplicate,
            self.invalid + other.invalid,
        )


def migrations_dir() -> Path:
    """``runner/migrations`` in an installed wheel, ``migrations/`` in a checkout."""
    packaged = Path(__file__).with_name("migrations")
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "migrations"


def read_migrations(folder: Path) -> list[tuple[int, str]]:
    """Numbered migration scripts, in order: [(version, sql), ...]."""
    found = []
    for path in folder.iterdir():
        match = MIGRATION_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), path.read_text(encoding="utf-8")))
    found.sort()
    versions = [version for version, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"{folder}: migrations must be numbered 1..n without gaps: {versions}")
    return found


def describe(error: sqlite3.Error, database: Path | str) -> str:
    """A one-line explanation of an SQLite failure, with what to do about it."""
    text = str(error)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered:
        hint = "the file is corrupt or not a runner database; restore it or move it aside"
    elif "readonly" in lowered or "read-only" in lowered:
        hint = "the database (or its folder) is read-only; fix its permissions"
    elif "full" in lowered:
        hint = "the disk is full; free space and run again: results recorded so far are kept"
    elif "locked" in lowered or "busy" in lowered:
        hint = "another program holds the database; stop it and run again"
    elif "unable to open" in lowered:
        hint = "cannot open the file; check that its folder exists and is writable"
    else:
        hint = "SQLite error"
    return f"{database}: {hint} ({text})"


class Store:
    """The queue behind an interface: loading, claiming, settling, reporting."""

    def __init__(self, conn: aiosqlite.Connection, path: Path | str) -> None:
        self._conn = conn
        self.path = path
        self._write_lock: asyncio.Lock | None = None  # made inside the running loop
        self._unsettled: list[tuple[Claim, Settlement, asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None

    # -- opening -----------------------------------------------------------

    @classmethod
    async def open(cls, path: Path | str, *, create: bool = True) -> Store:
        """Open (and create or migrate) the database at ``path``; ``":memory:"`` works too."""
        if not create and str(path) != ":memory:" and not Path(path).exists():
            raise StoreError(f"{path}: no database here (run `runner load` or `runner run` first)")
        try:
            conn = await aiosqlite.connect(str(path), isolation_level=None)
        except sqlite3.Error as error:
            raise StoreError(describe(error, path)) from None
        store = cls(conn, path)
        try:
            await store._configure()
            await store._migrate(read_migrations(migrations_dir()))
        except sqlite3.Error as error:
            await conn.close()
            raise StoreError(describe(error, path)) from None
        except BaseException:
            await conn.close()
            raise
        return store

    async def close(self) -> None:
        if self._committer is not None:
            with contextlib.suppress(Exception):
                await self._committer  # answers already received are committed first
        await self._conn.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _configure(self) -> None:
        await self._conn.execute("PRAGMA busy_timeout = 5000")
        await self._conn.execute("PRAGMA journal_mode = WAL")
        await self._conn.execute("PRAGMA synchronous = NORMAL")
        await self._conn.execute("PRAGMA foreign_keys = ON")

    async def schema_version(self) -> int:
        async with self._conn.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def _migrate(self, migrations: Sequence[tuple[int, str]]) -> None:
        current = await self.schema_version()
        latest = migrations[-1][0] if migrations else 0
        if current > latest:
            raise StoreError(
                f"{self.path}: database schema version {current} is newer than this runner "
                f"knows ({latest}); upgrade runner"
            )
        for version, sql in migrations:
            if version > current:
                # executescript commits first; the script runs in its own transaction.
                await self._conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
                )

    def _lock(self) -> asyncio.Lock:
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    @contextlib.asynccontextmanager
    async def _single_statements(self) -> AsyncIterator[aiosqlite.Connection]:
        """Autocommit statements, kept out of another coroutine's open transaction."""
        async with self._lock(), self._errors_explained():
            yield self._conn

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction at a time on the shared writer connection."""
        async with self._lock(), self._errors_explained():
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                await self._conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself failed (a full disk): never leave it open.
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await self._conn.execute("ROLLBACK")
                raise

    @contextlib.asynccontextmanager
    async def _errors_explained(self) -> AsyncIterator[None]:
        """SQLite failures become a one-line StoreError naming the database and the cause."""
        try:
            yield
        except sqlite3.Error as error:
            raise StoreError(describe(error, self.path)) from None

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        async with self._errors_explained(), self._conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        async with self._errors_explained(), self._conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    # -- jobs and loading --------------------------------------------------

    async def ensure_job(
        self, name: str, account: str, campaign: str, number_format: str = "as_is"
    ) -> int:
        """The id of job ``name``, created if new.

        Its account, campaign and number format may not change: records already
        queued were made for them.
        """
        wanted = (account, campaign, number_format)
        row = await self._fetchone(
            "SELECT id, account, campaign, number_format FROM jobs WHERE name = ?", (name,)
        )
        if row is not None:
            if tuple(row[1:]) != wanted:
                raise ConfigError(
                    f"job {name!r} is already in {self.path} with account {row[1]!r}, "
                    f"campaign {row[2]!r} and phone format {row[3]!r}; a job's name is its "
                    "identity: give the changed job another name"
                )
            return int(row[0])
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO jobs (name, account, campaign, number_format, created_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (name, *wanted, time.time()),
            )
            return int(cursor.lastrowid or 0)

    async def source(self, job_id: int, path: Path) -> tuple[int, bool]:
        """(source id, already fully loaded unchanged) for an input file of a job."""
        stat = path.stat()
        row = await self._fetchone(
            "SELECT id, size, mtime_ns, loaded_at FROM sources WHERE job_id = ? AND path = ?",
            (job_id, str(path)),
        )
        if row is not None:
            unchanged = (row[1], row[2]) == (stat.st_size, stat.st_mtime_ns)
            return int(row[0]), unchanged and row[3] is not None
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO sources (job_id, path, size, mtime_ns) VALUES (?, ?, ?, ?)",
                (job_id, str(path), stat.st_size, stat.st_mtime_ns),
            )
            return int(cursor.lastrowid or 0), False

    async def mark_loaded(self, source_id: int, path: Path) -> None:
        stat = path.stat()
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE sources SET size = ?, mtime_ns = ?, loaded_at = ? WHERE id = ?",
                (stat.st_size, stat.st_mtime_ns, time.time(), source_id),
            )

    async def insert_rows(
        self, job_id: int, source_id: int, rows: Sequence[Row | InvalidRow]
    ) -> LoadCounts:
        """Enqueue one batch of parsed rows; rows already present are counted, not added."""
        async with self._transaction() as conn:
            return await self._insert(conn, job_id, source_id, rows)

    async def insert_all(
        self, job_id: int, source_id: int, batches: AsyncIterator[Sequence[Row | InvalidRow]]
    ) -> LoadCounts:
        """Enqueue a whole input, committing every ROWS_PER_COMMIT rows.

        Committing each 5,000-row batch rewrote the same index pages into the WAL
        again and again (a third of a million-row load); a crash mid-way loses at
        most the uncommitted part, which the next load inserts again.
        """
        counts = LoadCounts()
        uncommitted = 0
        async with self._lock(), self._errors_explained():
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                async for batch in batches:
                    counts += await self._insert(self._conn, job_id, source_id, batch)
                    uncommitted += len(batch)
                    if uncommitted >= ROWS_PER_COMMIT:
                        await self._conn.execute("COMMIT")
                        await self._conn.execute("BEGIN IMMEDIATE")
                        uncommitted = 0
                await self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await self._conn.execute("ROLLBACK")
                raise
        return counts

    @staticmethod
    async def _insert(
        conn: aiosqlite.Connection, job_id: int, source_id: int, rows: Sequence[Row | InvalidRow]
    ) -> LoadCounts:
        valid = [(job_id, source_id, r.line, r.phone, r.name) for r in rows if isinstance(r, Row)]
        invalid = [
            (job_id, source_id, r.line, r.raw, r.reason) for r in rows if isinstance(r, InvalidRow)
        ]
        before = conn.total_changes
        await conn.executemany(
            "INSERT OR IGNORE INTO records (job_id, source_id, line, phone, name) "
            "VALUES (?, ?, ?, ?, ?)",
            valid,
        )
        new = conn.total_changes - before
        await conn.executemany(
            "INSERT OR IGNORE INTO records (job_id, source_id, line, phone, state, reason) "
            "VALUES (?, ?, ?, ?, 'invalid', ?)",
            invalid,
        )
        return LoadCounts(new=new, duplicate=len(valid) - new, invalid=len(invalid))

    async def jobs(self, *, account: str | None = None) -> list[Job]:
        sql = (
            "SELECT id, name, account, campaign, state, blocked_reason, number_format, "
            "guard_cleared FROM jobs"
        )
        params: tuple[Any, ...] = ()
        if account is not None:
            sql += " WHERE account = ?"
            params = (account,)
        return [Job(*row) for row in await self._fetchall(sql + " ORDER BY id", params)]

    # -- running -----------------------------------------------------------

    async def recover_in_flight(self) -> int:
        """Records left ``in_flight`` by a run that died go back to pending (SPEC §5.2).

        Each gets an ``interrupted`` audit row started now: whether its request
        left is unknown, so it counts against the rate limit from this moment,
        which errs on the safe side.
        """
        async with self._transaction() as conn:
            await conn.execute(
                "INSERT INTO requests (record_id, job_id, account, started_at, outcome) "
                "SELECT r.id, r.job_id, j.account, ?, 'interrupted' FROM records r "
                "JOIN jobs j ON j.id = r.job_id WHERE r.state = 'in_flight'",
                (time.time(),),
            )
            cursor = await conn.execute(
                "UPDATE records SET state = 'pending' WHERE state = 'in_flight'"
            )
            return cursor.rowcount

    async def clear_account_stops(self) -> None:
        async with self._transaction() as conn:
            await conn.execute("DELETE FROM account_stops")

    async def recent_starts(self, account: str, since: float, limit: int) -> list[float]:
        """Start times of the latest requests of an account, oldest first."""
        rows = await self._fetchall(
            "SELECT started_at FROM requests WHERE account = ? AND started_at >= ? "
            "ORDER BY started_at DESC LIMIT ?",
            (account, since, limit),
        )
        return sorted(float(row[0]) for row in rows)

    async def claim(
        self, job_ids: Iterable[int], account: str, started_at: float | None = None
    ) -> Claim | None:
        """Take the next due record of the first job that has one: it turns ``in_flight``.

        ``started_at`` is when the request will start (default: now); it is
        written with the answer.
        """
        claims = await self.claim_many(job_ids, account, 1)
        if not claims:
            return None
        if started_at is None:
            return claims[0]
        return dataclasses.replace(claims[0], started_at=started_at)

    async def claim_many(self, job_ids: Iterable[int], account: str, count: int) -> list[Claim]:
        """Take up to ``count`` due records, from the first jobs that have them.

        Due retries go before fresh records, so a retry is not starved by a
        week-long queue; fresh records go in file order. One statement per job,
        so atomic without a transaction; claims start "now" until the caller
        knows its slot.
        """
        now = time.time()
        claims: list[Claim] = []
        async with self._single_statements() as conn:
            for job_id in job_ids:
                rows = await conn.execute_fetchall(
                    "UPDATE records SET state = 'in_flight' WHERE id IN ("
                    "  SELECT id FROM records WHERE job_id = ? AND state = 'pending'"
                    "  AND not_before <= ? ORDER BY not_before DESC, id LIMIT ?"
                    ") RETURNING id, job_id, phone, name, attempts, not_before",
                    (job_id, now, count - len(claims)),
                )
                # RETURNING comes in no particular order: put it back in claim order.
                for record_id, job, phone, name, attempts, _ in sorted(
                    rows, key=lambda row: (-row[5], row[0])
                ):
                    claims.append(Claim(record_id, job, phone, name, attempts, account, now))
                if len(claims) >= count:
                    break
        return claims

    async def next_due(self, job_ids: Sequence[int]) -> float | None:
        """When the earliest pending record of these jobs may be sent, or None if none is."""
        if not job_ids:
            return None
        marks = ",".join("?" * len(job_ids))
        row = await self._fetchone(
            f"SELECT MIN(not_before) FROM records WHERE state = 'pending' AND job_id IN ({marks})",
            tuple(job_ids),
        )
        return None if row is None or row[0] is None else float(row[0])

    async def settle(self, claim: Claim, s: Settlement) -> None:
        """Record the answer to one request: the record, its audit row, and any stop.

        Returns once committed. Answers arriving together are committed together
        (group commit): one transaction for many records costs about as much as one
        for a single record, which keeps the queue's overhead far below the API's.
        """
        done = asyncio.get_running_loop().create_future()
        # Its waiter may be cancelled (the run is stopping): the error is still seen.
        done.add_done_callback(lambda future: future.cancelled() or future.exception())
        self._unsettled.append((claim, s, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_settlements())
        await asyncio.shield(done)

    async def _commit_settlements(self) -> None:
        """Commit queued settlements, a batch per transaction, until none is left."""
        while self._unsettled:
            batch, self._unsettled = self._unsettled, []
            try:
                async with self._transaction() as conn:
                    await self._write_settlements(conn, [(c, s) for c, s, _ in batch])
            except BaseException as error:
                for _, _, done in batch:
                    done.set_exception(error)
                if not isinstance(error, Exception):
                    raise
            else:
                for _, _, done in batch:
                    done.set_result(None)

    @staticmethod
    async def _write_settlements(
        conn: aiosqlite.Connection, batch: Sequence[tuple[Claim, Settlement]]
    ) -> None:
        await conn.executemany(
            "UPDATE records SET state = ?, reason = ?, attempts = ?, not_before = ?, "
            "last_http_status = ?, last_message = ?, finished_at = ? WHERE id = ?",
            [
                (s.state, s.reason, s.attempts, s.not_before, s.http_status, s.message,
                 s.finished_at if s.state != "pending" else None, c.record_id)
                for c, s in batch
            ],
        )  # fmt: skip
        await conn.executemany(
            "INSERT INTO requests (record_id, job_id, account, started_at, finished_at, "
            "http_status, outcome, message, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (c.record_id, c.job_id, c.account, c.started_at, s.finished_at, s.http_status,
                 s.outcome, s.message, s.body[:BODY_LIMIT])
                for c, s in batch
            ],
        )  # fmt: skip
        for c, s in batch:
            if s.block_job_reason is not None:
                await conn.execute(
                    "UPDATE jobs SET state = 'blocked', blocked_reason = ? WHERE id = ?",
                    (s.block_job_reason, c.job_id),
                )
            if s.stop_account is not None:
                await conn.execute(
                    "INSERT OR REPLACE INTO account_stops (account, reason, message, stopped_at) "
                    "VALUES (?, 'auth', ?, ?)",
                    (s.stop_account[0], s.stop_account[1], s.finished_at),
                )

    async def block_job(self, job_id: int, reason: str) -> None:
        async with self._transaction() as conn:
            await conn.execute(
                "UPDATE jobs SET state = 'blocked', blocked_reason = ? WHERE id = ?",
                (reason, job_id),
            )

    async def release(self, claim: Claim) -> None:
        """Give a claimed record back unsent or unanswered (shutdown): no attempt used."""
        async with self._single_statements() as conn:
            await conn.execute(
                "UPDATE records SET state = 'pending' WHERE id = ? AND state = 'in_flight'",
                (claim.record_id,),
            )

    # -- operator commands -------------------------------------------------

    async def retry(self, job_name: str | None = None) -> tuple[int, int]:
        """Failed records and blocked jobs back to pending: (records, jobs) changed."""
        job_filter = (
            "" if job_name is None else " AND job_id = (SELECT id FROM jobs WHERE name = ?)"
        )
        params: tuple[Any, ...] = () if job_name is None else (job_name,)
        async with self._transaction() as conn:
            records = await conn.execute(
                "UPDATE records SET state = 'pending', reason = NULL, attempts = 0, "
                "not_before = 0, finished_at = NULL WHERE state = 'failed'" + job_filter,
                params,
            )
            # The operator has looked at a job the not-found guard stopped: let it run.
            await conn.execute(
                "UPDATE jobs SET guard_cleared = 1 WHERE state = 'blocked' "
                "AND blocked_reason LIKE 'not_found_guard%'"
                + ("" if job_name is None else " AND name = ?"),
                params,
            )
            jobs = await conn.execute(
                "UPDATE jobs SET state = 'active', blocked_reason = NULL WHERE state = 'blocked'"
                + ("" if job_name is None else " AND name = ?"),
                params,
            )
            return records.rowcount, jobs.rowcount

    # -- reporting ---------------------------------------------------------

    async def state_counts(self) -> dict[int, dict[str, int]]:
        """{job id: {state: count}} — served by the (job_id, state) index."""
        counts: dict[int, dict[str, int]] = {}
        for job_id, state, count in await self._fetchall(
            "SELECT job_id, state, COUNT(*) FROM records GROUP BY job_id, state"
        ):
            counts.setdefault(job_id, {})[state] = count
        return counts

    async def failure_reasons(self) -> dict[int, dict[str, int]]:
        """{job id: {reason: count}} over failed records."""
        reasons: dict[int, dict[str, int]] = {}
        for job_id, reason, count in await self._fetchall(
            "SELECT job_id, COALESCE(reason, 'unknown'), COUNT(*) FROM records "
            "WHERE state = 'failed' GROUP BY job_id, reason"
        ):
            reasons.setdefault(job_id, {})[reason] = count
        return reasons

    async def recent_activity(self, since: float) -> dict[int, tuple[int, float]]:
        """{job id: (requests answered since ``since``, first start among them)}."""
        rows = await self._fetchall(
            "SELECT j.id, COUNT(q.id), MIN(q.started_at) FROM jobs j LEFT JOIN requests q"
            " ON q.job_id = j.id AND q.started_at >= ? AND q.finished_at IS NOT NULL"
            " GROUP BY j.id",
            (since,),
        )
        return {int(job_id): (int(count), float(first)) for job_id, count, first in rows if count}

    async def last_activity(self) -> dict[int, float]:
        """{job id: time of its latest request start}."""
        rows = await self._fetchall(
            "SELECT id, (SELECT MAX(started_at) FROM requests WHERE job_id = jobs.id) FROM jobs"
        )
        return {int(job_id): float(at) for job_id, at in rows if at is not None}

    async def account_stops(self) -> dict[str, tuple[str, str | None, float]]:
        rows = await self._fetchall(
            "SELECT account, reason, message, stopped_at FROM account_stops"
        )
        return {row[0]: (row[1], row[2], row[3]) for row in rows}

    async def export_rows(
        self, job_name: str | None = None, state: str | None = None
    ) -> AsyncIterator[tuple[Any, ...]]:
        """One tuple per record, in job and file order (see EXPORT_COLUMNS)."""
        sql = (
            "SELECT j.name, j.campaign, s.path, r.line, r.phone, r.state, r.reason, r.attempts, "
            "r.last_http_status, r.last_message, r.finished_at FROM records r "
            "JOIN jobs j ON j.id = r.job_id JOIN sources s ON s.id = r.source_id WHERE 1 = 1"
        )
        params: list[Any] = []
        if job_name is not None:
            sql += " AND j.name = ?"
            params.append(job_name)
        if state is not None:
            sql += " AND r.state = ?"
            params.append(state)
        async with (
            self._errors_explained(),
            self._conn.execute(sql + " ORDER BY r.job_id, r.id", params) as cursor,
        ):
            async for row in cursor:
                yield tuple(row)


EXPORT_COLUMNS = (
    "job",
    "campaign",
    "file",
    "line",
    "phone",
    "state",
    "reason",
    "attempts",
    "last_http_status",
    "last_message",
    "finished_at",
)
