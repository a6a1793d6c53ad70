"""``jobs.yaml``: loading, validation and the typed configuration (SPEC §2).

Every problem becomes one :class:`~runner.errors.ConfigError` line naming the file,
the line, the key path and what is wrong, e.g.::

    jobs.yaml:14: jobs[1].rate_limit: '100 per min' is not N/s, N/min or N/h

so that ``runner load`` and ``runner run`` stop with exit 2 before anything is sent.
Line numbers come from the composed YAML node tree, walked along the ``loc`` of the
pydantic error. API keys are never read here (``status`` and ``load`` do not need
them) and no message ever contains one: :meth:`AccountConfig.api_key` reads the key
only when a run is about to send.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from runner import protocol
from runner.errors import ConfigError
from runner.inputs import SUPPORTED_SUFFIXES
from runner.numbers import PhoneFormat, is_supported_region

# ---------------------------------------------------------------- rate limits

_UNIT_SECONDS: Final = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hour", "hours"), 3600.0),
}
_UNIT_NAMES: Final = {1.0: "s", 60.0: "min", 3600.0: "h"}
# "100/min", "5/s", "1/2s", "3/0.5s", "100 / 1 hour".
_RATE: Final = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d*)?|\.\d+)?\s*([a-z]+)\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` requests start in any window of ``period_seconds``."""

    count: int
    period_seconds: float

    def __post_init__(self) -> None:
        if self.count <= 0 or not 0 < self.period_seconds < float("inf"):
            raise ValueError(
                f"rate limit {self.count}/{self.period_seconds}s must allow at least "
                "1 request in a positive period"
            )

    def __str__(self) -> str:
        """The notation of jobs.yaml, so messages show what the operator wrote."""
        unit = _UNIT_NAMES.get(self.period_seconds)
        if unit is not None:
            return f"{self.count}/{unit}"
        period = self.period_seconds
        return f"{self.count}/{int(period) if period.is_integer() else period}s"


def parse_rate_limit(text: str) -> RateLimit:
    """``N/s``, ``N/min``, ``N/h`` (or ``N/2s``, ``N/0.5s``, ``N/hour``...) as a RateLimit.

    Raises ValueError with a message that quotes ``text``; shared by jobs.yaml,
    the CLI and the sandbox so that one notation works everywhere.
    """
    match = _RATE.fullmatch(text)
    unit = _UNIT_SECONDS.get(match.group(3).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(f"{text!r} is not N/s, N/min or N/h (e.g. 100/min)")
    period = float(match.group(2) or 1) * unit
    try:
        return RateLimit(int(match.group(1)), period)
    except ValueError:
        raise ValueError(f"{text!r} must allow at least 1 request in a positive period") from None


def _to_rate_limit(value: object) -> RateLimit:
    """Pydantic hook: YAML gives text; Python callers may pass a RateLimit."""
    return value if isinstance(value, RateLimit) else parse_rate_limit(str(value))


RateLimitField = Annotated[RateLimit, PlainValidator(_to_rate_limit), PlainSerializer(str)]

DEFAULT_RATE_LIMIT: Final = RateLimit(100, 60.0)  # the vendor's documented limit (SPEC §1)

# ---------------------------------------------------------------- models


class _Located(ValueError):
    """A validator's error about a key below the model that raised it.

    Pydantic reports a model validator's error at the model itself; ``loc`` says
    which key (relative to that model) is wrong, so the message and line number
    point at it.
    """

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class _Model(BaseModel):
    """Unknown keys are errors (a typo must not silently become a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _base_dir(info: ValidationInfo) -> Path:
    """The folder relative paths are resolved against: the config file's folder."""
    context = info.context if isinstance(info.context, dict) else {}
    base = context.get("base_dir")
    return base if isinstance(base, Path) else Path.cwd()


def _today(info: ValidationInfo) -> date:
    """The date ``{date}`` in job names stands for: load_config's ``today``, else today."""
    context = info.context if isinstance(info.context, dict) else {}
    today = context.get("today")
    return today if isinstance(today, date) else date.today()


def _resolve(value: Path, info: ValidationInfo) -> Path:
    """``value`` made absolute against the config folder (``~`` expanded)."""
    return (_base_dir(info) / value.expanduser()).resolve()


def _require_text(value: str) -> str:
    """Reject blank text, which YAML gives for ``key: ''`` or ``key: "  "``."""
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Text = Annotated[str, AfterValidator(_require_text)]


_EXAMPLE_HOST: Final = "in1-ccaas-api.ozonetel.com"


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: traffic that never leaves the machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_base_url(url: str) -> str:
    """An http(s) server URL without trailing slash; plain http only to loopback.

    The API key travels in a header, so over plain http to a remote host it would
    be readable by anyone on the path.
    """
    parts = urlsplit(url)
    # Checked first, and without quoting the URL: it may hold a password.
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL such as https://{_EXAMPLE_HOST}")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} must not have a query (?...) or fragment (#...)")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"plain http:// to {parts.hostname} would send the API key in clear; use https:// "
            "(http:// is accepted only for localhost, 127.0.0.0/8 and ::1)"
        )
    if parts.path.rstrip("/").endswith(protocol.PATH):
        raise ValueError(f"give the server only: leave out {protocol.PATH}")
    return url.rstrip("/")


