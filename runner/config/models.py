"""The typed configuration: the whole of jobs.yaml, its jobs, retries and guards.

Bounds on counts and durations are there so that no value, however absurd, reaches
arithmetic that overflows or a sleep that never ends: each is far above any real use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pydantic import Field, ValidationInfo, field_validator, model_validator

from runner.config.accounts import AccountConfig
from runner.config.fields import Located, Model, Text, context_value, resolve, shown, today
from runner.config.names import expand_date
from runner.core.errors import ConfigError
from runner.intake.inputs import SUPPORTED_SUFFIXES
from runner.intake.numbers import PhoneFormat, is_supported_region
from runner.storage.pg.url import Database, PgUrl, is_postgres, parse

MAX_ACCOUNTS: Final = 1000
MAX_JOBS: Final = 1000
MAX_ATTEMPTS: Final = 1000
MAX_BACKOFF_SECONDS: Final = 86_400.0  # a day
MAX_GUARD_SAMPLE: Final = 1_000_000


class RetryConfig(Model):
    """How transient errors are retried (HTTP 429 does not use up attempts)."""

    max_attempts: int = Field(8, ge=1, le=MAX_ATTEMPTS, strict=True)
    backoff_initial_seconds: float = Field(
        2.0, ge=0, le=MAX_BACKOFF_SECONDS, strict=True, allow_inf_nan=False
    )
    backoff_max_seconds: float = Field(
        300.0, ge=0, le=MAX_BACKOFF_SECONDS, strict=True, allow_inf_nan=False
    )
    # No usable answer for this long: a run stops the account (runner.sending.hopeless).
    give_up_after_seconds: float = Field(
        600.0, gt=0, le=MAX_BACKOFF_SECONDS, strict=True, allow_inf_nan=False
    )

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryConfig:
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise Located(
                ("backoff_max_seconds",),
                f"{self.backoff_max_seconds:g} is less than backoff_initial_seconds "
                f"({self.backoff_initial_seconds:g})",
            )
        return self


class NotFoundGuard(Model):
    """The setting of a job's not-found guard (``not_found_guard:``).

    When nearly every answer is "No Record Found" the numbers are almost surely
    spelled differently from the campaign's (a country code too many or too few):
    the job would finish "successfully" having deleted nothing. The guard stops
    such a job when more than ``max_ratio`` of its first ``sample`` answers are
    not_found, so the operator can check the phone format.
    """

    sample: int = Field(200, ge=1, le=MAX_GUARD_SAMPLE, strict=True)
    max_ratio: float = Field(0.9, gt=0, le=1, strict=True, allow_inf_nan=False)


class JobConfig(Model):
    """One input file to delete from one or several campaigns of one account."""

    name: Text
    account: Text
    # One campaign, or a list: every number becomes one record per campaign.
    campaign: str | list[str]  # checked by _campaign_list, so errors name jobs[N].campaign
    input: Path
    phone_column: Text = "phoneNumber"
    name_column: Text | None = None
    phone_format: PhoneFormat = PhoneFormat.AS_IS
    default_region: str | None = None
    not_found_guard: NotFoundGuard | None = None

    @field_validator("name")
    @classmethod
    def _expanded_name(cls, value: str, info: ValidationInfo) -> str:
        name = expand_date(value, today(info))
        # A job's name is its identity in the database: " x" and "x" must not both exist.
        if name != name.strip():
            raise ValueError(f"{shown(name)} has spaces around it")
        return name

    @field_validator("campaign", mode="before")
    @classmethod
    def _campaign_list(cls, value: Any) -> Any:
        """A campaign, or a non-empty list of distinct ones (a list of one is that one)."""
        names = value if isinstance(value, list) else [value]
        if not names:
            raise ValueError("an empty list: name at least one campaign")
        for name in names:
            if not isinstance(name, str):
                raise ValueError(f"expected a campaign name or a list of them (got {shown(name)})")
            if not name.strip():
                raise ValueError("must not be empty")
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"{shown(repeated[0])} is listed twice")
        return names[0] if len(names) == 1 else names

    @property
    def campaigns(self) -> tuple[str, ...]:
        """The campaigns the job deletes its numbers from, in the config's order."""
        return (self.campaign,) if isinstance(self.campaign, str) else tuple(self.campaign)

    @field_validator("phone_format", mode="before")
    @classmethod
    def _format_in_any_case(cls, value: Any) -> Any:
        """``E164`` means ``e164``: nobody should fail on case."""
        return value.lower() if isinstance(value, str) else value

    @field_validator("default_region")
    @classmethod
    def _known_region(cls, value: str | None) -> str | None:
        """An ISO 3166 code phonenumbers has data for, upper-cased (``in`` is ``IN``)."""
        if value is None:
            return None
        if not is_supported_region(value.upper()):
            raise ValueError(
                f"{shown(value)} is not a region with phone numbering data; use an ISO 3166 "
                "two-letter code such as IN, US or GB"
            )
        return value.upper()

    @field_validator("not_found_guard", mode="before")
    @classmethod
    def _guard_switch(cls, value: Any) -> Any:
        """``true`` is the guard with its defaults; ``false`` (like absent) is no guard."""
        if isinstance(value, bool):
            return {} if value else None
        if value is None or isinstance(value, dict | NotFoundGuard):
            return value
        raise ValueError(
            f"expected true, false or a mapping of sample and max_ratio (got {shown(value)})"
        )

    @model_validator(mode="after")
    def _region_for_format(self) -> JobConfig:
        """A region exactly when the format needs one: as_is would silently ignore it."""
        needs_region = self.phone_format is not PhoneFormat.AS_IS
        if needs_region and self.default_region is None:
            raise Located(
                ("default_region",), f"required with phone_format {self.phone_format} (e.g. IN)"
            )
        if not needs_region and self.default_region is not None:
            raise Located(
                ("default_region",),
                "has no effect with phone_format as_is; set phone_format to national or "
                "e164, or leave default_region out",
            )
        return self

    @field_validator("input")
    @classmethod
    def _known_type(cls, value: Path, info: ValidationInfo) -> Path:
        if value.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise ValueError(f"{shown(value.name)} is not a {', '.join(SUPPORTED_SUFFIXES)} file")
        return resolve(value, info)


