"""How long a load keeps the write lock before it commits: it adapts to the senders.

A sender draining the same database (another process holding its ``.lock``) must
never wait long for its own commits: the load then commits every ``SHORT``. With
no sender there, each commit only costs (WAL frames of index pages rewritten, an
fsync at each checkpoint): the load then commits every ``LONG``, still short
enough that a writer of another process (``retry``, a second ``load``) gets in
well within its 5 s. A writer of the same process (a second store) that waits for
the lock makes the load commit after its current batch
(runner.storage.db.connection.writers_waiting). The sender is looked for before
every batch, so one that starts mid-load is noticed within a batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from runner.storage.db.queries import Q
from runner.storage.lock import holder_pid


@dataclass(frozen=True, slots=True)
class Cadence:
    rows: int  # commit once this many rows are in the transaction
    seconds: float  # or once it has held the write lock this long
    # Its connection does not checkpoint by itself while it loads (wal_autocheckpoint 0):
    # it checkpoints after every n-th commit, and at the end with ``final``. Beside a
    # sender, after each commit, as before (else the sender's next commit would copy what
    # the load wrote); alone, each checkpoint rewrote the same index pages into the
    # database and synced it, so fewer, with the WAL growing meanwhile (for a million
    # rows, to about the size of the database).
    checkpoint_every: int
    final: str

    def due(self, rows: int, started: float, now: float) -> bool:
        return rows >= self.rows or now - started >= self.seconds


SHORT: Final = Cadence(rows=20_000, seconds=0.1, checkpoint_every=1, final=Q.checkpoint)
# Alone, the WAL file is emptied at the end (it would otherwise stay at its largest).
LONG: Final = Cadence(rows=250_000, seconds=0.9, checkpoint_every=4, final=Q.checkpoint_truncate)


def choose(sender_pid: int | None, own_pid: int) -> Cadence:
    """SHORT while another process drains the database, else LONG."""
    return SHORT if sender_pid is not None and sender_pid != own_pid else LONG


def for_database(database: Path | str) -> Cadence:
    """The cadence beside whoever drains ``database`` now (``:memory:``: nobody)."""
    if str(database) == ":memory:":
        return LONG
    return choose(holder_pid(Path(database)), os.getpid())