_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class AccountConfig(_Model):
    """One CloudAgent account: where to send, as whom, how fast."""

    name: Text
    base_url: str
    api_key_env: str | None = None
    api_key_file: Path | None = None
    user_name: Text
    rate_limit: RateLimitField = DEFAULT_RATE_LIMIT
    timeout_seconds: float = Field(30.0, gt=0, strict=True, allow_inf_nan=False)

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        return _check_base_url(value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # The value is not quoted back: a key pasted here by mistake must not be echoed.
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError(
                "must be the name of an environment variable (letters, digits, _), "
                "not the key itself"
            )
        return value

    @field_validator("api_key_file")
    @classmethod
    def _resolve_key_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve(value, info)

    @model_validator(mode="after")
    def _one_key_source(self) -> AccountConfig:
        if (self.api_key_env is None) == (self.api_key_file is None):
            where: tuple[str, ...] = () if self.api_key_env is None else ("api_key_file",)
            raise _Located(where, "give exactly one of api_key_env or api_key_file")
        return self

    def api_key(self) -> str:
        """The account's API key, read now from the environment or the key file.

        Raises ConfigError naming the variable or file (never the value) when the
        key is missing, empty or unreadable.
        """
        if self.api_key_env is not None:
            source = f"environment variable {self.api_key_env}"
            value = os.environ.get(self.api_key_env)
            if value is None:
                raise ConfigError(f"account {self.name!r}: {source} is not set")
        else:
            assert self.api_key_file is not None  # guaranteed by _one_key_source
            source = f"api_key_file {self.api_key_file}"
            value = _read_key_file(self.api_key_file, f"account {self.name!r}: {source}")
        return _checked_key(value.strip(), f"account {self.name!r}: {source}")


def _read_key_file(path: Path, what: str) -> str:
    """The key file's text; errors name the file and never show its content."""
    try:
        return path.read_text(encoding="utf-8-sig")  # Windows editors add a BOM
    except UnicodeDecodeError:
        raise ConfigError(f"{what} is not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{what} cannot be read: {exc.strerror or type(exc).__name__}") from None


def _checked_key(key: str, what: str) -> str:
    """Refuse keys that cannot be a header value, without showing them."""
    if not key:
        raise ConfigError(f"{what} is empty")
    if any(char.isspace() for char in key):
        raise ConfigError(f"{what} contains whitespace inside the key")
    return key


class RetryConfig(_Model):
    """How transient errors are retried (HTTP 429 does not use up attempts)."""

    max_attempts: int = Field(8, ge=1, strict=True)
    backoff_initial_seconds: float = Field(2.0, ge=0, strict=True, allow_inf_nan=False)
    backoff_max_seconds: float = Field(300.0, ge=0, strict=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> RetryConfig:
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise _Located(
                ("backoff_max_seconds",),
                f"{self.backoff_max_seconds:g} is less than backoff_initial_seconds "
                f"({self.backoff_initial_seconds:g})",
            )
        return self


# ---------------------------------------------------------------- job names

_DATE_FIELD: Final = "date"
_DEFAULT_DATE_FORMAT: Final = "%Y-%m-%d"


def expand_date(template: str, today: date) -> str:
    """``template`` with each ``{date}`` (``YYYY-MM-DD``) or ``{date:%Y%m%d}`` filled in.

    A job's name is its identity, so a nightly batch needs a new name every night;
    this lets one jobs.yaml serve every night from cron. ``{{`` and ``}}`` are literal
    braces. Raises ValueError for unbalanced braces, any other placeholder, and a
    format with no ``%`` code (``{date:YYYYMMDD}`` would be a constant name).
    """
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:
        raise ValueError(
            f"{template!r} has an unbalanced {{ or }} (write {{{{ or }}}} for a literal brace)"
        ) from None
    expanded = []
    for literal, field, spec, conversion in parts:
        expanded.append(literal)
        if field is not None:
            expanded.append(_date_text(template, field, spec, conversion, today))
    return "".join(expanded)


def _date_text(
    template: str, field: str, spec: str | None, conversion: str | None, today: date
) -> str:
    """What one placeholder of ``template`` stands for, or ValueError."""
    if field != _DATE_FIELD or conversion is not None:
        shown = field + (f"!{conversion}" if conversion else "")
        raise ValueError(
            f"{template!r}: unknown placeholder {{{shown}}}; only {{date}} and "
            "{date:FORMAT} (e.g. {date:%Y%m%d}) are expanded"
        )
    if spec and "%" not in spec:
        raise ValueError(
            f"{template!r}: {{date:{spec}}} has no strftime % code (e.g. {{date:%Y%m%d}})"
        )
    return today.strftime(spec or _DEFAULT_DATE_FORMAT)


# ---------------------------------------------------------------- jobs


class NotFoundGuard(_Model):
    """The setting of a job's not-found guard (``not_found_guard:``).

    When nearly every answer is "No Record Found" the numbers are almost surely
    spelled differently from the campaign's (a country code too many or too few):
    the job would finish "successfully" having deleted nothing. The guard stops
    such a job when more than ``max_ratio`` of its first ``sample`` answers are
    not_found, so the operator can check the phone format.
    """

    sample: int = Field(200, ge=1, strict=True)
    max_ratio: float = Field(0.9, gt=0, le=1, strict=True, allow_inf_nan=False)


class JobConfig(_Model):
    """One input file to delete from one campaign of one account."""

    name: Text
    account: Text
    campaign: Text
    input: Path
    phone_column: Text = "phoneNumber"
    name_column: Text | None = None
    phone_format: PhoneFormat = PhoneFormat.AS_IS
    default_region: str | None = None
    not_found_guard: NotFoundGuard | None = None

    @field_validator("name")
    @classmethod
    def _expanded_name(cls, value: str, info: ValidationInfo) -> str:
        name = expand_date(value, _today(info))
        # A job's name is its identity in the database: " x" and "x" must not both exist.
        if name != name.strip():
            raise ValueError(f"{name!r} has spaces around it")
        return name

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
                f"{value!r} is not a region with phone numbering data; use an ISO 3166 "
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
            f"expected true, false or a mapping of sample and max_ratio (got {_shown(value)})"
        )

    @model_validator(mode="after")
    def _region_for_format(self) -> JobConfig:
        """A region exactly when the format needs one: as_is would silently ignore it."""
        needs_region = self.phone_format is not PhoneFormat.AS_IS
        if needs_region and self.default_region is None:
            raise _Located(
                ("default_region",), f"required with phone_format {self.phone_format} (e.g. IN)"
            )
        if not needs_region and self.default_region is not None:
            raise _Located(
                ("default_region",),
                "has no effect with phone_format as_is; set phone_format to national or "
                "e164, or leave default_region out",
            )
        return self

    @field_validator("input")
    @classmethod
    def _known_type(cls, value: Path, info: ValidationInfo) -> Path:
        if value.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise ValueError(f"{value.name!r} is not a {', '.join(SUPPORTED_SUFFIXES)} file")
        return _resolve(value, info)


class Config(_Model):
    """The whole of jobs.yaml, with every path absolute."""

    path: Path
    database: Path = Field(Path("runner.db"), validate_default=True)
    accounts: dict[str, AccountConfig]
    workers: int = Field(4, ge=1, le=64, strict=True)
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
        accounts = data.get("accounts")
        if isinstance(accounts, dict):
            data["accounts"] = {
                key: {"name": key, **value} if isinstance(value, dict) else value
                for key, value in accounts.items()
            }
            if isinstance(data.get("jobs"), list):
                data["jobs"] = _jobs_with_account(data["jobs"], list(accounts))
        return data

    @field_validator("database")
    @classmethod
    def _resolve_database(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve(value, info)

    @field_validator("accounts")
    @classmethod
    def _some_accounts(cls, value: dict[str, AccountConfig]) -> dict[str, AccountConfig]:
        if not value:
            raise ValueError("at least one account is required")
        return value

    @field_validator("jobs")
    @classmethod
    def _some_jobs(cls, value: list[JobConfig]) -> list[JobConfig]:
        if not value:
            raise ValueError("at least one job is required")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        """Checks across keys: account names, job accounts, unique job names."""
        for key, account in self.accounts.items():
            if account.name != key:
                raise _Located(
                    ("accounts", key, "name"),
                    f"{account.name!r} differs from the account's key {key!r}; leave it out",
                )
        seen: dict[str, int] = {}
        for index, job in enumerate(self.jobs):
            if job.account not in self.accounts:
                raise _Located(
                    ("jobs", index, "account"),
                    f"unknown account {job.account!r} (accounts: {', '.join(self.accounts)})",
                )
            if job.name in seen:
                raise _Located(
                    ("jobs", index, "name"),
                    f"duplicate job name {job.name!r} (also jobs[{seen[job.name]}])",
                )
            seen[job.name] = index
        return self

    def job(self, name: str) -> JobConfig:
        """The job called ``name``; ConfigError listing the jobs if there is none."""
        for job in self.jobs:
            if job.name == name:
                return job
        names = ", ".join(job.name for job in self.jobs)
        raise ConfigError(f"{self.path.name}: no job named {name!r} (jobs: {names})")


def _jobs_with_account(jobs: list[Any], accounts: list[str]) -> list[Any]:
    """Jobs with ``account`` filled in when it may be left out (exactly one account)."""
    for index, job in enumerate(jobs):
        if isinstance(job, dict) and "account" not in job and len(accounts) > 1:
            raise _Located(
                ("jobs", index, "account"),
                f"required when there are several accounts ({', '.join(map(str, accounts))})",
            )
    if len(accounts) != 1:
        return jobs
    return [
        {**job, "account": accounts[0]} if isinstance(job, dict) and "account" not in job else job
        for job in jobs
    ]


# ---------------------------------------------------------------- loading


def load_config(path: Path, *, today: date | None = None) -> Config:
    """Read and validate jobs.yaml; ConfigError (one line, with file and line) if unusable.

    ``today`` is the local date ``{date}`` in job names stands for (tests fix it).
    """
    display = str(path)
    text = _read_config_text(path, display)
    root, data = _parse_yaml(text, display)
    if root is None or data is None:
        raise ConfigError(f"{display}: the file is empty (see jobs.example.yaml)")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{display}:{_line(root)}: the top level must be a mapping with 'accounts' and "
            f"'jobs', not a {_yaml_kind(data)}"
        )
    duplicate = _find_duplicate_key(root, (), set())
    if duplicate is not None:
        loc, line = duplicate
        raise ConfigError(f"{display}:{line}: {_key_path(loc)}: given twice in the same mapping")
    if "path" in data:
        raise ConfigError(_located(display, root, ("path",), _unknown_key(("path",))))
    absolute = path.expanduser().resolve()
    try:
        context = {"base_dir": absolute.parent, "today": date.today() if today is None else today}
        return Config.model_validate({**data, "path": absolute}, context=context)
    except ValidationError as exc:
        raise ConfigError(_validation_message(display, root, exc.errors()[0])) from None


def _read_config_text(path: Path, display: str) -> str:
    """The file's text, or a ConfigError saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8-sig")  # Windows editors add a BOM
    except FileNotFoundError:
        raise ConfigError(f"{display}: no such file (see jobs.example.yaml)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{display}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read: {exc.strerror or exc}") from None


def _parse_yaml(text: str, display: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data, from one safe parse."""
    loader = _yaml_loader(text, display)
    try:
        root = loader.get_single_node()
        return root, None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{display}:{mark.line + 1}" if mark is not None else display
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{display}: invalid YAML: {' '.join(str(exc).split())}") from None
    finally:
        loader.dispose()


def _yaml_loader(text: str, display: str) -> yaml.SafeLoader:
    """A loader for ``text``; PyYAML refuses control characters when it is created."""
    try:
        return yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, int(exc.position)) + 1
        raise ConfigError(
            f"{display}:{line}: invalid YAML: control character U+{int(exc.character):04X} "
            "(is this a text file?)"
        ) from None


