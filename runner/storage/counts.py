"""How many records of a job are in each state: what the queue returns and the reports use.

One typed value from the store up: "how many are left", "how many answered" and the
sums of a run are properties here, never sums of string keys at each caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from runner.core.states import RecordState


@dataclass(frozen=True, slots=True)
class Counts:
    """Records in each state."""

    pending: int = 0
    in_flight: int = 0
    deleted: int = 0
    not_found: int = 0
    failed: int = 0
    invalid: int = 0
    cancelled: int = 0

    @classmethod
    def of(cls, states: Mapping[str, int]) -> Counts:
        """From ``{state: count}``; states the report does not know are left out."""
        return cls(**{state.value: states.get(state.value, 0) for state in RecordState})

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{s.value: self[s] + other[s] for s in RecordState})

    def __getitem__(self, state: RecordState) -> int:
        value: int = getattr(self, state.value)
        return value

    @property
    def total(self) -> int:
        return sum(self[state] for state in RecordState)

    @property
    def left(self) -> int:
        """Records still to send: pending, or in flight in a running process."""
        return self.pending + self.in_flight

    @property
    def finished(self) -> int:
        return self.total - self.left

    @property
    def answered(self) -> int:
        """Records the API answered for good: deleted or not found (what a guard judges)."""
        return self.deleted + self.not_found

    def settled(self, state: RecordState) -> Counts:
        """These counts after one pending record was answered into ``state``."""
        if state is RecordState.PENDING:
            return self
        # Field by field: dataclasses.replace costs three times as much, once per answer.
        values = {"pending": self.pending - 1, "in_flight": self.in_flight,
                  "deleted": self.deleted, "not_found": self.not_found, "failed": self.failed,
                  "invalid": self.invalid, "cancelled": self.cancelled}  # fmt: skip
        values[state.value] += 1
        return Counts(**values)

    @property
    def percent_done(self) -> float:
        return 100.0 * self.finished / self.total if self.total else 100.0


# What :meth:`runner.storage.queue.Queue.state_counts` returns: {job id: its counts}.
JobCounts = Mapping[int, Counts]


def of_job(counts: JobCounts, job_id: int) -> Counts:
    """A job's counts; zero everywhere for a job without records."""
    return counts.get(job_id, Counts())


def summed(counts: JobCounts, job_ids: Iterable[int]) -> Counts:
    """The counts of these jobs added up."""
    return sum((of_job(counts, job_id) for job_id in job_ids), Counts())
