"""A job loaded again: the same identity, a corrected campaign, or a refusal — decided
once for both backends (:class:`runner.storage.store.Store` and
:class:`runner.storage.pg.store.PgStore` take it in through their operator commands).

A job's name is its identity: its account, campaign and number format may not change,
because the records already queued were made for them. One way out: a job blocked for
``invalid_campaign`` with nothing answered yet takes the corrected campaign. Its account
identity follows the latest config that loads it (an operator who fixes ``base_url``
after a redirect stop loads the job again, and the sender then takes it).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any, Protocol

from runner.core.errors import ConfigError
from runner.core.logs import get_logger
from runner.core.states import BlockReason
from runner.storage.db.queries import Queries


def campaign_spelling(campaign: str | Sequence[str]) -> tuple[tuple[str, ...], str, str | None]:
    """(the campaigns, as shown and compared, the JSON list of a job of several or None)."""
    campaigns = (campaign,) if isinstance(campaign, str) else tuple(campaign)
    listed = json.dumps(campaigns) if len(campaigns) > 1 else None
    return campaigns, ", ".join(campaigns), listed  # each record holds its own campaign


def campaign_correctable(
    stored: tuple[str, str, str], state: str, reason: str | None, wanted: tuple[str, str, str]
) -> bool:
    """(account, campaign, number_format) as stored and as loaded now: only the campaign
    differs, and the job is blocked because the API refused its campaign."""
    same_rest = (stored[0], stored[2]) == (wanted[0], wanted[2])
    blocked = state == "blocked" and reason == BlockReason.INVALID_CAMPAIGN
    return same_rest and stored[1] != wanted[1] and blocked


class _Store(Protocol):
    """What the methods below use of a backend's store."""

    queries: Queries

    @property
    def path(self) -> object: ...

    async def _fetchone(self, sql: str, params: Any = ...) -> Any: ...

    def _transaction(self) -> contextlib.AbstractAsyncContextManager[Any]: ...

    async def _corrects_campaign(self, row: Sequence[Any], wanted: tuple[str, str, str]) -> bool:
        ...


class KnownJobs:
    """What a store does with a job whose name it already has (a row of ``job_by_name``:
    id, account, campaign, number_format, account_identity, state, blocked_reason)."""

    async def _known_job(
        self: _Store,
        row: Sequence[Any],
        name: str,
        wanted: tuple[str, str, str],
        identity: str | None,
    ) -> int:
        """The id of the job in ``row``, loaded again for (account, campaign, format):
        the campaign corrected if it may be, a ConfigError if anything else changed."""
        if await self._corrects_campaign(row, wanted):
            fix = {"id": row[0], "campaign": wanted[1]}
            async with self._transaction() as conn:
                await conn.execute(self.queries.correct_campaign, fix)
                await conn.execute(self.queries.correct_campaign_records, fix)
            get_logger().warning("campaign_corrected", job=name, was=row[2], now=wanted[1])
        elif tuple(row[1:4]) != wanted:
            raise ConfigError(
                f"job {name!r} is already in {self.path} with account {row[1]!r}, "
                f"campaign {row[2]!r} and phone format {row[3]!r}; a job's name is its "
                "identity: give the changed job another name"
            )
        if identity is not None and row[4] != identity:
            async with self._transaction() as conn:
                await conn.execute(
                    self.queries.set_job_identity, {"id": row[0], "account_identity": identity}
                )
        return int(row[0])

    async def _corrects_campaign(
        self: _Store, row: Sequence[Any], wanted: tuple[str, str, str]
    ) -> bool:
        """Whether loading the job with ``wanted`` corrects a mistyped campaign: blocked for
        invalid_campaign, same account and format, and nothing deleted with the old one."""
        stored = (row[1], row[2], row[3])
        if not campaign_correctable(stored, row[5], row[6], wanted):
            return False
        answered = await self._fetchone(self.queries.job_answered, {"id": row[0]})
        return answered is not None and not answered[0]