def _find_duplicate_key(
    node: yaml.Node, loc: tuple[str | int, ...], seen: set[int]
) -> tuple[tuple[str | int, ...], int] | None:
    """Path and line of the first key given twice in a mapping (YAML keeps the last silently)."""
    if id(node) in seen:  # an alias back to an ancestor: already walked
        return None
    seen.add(id(node))
    children: list[tuple[str | int, yaml.Node]] = []
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in keys:
                return (*loc, key), _line(key_node)
            keys.add(key)
            children.append((key, value_node))
    elif isinstance(node, yaml.SequenceNode):
        children = list(enumerate(node.value))
    for step, child in children:
        found = _find_duplicate_key(child, (*loc, step), seen)
        if found is not None:
            return found
    return None


def _validation_message(display: str, root: yaml.Node, error: ErrorDetails) -> str:
    """One line for the first pydantic error, located in the file."""
    loc = tuple(error["loc"])
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _Located):
        loc = (*loc, *cause.loc)
    return _located(display, root, loc, _problem(error, loc, cause))


def _located(display: str, root: yaml.Node, loc: tuple[str | int, ...], problem: str) -> str:
    """``file:line: key.path: problem``; the key path is left out for the top level."""
    where = f"{display}:{_line_at(root, loc)}"
    return f"{where}: {_key_path(loc)}: {problem}" if loc else f"{where}: {problem}"


