"""An account of jobs.yaml: server, user, key source, pace, authentication, identity."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from runner.config.fields import Located, Model, RateLimitField, Text, resolve, shown
from runner.config.keys import read_api_key
from runner.core import protocol
from runner.core.rates import DEFAULT_RATE_LIMIT

_EXAMPLE_HOST: Final = "in1-ccaas-api.ozonetel.com"
_ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# A request that has not finished in an hour will not; longer would only hide a hang.
MAX_TIMEOUT_SECONDS: Final = 3600.0

Auth = Literal["basic", "token"]


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1: traffic that never leaves the machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """An http(s) server URL without trailing slash; plain http only to loopback.

    The API key travels in a header, so over plain http to a remote host it would
    be readable by anyone on the path.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        raise ValueError(f"is not an http(s) URL such as https://{_EXAMPLE_HOST}") from None
    # Checked first, and without quoting the URL: it may hold a password.
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown(url)} is not an http(s) URL such as https://{_EXAMPLE_HOST}")
    if parts.query or parts.fragment:
        raise ValueError(f"{shown(url)} must not have a query (?...) or fragment (#...)")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueError(
            f"plain http:// to {parts.hostname} would send the API key in clear; use https:// "
            "(http:// is accepted only for localhost, 127.0.0.0/8 and ::1)"
        )
    if parts.path.rstrip("/").endswith(protocol.PATH):
        raise ValueError(f"give the server only: leave out {protocol.PATH}")
    return url.rstrip("/")


def normalised_server(url: str) -> str:
    """``url`` as one spelling per server: scheme and host lower-cased, no default port,
    no trailing ``/`` (the path keeps its case: servers may tell it apart)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # an IPv6 address goes back in brackets
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def account_identity(base_url: str, user_name: str) -> str:
    """Hex sha256 naming (server, user): the same on every config, whatever the account's
    name, so a per-user lock and the token budget are shared by all of them."""
    # JSON keeps the two parts apart: no (url, user) pair spells another's text.
    text = json.dumps([normalised_server(base_url), user_name], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class AccountConfig(Model):
    """One CloudAgent account: where to send, as whom, how fast, how authenticated."""

    name: Text
    base_url: str
    api_key_env: str | None = None
    api_key_file: Path | None = None
    user_name: Text
    rate_limit: RateLimitField = DEFAULT_RATE_LIMIT
    timeout_seconds: float = Field(
        30.0, gt=0, le=MAX_TIMEOUT_SECONDS, strict=True, allow_inf_nan=False
    )
    # basic: the key in the apiKey header (the account's BASIC_AUTH setting);
    # token: a bearer token generated with the key (TOKEN_AUTH).
    auth: Auth = "basic"
    # With auth: token, whether deletes carry the apiKey header beside the bearer, as
    # the vendor's example request for the token variant does (the token page still
    # lists the "Missing apiKey" answers). false: the bearer alone, for an account
    # that refuses the pair. Ignored with auth: basic.
    token_with_key: bool = Field(True, strict=True)

    @field_validator("base_url")
    @classmethod
    def _valid_base_url(cls, value: str) -> str:
        return check_base_url(value)

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
        return None if value is None else resolve(value, info)

    @field_validator("auth", mode="before")
    @classmethod
    def _auth_in_any_case(cls, value: Any) -> Any:
        """``Token`` means ``token``: nobody should fail on case."""
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_key_source(self) -> AccountConfig:
        if (self.api_key_env is None) == (self.api_key_file is None):
            where: tuple[str, ...] = () if self.api_key_env is None else ("api_key_file",)
            raise Located(where, "give exactly one of api_key_env or api_key_file")
        return self

    @property
    def identity(self) -> str:
        """The account as the server knows it: normalised ``base_url`` and ``user_name``."""
        return account_identity(self.base_url, self.user_name)

    def api_key(self) -> str:
        """The account's API key, read now from the environment or the key file.

        Raises ConfigError naming the variable or file (never the value) when the
        key is missing, empty, unreadable or not a possible key.
        """
        return read_api_key(self.name, self.api_key_env, self.api_key_file)
