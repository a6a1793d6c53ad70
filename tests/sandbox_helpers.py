"""In-process sandbox clients for the sandbox's own tests (the fixture is in conftest.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from runner.core import protocol

KEY = "sandbox-key"
GOOD = {protocol.USER: "sandbox", protocol.CAMPAIGN: "Sales", protocol.PHONE: "9000000001"}
Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def body_of(answer: tuple[str, str]) -> bytes:
    return protocol.response_body(answer).encode()


def rec(**changes: Any) -> dict[str, Any]:
    """GOOD with some fields changed; a value of None removes the field."""
    record = {**GOOD, **changes}
    return {name: value for name, value in record.items() if value is not None}


async def send(
    client: Client,
    record: Any = None,
    *,
    key: str | None = KEY,
    raw: bytes | None = None,
    token: str | None = None,
    **request_options: Any,
) -> tuple[int, bytes, aiohttp.ClientResponse]:
    """DELETE one record (with ``token``: as a bearer); returns status, body and response."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers[protocol.API_KEY_HEADER] = key
    if token is not None:
        headers[protocol.AUTHORIZATION_HEADER] = protocol.BEARER + token
    headers |= request_options.pop("headers", {})
    data = raw if raw is not None else json.dumps(GOOD if record is None else record).encode()
    async with client.delete(protocol.PATH, data=data, headers=headers, **request_options) as resp:
        return resp.status, await resp.read(), resp


async def generate(
    client: Client, *, key: str | None = KEY, user: Any = "sandbox", raw: bytes | None = None
) -> tuple[int, bytes, aiohttp.ClientResponse]:
    """POST generateToken; returns status, body and response."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers[protocol.API_KEY_HEADER] = key
    data = raw if raw is not None else json.dumps({protocol.USER: user}).encode()
    async with client.post(protocol.TOKEN_PATH, data=data, headers=headers) as resp:
        return resp.status, await resp.read(), resp


async def new_token(client: Client) -> str:
    """A token generated with the right credentials."""
    status, body, _ = await generate(client)
    assert status == 200, body
    token: str = json.loads(body)[protocol.TOKEN]
    return token


async def stats(client: Client) -> dict[str, Any]:
    async with client.get("/_sandbox/stats") as resp:
        assert resp.status == 200
        result: dict[str, Any] = await resp.json()
        return result


async def side_text(client: Client) -> str:
    """Everything the read-only side endpoints show."""
    texts = []
    for path in ("/_sandbox/stats", "/_sandbox/deleted", "/_sandbox/requests"):
        async with client.get(path) as resp:
            texts.append(await resp.text())
    return "\n".join(texts)


async def eventually(condition: Callable[[], bool], what: str, guard: float = 30) -> None:
    """Poll ``condition`` until it holds. ``guard`` only turns a hang into a failure
    naming ``what``: it is no claim about speed."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + guard
    while not condition():
        if loop.time() > give_up:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)