def _line_at(root: yaml.Node, loc: tuple[str | int, ...]) -> int:
    """Line of the deepest node along ``loc`` that exists (a missing key: its mapping)."""
    node, line = root, _line(root)
    for step in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next((kv for kv in node.value if str(kv[0].value) == str(step)), None)
            if entry is None:
                break
            line, node = _line(entry[0]), entry[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if not 0 <= step < len(node.value):
                break
            node = node.value[step]
            line = _line(node)
        else:
            break
    return line


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _key_path(loc: tuple[str | int, ...]) -> str:
    """``("jobs", 1, "rate_limit")`` as ``jobs[1].rate_limit``."""
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else step
    return text


# Keys whose values are never quoted back: a key pasted into them must not be shown.
_NEVER_SHOWN: Final = frozenset({"api_key_env", "api_key_file"})
_FRIENDLY: Final = {
    "model_type": "expected a mapping (key: value lines)",
    "model_attributes_type": "expected a mapping (key: value lines)",
    "dict_type": "expected a mapping (key: value lines)",
    "list_type": "expected a list (lines starting with '- ')",
}


def _problem(error: ErrorDetails, loc: tuple[str | int, ...], cause: object) -> str:
    """What is wrong, in words an operator can act on."""
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return _unknown_key(loc)
    if isinstance(cause, ValueError):
        return str(cause)
    shown = bool(loc) and loc[-1] not in _NEVER_SHOWN
    if kind == "string_type":
        read_as = f"{_shown(value)} as {_yaml_kind(value)}" if shown else _yaml_kind(value)
        return f"expected text, but YAML read {read_as}; put the value in quotes"
    message = _FRIENDLY.get(kind, error["msg"][:1].lower() + error["msg"][1:])
    if shown and isinstance(value, str | int | float | bool):
        message += f" (got {_shown(value)})"
    return message


def _shown(value: object) -> str:
    """A value as the operator wrote it: text quoted, dates and numbers plain."""
    return repr(value) if isinstance(value, str) else str(value)


def _yaml_kind(value: object) -> str:
    """A YAML-ish name for a Python value's type, for messages."""
    if value is None:
        return "nothing (null)"
    return _YAML_KINDS.get(type(value), type(value).__name__)


_YAML_KINDS: Final[dict[type, str]] = {dict: "mapping", list: "list", str: "text"}


# Fields filled in by the loader, not written in the file.
_FILLED_IN: Final[dict[type[BaseModel], frozenset[str]]] = {
    Config: frozenset({"path"}),
    AccountConfig: frozenset({"name"}),
}
_KEY_WORDS: Final = re.compile(r"api[_-]?key|key|token|secret|password", re.IGNORECASE)


def _unknown_key(loc: tuple[str | int, ...]) -> str:
    """Name the unknown key and suggest the likely intended one."""
    key = str(loc[-1])
    message = f"unknown key {key!r}"
    if _KEY_WORDS.fullmatch(key):
        return f"{message}: the API key never goes in this file; use api_key_env or api_key_file"
    allowed = _allowed_keys(loc[:-1])
    close = difflib.get_close_matches(key, allowed, n=1)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message} (keys: {', '.join(allowed)})" if allowed else message


def _allowed_keys(parent: tuple[str | int, ...]) -> list[str]:
    """Keys the file may give in the mapping at ``parent``."""
    match parent:
        case ():
            model: type[BaseModel] = Config
        case ("accounts", _):
            model = AccountConfig
        case ("retry",):
            model = RetryConfig
        case ("jobs", int()):
            model = JobConfig
        case ("jobs", int(), "not_found_guard"):
            model = NotFoundGuard
        case _:
            return []
    hidden = _FILLED_IN.get(model, frozenset())
    return [name for name in model.model_fields if name not in hidden]
