"""The HTTP client of one CloudAgent account: one aiohttp session, one request per record.

Redirects are never followed (aiohttp would carry the ``apiKey`` header to
wherever ``Location`` points, even from https to plain http): a 3xx is an answer
that stops the account. Whatever a server sends back is redacted of the key and
the current token before it leaves this module, so no answer that echoes a
secret can reach the database or a log line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from json.encoder import encode_basestring_ascii as quote
from types import TracebackType
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload

from runner.core import protocol
from runner.core.protocol import parse_retry_after
from runner.core.redaction import redact
from runner.sending.classify import Verdict, body_object, classify, field, transport_failure

# Bodies are read up to this size (1 MiB): enough for any documented answer, a
# verbose valid one and a useful look at an error page, without letting a broken
# server fill memory. A longer body is cut here and then reads as "not JSON".
MAX_BODY_BYTES = 1024 * 1024


# Not frozen, for speed: see runner.storage.queue.Claim.
@dataclass(slots=True)
class Reply:
    """What came back for one request, and what it means (secrets already masked)."""

    verdict: Verdict
    http_status: int | None = None
    body: str = ""
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class TokenReply:
    """The answer of generateToken: a token, or why there is none."""

    token: str | None
    http_status: int | None
    message: str  # masked; what the server said, or what went wrong
    retry_after: float | None = None


class Sender(Protocol):
    """What sends one record: :class:`CloudAgentClient`, or a fake in the drain's tests."""

    async def delete(
        self, campaign: str, phone: str, name: str | None = None, *,
        token: str | None = None, sent: Callable[[], None] | None = None,
    ) -> Reply:  # fmt: skip
        """``sent`` is called when the request is written to the socket, if it is."""
        ...


def request_body(campaign: str, phone: str, user_name: str, name: str | None) -> bytes:
    """The JSON record of one delete; ``name`` only when the job supplies one.

    The same bytes as ``json.dumps`` of the record, written from strings quoted by
    json's own C quoting function: ``json.dumps`` sets up an encoder on every call,
    which cost seven times as much, once per request.
    """
    body = (f'{{"{protocol.CAMPAIGN}": {quote(campaign)}, "{protocol.PHONE}": {quote(phone)}, '
            f'"{protocol.USER}": {quote(user_name)}')  # fmt: skip
    if name:
        body += f', "{protocol.NAME}": {quote(name)}'
    return (body + "}").encode()


def read_answer(
    status: int, text: str, location: str | None, token_auth: bool, secrets: frozenset[str]
) -> tuple[str, Verdict]:
    """The masked body and the verdict of one answer (what classify makes of it)."""
    body = redact(text, secrets)
    masked_location = redact(location, secrets) if location else None
    verdict = classify(status, body, token_auth=token_auth, location=masked_location)
    # Parsing decodes escapes the raw masking may not have seen: mask again.
    if (message := redact(verdict.message, secrets)) != verdict.message:
        verdict = replace(verdict, message=message)
    return body, verdict


# Most answers are one of a few short bodies ("No Record Found"): each is masked and
# classified once per client, not once per request. Only short ones are kept.
read_answer_memo = lru_cache(maxsize=128)(read_answer)
MEMO_BODY_BYTES = 512


class SaysWhenSent(BytesPayload):
    """A request body that calls ``sent`` as aiohttp writes it (headers go with it)."""

    def __init__(self, body: bytes, sent: Callable[[], None]) -> None:
        super().__init__(body, content_type="application/json")
        self._sent = sent

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        self._sent()
        await super().write_with_length(writer, content_length)


async def read_body(resp: aiohttp.ClientResponse) -> bytes:
    """The body, cut at MAX_BODY_BYTES; one read when its length is declared and allowed."""
    if resp.content_length is not None and resp.content_length <= MAX_BODY_BYTES:
        return await resp.read()
    return await read_limited(resp.content, MAX_BODY_BYTES)


