"""The HTTP client of one CloudAgent account: one aiohttp session, one request per record."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from types import TracebackType

import aiohttp

from runner import protocol
from runner.classify import Verdict, classify, transport_failure
from runner.policy import parse_retry_after

# Bodies are read up to this size: enough for any documented answer and for a
# useful look at an error page, without letting a broken server fill memory.
MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class Reply:
    """What came back for one request, and what it means."""

    verdict: Verdict
    http_status: int | None = None
    body: str = ""
    retry_after: float | None = None


def request_body(campaign: str, phone: str, user_name: str, name: str | None) -> bytes:
    """The JSON record of SPEC §1; ``name`` only when the job supplies one."""
    record = {protocol.CAMPAIGN: campaign, protocol.PHONE: phone, protocol.USER: user_name}
    if name:
        record[protocol.NAME] = name
    return json.dumps(record).encode()


async def read_limited(stream: aiohttp.StreamReader, limit: int) -> bytes:
    """Up to ``limit`` bytes of a body; ``read(n)`` alone stops at the first chunk."""
    raw = b""
    while len(raw) < limit and (more := await stream.read(limit - len(raw))):
        raw += more
    return raw


class CloudAgentClient:
    """Sends ``DELETE deleteCampaignData`` for one account.

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
        connections: int = 8,
    ) -> None:
        self.url = base_url.rstrip("/") + protocol.PATH
        self._headers = {protocol.API_KEY_HEADER: api_key, "Content-Type": "application/json"}
        self._user_name = user_name
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> CloudAgentClient:
        connector = aiohttp.TCPConnector(limit=self._connections)
        self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
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

    async def delete(self, campaign: str, phone: str, name: str | None = None) -> Reply:
        """Send one record; never raises for network trouble, which becomes a transient reply."""
        if self._session is None:
            raise RuntimeError("CloudAgentClient must be used as an async context manager")
        data = request_body(campaign, phone, self._user_name, name)
        try:
            async with self._session.delete(self.url, data=data, headers=self._headers) as resp:
                body = (await read_limited(resp.content, MAX_BODY_BYTES)).decode(
                    "utf-8", errors="replace"
                )
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), time.time())
                return Reply(classify(resp.status, body), resp.status, body, retry_after)
        except TimeoutError:
            return Reply(transport_failure("timeout", f"no answer within {self._timeout.total} s"))
        except aiohttp.ClientError as error:
            # aiohttp's messages name the host and the error, never our headers.
            detail = f"{type(error).__name__}: {error}"
            return Reply(transport_failure("connection_error", detail))