def default_state_dir(environ: Mapping[str, str], home: Path) -> Path:
    """Where per-account lock files go when jobs.yaml does not say: the XDG state folder.

    ``$XDG_STATE_HOME/runner`` when it is set to an absolute path (the XDG rules say
    to ignore a relative one), else ``~/.local/state/runner``.
    """
    xdg = environ.get("XDG_STATE_HOME", "")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "runner"
    return home / ".local" / "state" / "runner"


class Config(Model):
    """The whole of jobs.yaml, with every path absolute."""

    path: Path
    # A path (SQLite) or a postgresql:// URL without a password (runner.storage.pg.url).
    database: Database = Field(Path("runner.db"), validate_default=True)
    # Or the name of an environment variable holding it: one config on several hosts,
    # each unit setting the URL (the password still comes from libpq's own places).
    database_env: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # Per-account lock files; not created at load. None in the file: the default.
    state_dir: Path = Field(None, validate_default=True)
    accounts: dict[str, AccountConfig]
    workers: int = Field(4, ge=1, le=64, strict=True)
    # PostgreSQL: at most this many accounts sent for by one process (None: unlimited).
    max_accounts: int | None = Field(None, ge=1, strict=True)
    # After a stop signal, requests still under way are abandoned after this long.
    stop_deadline_seconds: float = Field(20.0, gt=0, le=3600, strict=True, allow_inf_nan=False)
    retry: RetryConfig = RetryConfig()
    jobs: list[JobConfig]

    @model_validator(mode="before")
    @classmethod
    def _fill_in(cls, data: Any) -> Any:
        """Name each account after its key; give jobs the account when there is one."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        # "jobs:" with nothing under it: say "at least one job", not "not a list".
        if "accounts" in data and data["accounts"] is None:
            data["accounts"] = {}
        if "jobs" in data and data["jobs"] is None:
            data["jobs"] = []
        _check_counts(data)
        accounts = data.get("accounts")
        if isinstance(accounts, dict):
            data["accounts"] = {
                key: {"name": key, **value} if isinstance(value, dict) else value
                for key, value in accounts.items()
            }
            if isinstance(data.get("jobs"), list):
                data["jobs"] = _jobs_with_account(data["jobs"], list(accounts))
        return data

    @model_validator(mode="before")
    @classmethod
    def _database_from_environment(cls, data: Any, info: ValidationInfo) -> Any:
        """``database_env: NAME``: the database is what that variable holds."""
        if not isinstance(data, dict) or data.get("database_env") is None:
            return data
        name = data["database_env"]
        if "database" in data:
            raise Located(("database_env",), "give database or database_env, not both")
        environ = context_value(info, "environ")
        value = (environ if isinstance(environ, Mapping) else os.environ).get(str(name), "")
        if not value.strip():
            raise Located(("database_env",), f"environment variable {name} is not set")
        return {**data, "database": value.strip()}

    @field_validator("database", mode="before")
    @classmethod
    def _postgres_url(cls, value: Any) -> Any:
        return parse(value) if is_postgres(value) else value

    @field_validator("database")
    @classmethod
    def _resolve_database(cls, value: Database, info: ValidationInfo) -> Database:
        return value if isinstance(value, PgUrl) else resolve(value, info)

    @field_validator("state_dir", mode="before")
    @classmethod
    def _state_dir_or_default(cls, value: Any, info: ValidationInfo) -> Any:
        if value is not None:
            return value
        environ = context_value(info, "environ")
        try:
            home = Path.home()
        except RuntimeError:
            raise ValueError("no home folder to put lock files in; set state_dir") from None
        return default_state_dir(environ if isinstance(environ, Mapping) else os.environ, home)

    @field_validator("state_dir")
    @classmethod
    def _resolve_state_dir(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve(value, info)

    @field_validator("accounts")
    @classmethod
    def _some_accounts(cls, value: dict[str, AccountConfig]) -> dict[str, AccountConfig]:
        if not value:
            raise ValueError("at least one account is required")
        return value

    @field_validator("jobs")
    @classmethod
    def _some_jobs(cls, value: list[JobConfig], info: ValidationInfo) -> list[JobConfig]:
        if not value and (info.context or {}).get("jobs_required", True):
            raise ValueError("at least one job is required")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        """Checks across keys: account names, job accounts, unique job names."""
        for key, account in self.accounts.items():
            if account.name != key:
                raise Located(
                    ("accounts", key, "name"),
                    f"{shown(account.name)} differs from the account's key {shown(key)}; "
                    "leave it out",
                )
        seen: dict[str, int] = {}
        for index, job in enumerate(self.jobs):
            if job.account not in self.accounts:
                raise Located(
                    ("jobs", index, "account"),
                    f"unknown account {shown(job.account)} (accounts: {', '.join(self.accounts)})",
                )
            if job.name in seen:
                raise Located(
                    ("jobs", index, "name"),
                    f"duplicate job name {shown(job.name)} (also jobs[{seen[job.name]}])",
                )
            seen[job.name] = index
        return self

    def job(self, name: str) -> JobConfig:
        """The job called ``name``; ConfigError listing the jobs if there is none."""
        for job in self.jobs:
            if job.name == name:
                return job
        names = ", ".join(job.name for job in self.jobs)
        raise ConfigError(f"{self.path.name}: no job named {shown(name)} (jobs: {names})")


def _check_counts(data: dict[str, Any]) -> None:
    """Refuse more accounts or jobs than one file can sensibly hold, before validating them."""
    for key, limit in (("accounts", MAX_ACCOUNTS), ("jobs", MAX_JOBS)):
        value = data.get(key)
        if isinstance(value, dict | list) and len(value) > limit:
            raise Located(
                (key,), f"{len(value):,} {key}; at most {limit:,} fit in one file (split it)"
            )


def _jobs_with_account(jobs: list[Any], accounts: list[str]) -> list[Any]:
    """Jobs with ``account`` filled in when it may be left out (exactly one account)."""
    for index, job in enumerate(jobs):
        if isinstance(job, dict) and "account" not in job and len(accounts) > 1:
            raise Located(
                ("jobs", index, "account"),
                f"required when there are several accounts ({', '.join(map(str, accounts))})",
            )
    if len(accounts) != 1:
        return jobs
    return [
        {**job, "account": accounts[0]} if isinstance(job, dict) and "account" not in job else job
        for job in jobs
    ]