async def read_limited(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to ``limit`` bytes of a body; ``read(n)`` alone stops at the first chunk."""
    raw = b""
    while len(raw) < limit and (more := await stream.read(limit - len(raw))):
        raw += more
    return raw


class CloudAgentClient:
    """Sends ``DELETE deleteCampaignData`` (and, for TOKEN_AUTH, ``generateToken``).

    Usable as an async context manager, which owns the aiohttp session. TLS
    certificates are always verified (aiohttp's default); the configuration
    refuses plain http:// except on loopback.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        user_name: str,
        timeout_seconds: float,
        *,
        token_auth: bool = False,
        token_with_key: bool = True,
        connections: int = 8,
    ) -> None:
        root = base_url.rstrip("/")
        self.url = root + protocol.PATH
        self.token_url = root + protocol.TOKEN_PATH
        self.token_auth = token_auth
        self.token_with_key = token_with_key
        self._api_key = api_key
        self._user_name = user_name
        self._secrets = {api_key}
        self._masks = frozenset(self._secrets)  # the same, hashable (read_answer_memo)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> CloudAgentClient:
        connector = aiohttp.TCPConnector(limit=self._connections)
        # No cookie jar: the API is stateless, and matching cookies to every request costs.
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar()
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("CloudAgentClient must be used as an async context manager")
        return self._session

    def _remember(self, secret: str) -> None:
        """Mask this secret too (a token) from now on."""
        self._secrets.add(secret)
        self._masks = frozenset(self._secrets)

    def _mask(self, text: str) -> str:
        return redact(text, self._secrets)

    async def delete(
        self, campaign: str, phone: str, name: str | None = None, *,
        token: str | None = None, sent: Callable[[], None] | None = None,
    ) -> Reply:  # fmt: skip
        """Send one record; never raises for network trouble, which becomes a transient reply.

        With TOKEN_AUTH, ``token`` goes in ``Authorization: Bearer``, and the key
        beside it unless ``token_with_key`` is off (see :meth:`_auth_headers`).
        ``sent`` is called as the body is written to the socket.
        """
        session = self._open()
        headers = {"Content-Type": "application/json", **self._auth_headers(token)}
        record = request_body(campaign, phone, self._user_name, name)
        data = record if sent is None else SaysWhenSent(record, sent)
        try:
            async with session.delete(
                self.url, data=data, headers=headers, allow_redirects=False
            ) as resp:
                raw = await read_body(resp)
                text = raw.decode("utf-8", errors="replace")
                location = resp.headers.get("Location")
                read = read_answer_memo if len(raw) <= MEMO_BODY_BYTES else read_answer
                body, verdict = read(resp.status, text, location, self.token_auth, self._masks)
                retry_after = retry_after_of(resp.headers)
                return Reply(verdict, resp.status, body, retry_after)
        except TimeoutError:
            return Reply(transport_failure("timeout", f"no answer within {self._timeout.total} s"))
        except aiohttp.ClientError as error:
            # aiohttp's messages name the host and the error, never our headers.
            detail = self._mask(client_error_text(error))
            return Reply(transport_failure("connection_error", detail))

    def _auth_headers(self, token: str | None) -> dict[str, str]:
        """apiKey (BASIC_AUTH, and TOKEN_AUTH as the vendor's example sends it) and the bearer."""
        headers: dict[str, str] = {}
        if not self.token_auth or self.token_with_key:
            headers[protocol.API_KEY_HEADER] = self._api_key
        if self.token_auth:
            if token and token not in self._secrets:
                self._remember(token)
            headers[protocol.AUTHORIZATION_HEADER] = protocol.BEARER + (token or "")
        return headers

    async def generate_token(self) -> TokenReply:
        """``POST generateToken`` with the key; the token, or what the server said instead."""
        session = self._open()
        headers = {protocol.API_KEY_HEADER: self._api_key, "Content-Type": "application/json"}
        data = json.dumps({protocol.USER: self._user_name}).encode()
        try:
            async with session.post(
                self.token_url, data=data, headers=headers, allow_redirects=False
            ) as resp:
                raw = (await read_limited(resp.content, MAX_BODY_BYTES)).decode(
                    "utf-8", errors="replace"
                )
                retry_after = retry_after_of(resp.headers)
                obj = body_object(raw)
                token = field(obj, protocol.TOKEN) if obj is not None else None
                if token:
                    self._remember(token)
                    return TokenReply(token, resp.status, "", retry_after)
                said = (field(obj, "message") if obj is not None else None) or raw.strip()
                message = self._mask(said[:300]) or f"HTTP {resp.status}, no token"
                if 300 <= resp.status < 400:
                    message = f"HTTP {resp.status} redirect to {resp.headers.get('Location')}"
                return TokenReply(None, resp.status, self._mask(message), retry_after)
        except TimeoutError:
            return TokenReply(None, None, f"no answer within {self._timeout.total} s")
        except aiohttp.ClientError as error:
            return TokenReply(None, None, self._mask(client_error_text(error)))


def client_error_text(error: aiohttp.ClientError) -> str:
    """aiohttp's error in one line; a refused connection without the ``ssl:default`` that
    aiohttp adds to every connection error, an http:// one too."""
    if isinstance(error, aiohttp.ClientConnectorError):
        cause = error.os_error.strerror or str(error.os_error)
        return f"{type(error).__name__}: cannot connect to {error.host}:{error.port}: {cause}"
    return f"{type(error).__name__}: {error}"


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asks us to wait (``Retry-After``), if it asks."""
    return parse_retry_after(headers.get("Retry-After"), time.time())
