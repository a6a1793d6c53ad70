"""Unit tests of runner.sending.client.CloudAgentClient against aioresponses mocks.

aioresponses 0.7.9 needs the shim of ``aioresponses_compat`` on aiohttp >= 3.14;
every mocked answer below passes ``response_class=CompatClientResponse``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.utils import formatdate
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.client_proto import ResponseHandler
from aioresponses import aioresponses
from aioresponses_compat import CompatClientResponse
from hypothesis import given
from hypothesis import strategies as st
from yarl import URL

from runner.core import protocol
from runner.core.logs import MASK
from runner.core.states import StopReason
from runner.sending import client as client_module
from runner.sending.classify import Outcome
from runner.sending.client import MAX_BODY_BYTES, CloudAgentClient, Reply, request_body

BASE = "https://api.example.test"
URL_ = BASE + "/ca_apis/deleteCampaignData"
TOKEN_URL = BASE + "/ca_apis/CAToken/generateToken"
API_KEY = "SECRET-api-key-7f3a9c"
USER = "admin_user"


@pytest.fixture
def mock() -> Iterator[aioresponses]:
    with aioresponses() as mocked:
        yield mocked


@pytest.fixture
async def client() -> AsyncIterator[CloudAgentClient]:
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0) as opened:
        yield opened


def answer(mock: aioresponses, status: int = 200, body: str | bytes = "", **options: Any) -> None:
    """Mock one answer of deleteCampaignData."""
    options.setdefault("response_class", CompatClientResponse)
    mock.delete(URL_, status=status, body=body, **options)


def documented(answer_: tuple[str, str]) -> str:
    return protocol.response_body(answer_)


def only_call(mock: aioresponses) -> tuple[str, URL, dict[str, Any]]:
    """The one request the mock saw: (method, url, kwargs)."""
    calls = [(key, call) for key, calls in mock.requests.items() for call in calls]
    assert len(calls) == 1, calls
    (method, url), call = calls[0]
    return method, url, call.kwargs


# ---------------------------------------------------------------- the request


@pytest.mark.parametrize("base_url", [BASE, BASE + "/"])
async def test_sends_one_delete_to_the_exact_url(mock: aioresponses, base_url: str) -> None:
    answer(mock, body=documented(protocol.DELETED))
    async with CloudAgentClient(base_url, API_KEY, USER, 5.0) as api:
        assert api.url == URL_
        await api.delete("Outbound_Sales", "8123456789")
    method, url, _ = only_call(mock)
    assert method == "DELETE"
    assert str(url) == URL_


async def test_sends_api_key_and_json_content_type(
    mock: aioresponses, client: CloudAgentClient
) -> None:
    answer(mock, body=documented(protocol.DELETED))
    await client.delete("Outbound_Sales", "8123456789")
    _, _, kwargs = only_call(mock)
    headers = dict(kwargs["headers"])
    assert headers == {"apiKey": API_KEY, "Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("name", "expected_extra"),
    [("Asha Rao", {"name": "Asha Rao"}), (None, {}), ("", {})],
    ids=["with-name", "name-none", "name-empty"],
)
async def test_sends_exact_json_body(
    mock: aioresponses,
    client: CloudAgentClient,
    name: str | None,
    expected_extra: dict[str, str],
) -> None:
    answer(mock, body=documented(protocol.DELETED))
    await client.delete("Outbound_Sales", "+918123456789", name)
    _, _, kwargs = only_call(mock)
    sent = json.loads(kwargs["data"])
    assert sent == {
        "campaignName": "Outbound_Sales",
        "phoneNumber": "+918123456789",
        "userName": USER,
        **expected_extra,
    }


# ---------------------------------------------------------------- the answers


@pytest.mark.parametrize(
    ("status", "body", "outcome", "reason"),
    [
        (200, documented(protocol.DELETED), Outcome.DELETED, "deleted"),
        (200, documented(protocol.NOT_FOUND), Outcome.NOT_FOUND, "not_found"),
        (200, documented(protocol.INVALID_USER), Outcome.STOP, "auth"),
        (200, documented(protocol.CAMPAIGN_INVALID), Outcome.INVALID_CAMPAIGN, "invalid_campaign"),
        (200, documented(protocol.RATE_LIMITED), Outcome.RATE_LIMITED, "rate_limited"),
    ],
    ids=["deleted", "not-found", "auth", "invalid-campaign", "max-limit-200"],
)
async def test_verdict_of_documented_answers(
    mock: aioresponses,
    client: CloudAgentClient,
    status: int,
    body: str,
    outcome: Outcome,
    reason: str,
) -> None:
    answer(mock, status=status, body=body)
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.verdict.outcome is outcome
    assert reply.verdict.reason == reason
    assert reply.http_status == status
    assert reply.body == body
    assert reply.retry_after is None


async def test_429_with_retry_after_seconds(mock: aioresponses, client: CloudAgentClient) -> None:
    answer(mock, status=429, body="Too Many Requests", headers={"Retry-After": "7"})
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.verdict.outcome is Outcome.RATE_LIMITED
    assert reply.http_status == 429
    assert reply.retry_after == 7.0


async def test_429_with_retry_after_http_date(
    mock: aioresponses, client: CloudAgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = 1_764_000_000.0
    monkeypatch.setattr(client_module, "time", SimpleNamespace(time=lambda: now))
    header = formatdate(now + 30, usegmt=True)
    answer(mock, status=429, body="", headers={"Retry-After": header})
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.verdict.outcome is Outcome.RATE_LIMITED
    assert reply.retry_after == pytest.approx(30.0)


async def test_503_html_page_is_transient(mock: aioresponses, client: CloudAgentClient) -> None:
    page = "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
    answer(mock, status=503, body=page, content_type="text/html")
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.verdict.outcome is Outcome.TRANSIENT
    assert reply.verdict.reason == "http_503"
    assert reply.http_status == 503
    assert reply.body == page


# ---------------------------------------------------------------- no answer


@pytest.mark.parametrize(
    "error",
    [
        TimeoutError(),
        aiohttp.ServerTimeoutError("read timeout"),
        aiohttp.ConnectionTimeoutError("connect timeout"),
    ],
    ids=["TimeoutError", "ServerTimeoutError", "ConnectionTimeoutError"],
)
async def test_timeout_becomes_transient_timeout(
    mock: aioresponses, client: CloudAgentClient, error: Exception
) -> None:
    answer(mock, exception=error)
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.verdict.outcome is Outcome.TRANSIENT
    assert reply.verdict.reason == "timeout"
    assert reply.http_status is None
    assert reply.retry_after is None


@given(st.text(), st.text(), st.text(), st.none() | st.text())
def test_the_request_body_is_what_json_dumps_writes(
    campaign: str, phone: str, user: str, name: str | None
) -> None:
    record = {protocol.CAMPAIGN: campaign, protocol.PHONE: phone, protocol.USER: user}
    if name:
        record[protocol.NAME] = name
    assert request_body(campaign, phone, user, name) == json.dumps(record).encode()


Handler = Callable[[web.Request], Awaitable[web.Response]]


@contextlib.asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[int]:
    """A real server on loopback answering deleteCampaignData with ``handler``; its port."""
    app = web.Application()
    app.router.add_delete(protocol.PATH, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


async def test_real_timeout_of_a_silent_server() -> None:
    """The configured per-request timeout really applies (no mock: a server that never answers)."""
    release = asyncio.Event()

    async def silent(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="{}")

    async with serving(silent) as port:
        try:
            async with CloudAgentClient(f"http://127.0.0.1:{port}", API_KEY, USER, 0.05) as api:
                reply = await api.delete("Outbound_Sales", "8123456789")
        finally:
            release.set()
    assert reply.verdict.outcome is Outcome.TRANSIENT
    assert reply.verdict.reason == "timeout"


async def test_sent_is_called_as_the_request_is_written_and_the_body_is_unchanged() -> None:
    events: list[str] = []
    seen: list[tuple[str | None, Any]] = []

    async def recorder(request: web.Request) -> web.Response:
        events.append("arrived")
        seen.append((request.headers.get("Content-Type"), await request.json()))
        return web.json_response({"status": "Error", "message": "No Record Found"})

    async with serving(recorder) as port, CloudAgentClient(
        f"http://127.0.0.1:{port}", API_KEY, USER, 5.0
    ) as api:
        reply = await api.delete("Outbound_Sales", "8123456789", sent=lambda: events.append("sent"))
    assert events == ["sent", "arrived"]
    record = {protocol.CAMPAIGN: "Outbound_Sales", protocol.PHONE: "8123456789",
              protocol.USER: USER}  # fmt: skip
    assert seen == [("application/json", record)]
    assert reply.verdict.outcome is Outcome.NOT_FOUND


async def test_a_cookie_the_server_sets_is_never_sent_back() -> None:
    seen: list[str | None] = []

    async def cookie_setter(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        response = web.json_response({"status": "Error", "message": "No Record Found"})
        response.set_cookie("AWSALB", "sticky")
        return response

    # A host name: aiohttp's jar never keeps cookies of an IP address anyway.
    async with serving(cookie_setter) as port, CloudAgentClient(
        f"http://localhost:{port}", API_KEY, USER, 5.0
    ) as api:
        for _ in range(2):
            await api.delete("Outbound_Sales", "8123456789")
    assert seen == [None, None]


async def test_connection_error_is_transient_and_keeps_the_key_out(
    mock: aioresponses, client: CloudAgentClient
) -> None:
    answer(mock, exception=aiohttp.ClientConnectionError("Cannot connect to host api.example.test"))
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.verdict.outcome is Outcome.TRANSIENT
    assert reply.verdict.reason == "connection_error"
    assert reply.http_status is None
    assert "ClientConnectionError" in reply.verdict.message
    assert API_KEY not in repr(reply)


async def test_refused_connection_is_transient_and_keeps_the_key_out() -> None:
    """A real refused connection (a loopback port nobody listens on), not a mock."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with CloudAgentClient(f"http://127.0.0.1:{port}", API_KEY, USER, 5.0) as api:
        reply = await api.delete("Outbound_Sales", "8123456789")
    assert reply.verdict.outcome is Outcome.TRANSIENT
    assert reply.verdict.reason == "connection_error"
    assert str(port) in reply.verdict.message
    assert API_KEY not in repr(reply)


# ---------------------------------------------------------------- the body


SMALL_LIMIT = 64 * 1024  # aioresponses' own stream buffers at most 2 x 64 KiB


async def test_large_body_is_truncated(
    mock: aioresponses, client: CloudAgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runner.sending.client.MAX_BODY_BYTES", SMALL_LIMIT)
    answer(mock, status=502, body=b"x" * (SMALL_LIMIT + 4096), content_type="text/html")
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.body == "x" * SMALL_LIMIT
    assert reply.verdict.reason == "http_502"


async def test_truncation_inside_a_multibyte_character_does_not_raise(
    mock: aioresponses, client: CloudAgentClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("runner.sending.client.MAX_BODY_BYTES", SMALL_LIMIT)
    # "é" is two bytes in UTF-8; after one "a" the cut falls in the middle of one.
    answer(mock, status=500, body=("a" + "é" * (SMALL_LIMIT // 2 + 100)).encode())
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.body.startswith("aé")
    assert reply.body.endswith("\ufffd")
    assert len(reply.body.encode("utf-8", errors="replace")) <= MAX_BODY_BYTES + 2


class _TwoSegmentReader(aiohttp.StreamReader):
    """A body stream that gets the second half of the body one loop turn after the first,
    the way a body split over two TCP segments or two HTTP chunks arrives."""

    def feed_data(self, data: bytes, size: int = 0) -> bool:
        half = len(data) // 2
        super().feed_data(data[:half])
        asyncio.get_running_loop().call_soon(self._feed_later, data[half:])
        return False

    def _feed_later(self, data: bytes) -> None:
        super().feed_data(data)

    def feed_eof(self) -> None:
        asyncio.get_running_loop().call_soon(self._eof_later)

    def _eof_later(self) -> None:
        super().feed_eof()


class _OpenConnection(ResponseHandler):
    """The protocol of a connection that is still open, so a reader may wait for more."""

    @property
    def connected(self) -> bool:
        return True


class _TwoSegmentResponse(CompatClientResponse):
    """aioresponses assigns ``content`` then feeds the whole body into it at once."""

    @property  # type: ignore[override]
    def content(self) -> aiohttp.StreamReader:
        return self._two_segments

    @content.setter
    def content(self, _ignored: aiohttp.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        self._two_segments = _TwoSegmentReader(_OpenConnection(loop), 2**16, loop=loop)


async def test_body_arriving_in_two_segments_is_read_whole(
    mock: aioresponses, client: CloudAgentClient
) -> None:
    body = documented(protocol.DELETED)
    answer(mock, body=body, response_class=_TwoSegmentResponse)
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.body == body
    assert reply.verdict.outcome is Outcome.DELETED


# ---------------------------------------------------------------- lifecycle


async def test_delete_outside_async_with_raises() -> None:
    api = CloudAgentClient(BASE, API_KEY, USER, 5.0)
    with pytest.raises(RuntimeError, match="async context manager"):
        await api.delete("Outbound_Sales", "8123456789")


async def test_delete_after_async_with_raises(mock: aioresponses) -> None:
    answer(mock, body=documented(protocol.DELETED))
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0) as api:
        first = await api.delete("Outbound_Sales", "8123456789")
    assert isinstance(first, Reply)
    with pytest.raises(RuntimeError):
        await api.delete("Outbound_Sales", "8123456789")


# ---------------------------------------------------------------- redirects


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_not_followed_and_stops_the_account(
    mock: aioresponses, client: CloudAgentClient, status: int
) -> None:
    target = "http://collector.example.test/steal"
    answer(mock, status=status, body="", headers={"Location": target})
    # Were the redirect followed, the mock would be asked for this (and the key sent there).
    mock.delete(target, status=200, body=documented(protocol.DELETED),
                response_class=CompatClientResponse)  # fmt: skip
    mock.get(target, status=200, body=documented(protocol.DELETED),
             response_class=CompatClientResponse)  # fmt: skip
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert reply.verdict.outcome is Outcome.STOP
    assert reply.verdict.stop is StopReason.REDIRECT
    assert target in reply.verdict.message
    assert reply.http_status == status
    requested = {str(url) for _, url in mock.requests}
    assert requested == {URL_}


async def test_a_redirect_location_echoing_the_key_is_masked(
    mock: aioresponses, client: CloudAgentClient
) -> None:
    answer(mock, status=302, headers={"Location": f"https://x.test/?apiKey={API_KEY}"})
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert API_KEY not in repr(reply)
    assert f"apiKey={MASK}" in reply.verdict.message


# ---------------------------------------------------------------- token auth


async def test_token_auth_sends_the_bearer_token_and_the_key(mock: aioresponses) -> None:
    # As the vendor's example request for the token variant does (docs/contract.md).
    answer(mock, body=documented(protocol.DELETED))
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        reply = await api.delete("Outbound_Sales", "8123456789", token="tok.en.value")
    assert reply.verdict.outcome is Outcome.DELETED
    _, _, kwargs = only_call(mock)
    assert dict(kwargs["headers"]) == {
        "apiKey": API_KEY,
        "Authorization": "Bearer tok.en.value",
        "Content-Type": "application/json",
    }


async def test_token_with_key_off_sends_the_bearer_token_alone(mock: aioresponses) -> None:
    answer(mock, body=documented(protocol.DELETED))
    async with CloudAgentClient(
        BASE, API_KEY, USER, 5.0, token_auth=True, token_with_key=False
    ) as api:
        await api.delete("Outbound_Sales", "8123456789", token="tok.en.value")
    _, _, kwargs = only_call(mock)
    assert dict(kwargs["headers"]) == {
        "Authorization": "Bearer tok.en.value",
        "Content-Type": "application/json",
    }
    assert API_KEY not in json.dumps(dict(kwargs["headers"])) + kwargs["data"].decode()


@pytest.mark.parametrize("answer_", [protocol.INVALID_TOKEN, protocol.TOKEN_EXPIRED])
async def test_token_answers_depend_on_the_auth_mode(
    mock: aioresponses, answer_: tuple[str, str]
) -> None:
    answer(mock, body=documented(answer_))
    answer(mock, body=documented(answer_))
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        refused = await api.delete("Outbound_Sales", "8123456789", token="t")
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0) as api:
        basic = await api.delete("Outbound_Sales", "8123456789")
    assert refused.verdict.outcome is Outcome.TOKEN_REFUSED
    assert (basic.verdict.outcome, basic.verdict.stop) == (Outcome.STOP, StopReason.AUTH_SETTING)


async def test_an_echoed_token_is_masked(mock: aioresponses) -> None:
    token = "eyJhbGciOi.eyJleHAiOjF9.c2lnbmF0dXJl"
    echo = json.dumps({"status": "false", "message": f"Token {token} is not known here"})
    answer(mock, status=401, body=echo)
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        reply = await api.delete("Outbound_Sales", "8123456789", token=token)
    assert token not in repr(reply)
    assert MASK in reply.body and MASK in reply.verdict.message
    assert reply.verdict.stop is StopReason.AUTH


async def test_a_body_seen_before_a_token_is_masked_once_the_token_is_known(
    mock: aioresponses,
) -> None:
    # Short bodies are read once per set of secrets (read_answer_memo): the same body,
    # echoing a token the client learns later, must not come back from the memo unmasked.
    token = "eyJhbGciOi.eyJleHAiOjF9.bGF0ZXI"
    echo = json.dumps({"status": "false", "message": f"Token {token} is not known here"})
    answer(mock, body=echo, repeat=True)
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        before = await api.delete("Outbound_Sales", "8123456789", token="other")
        after = await api.delete("Outbound_Sales", "8123456789", token=token)
    assert token in before.body  # not a secret of this client yet
    assert token not in repr(after)
    assert MASK in after.body and MASK in after.verdict.message


def token_answer(mock: aioresponses, status: int = 200, body: str = "", **options: Any) -> None:
    options.setdefault("response_class", CompatClientResponse)
    mock.post(TOKEN_URL, status=status, body=body, **options)


async def test_generate_token_posts_the_user_with_the_key(mock: aioresponses) -> None:
    token_answer(mock, body=json.dumps({"token": "new.jwt.token", "message": ""}))
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        assert api.token_url == TOKEN_URL
        reply = await api.generate_token()
    assert (reply.token, reply.http_status, reply.message) == ("new.jwt.token", 200, "")
    method, url, kwargs = only_call(mock)
    assert (method, str(url)) == ("POST", TOKEN_URL)
    assert dict(kwargs["headers"]) == {"apiKey": API_KEY, "Content-Type": "application/json"}
    assert json.loads(kwargs["data"]) == {"userName": USER}


async def test_generate_token_reads_a_double_encoded_answer(mock: aioresponses) -> None:
    inner = json.dumps({"token": "double.jwt.token", "message": ""})
    token_answer(mock, body="\ufeff" + json.dumps(inner))
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        reply = await api.generate_token()
    assert reply.token == "double.jwt.token"


async def test_generate_token_refusal_keeps_the_message(mock: aioresponses) -> None:
    token_answer(mock, body=documented(protocol.TOKEN_REFUSED))
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        reply = await api.generate_token()
    assert (reply.token, reply.message) == (None, "Invalid userName or apiKey")


async def test_generate_token_throttled_keeps_retry_after(mock: aioresponses) -> None:
    token_answer(mock, status=429, body="", headers={"Retry-After": "60"})
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        reply = await api.generate_token()
    assert (reply.token, reply.http_status, reply.retry_after) == (None, 429, 60.0)
    assert reply.message  # says something, even for an empty body


async def test_generate_token_does_not_follow_a_redirect(mock: aioresponses) -> None:
    target = "http://collector.example.test/token"
    token_answer(mock, status=307, headers={"Location": target})
    mock.post(target, body=json.dumps({"token": "stolen"}), response_class=CompatClientResponse)
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        reply = await api.generate_token()
    assert reply.token is None and target in reply.message
    assert {str(url) for _, url in mock.requests} == {TOKEN_URL}


async def test_generate_token_masks_an_echoed_key(mock: aioresponses) -> None:
    token_answer(mock, body=json.dumps({"status": "false", "message": f"Invalid apiKey {API_KEY}"}))
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        reply = await api.generate_token()
    assert API_KEY not in repr(reply)
    assert reply.message == f"Invalid apiKey {MASK}"


async def test_a_generated_token_echoed_by_a_later_answer_is_masked(mock: aioresponses) -> None:
    token = "generated.jwt.value"
    token_answer(mock, body=json.dumps({"token": token, "message": ""}))
    answer(mock, body=json.dumps({"status": "false", "message": f"Invalid Token {token}"}))
    async with CloudAgentClient(BASE, API_KEY, USER, 5.0, token_auth=True) as api:
        await api.generate_token()
        reply = await api.delete("Outbound_Sales", "8123456789", token=None)
    assert token not in repr(reply)


# ---------------------------------------------------------------- echoed secrets


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, json.dumps({"status": "false", "message": f"Invalid apiKey {API_KEY}"})),
        (401, json.dumps({"status": "false", "message": f"Invalid apiKey {API_KEY}"})),
        (403, f"Invalid apiKey {API_KEY}"),
        (500, f"<html>Invalid apiKey {API_KEY}</html>"),
        (200, json.dumps(json.dumps({"message": f"Invalid apiKey {API_KEY}"}))),
    ],
    ids=["200-json", "401-json", "403-text", "500-html", "double-encoded"],
)
async def test_an_echoed_key_is_masked_in_body_and_message(
    mock: aioresponses, client: CloudAgentClient, status: int, body: str
) -> None:
    answer(mock, status=status, body=body)
    reply = await client.delete("Outbound_Sales", "8123456789")
    assert API_KEY not in repr(reply)
    assert MASK in reply.body
    if "Invalid apiKey" in reply.verdict.message:
        assert f"Invalid apiKey {MASK}" in reply.verdict.message


async def test_a_refused_http_connection_does_not_say_ssl() -> None:
    """aiohttp says `ssl:default` for every refused connection, plain http:// too."""
    from runner.sending.client import client_error_text

    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await session.get("http://127.0.0.1:1/ca_apis/deleteCampaignData")
    assert "ssl" in str(refused.value)  # what aiohttp says
    text = client_error_text(refused.value)
    assert "ssl" not in text
    assert text.startswith("ClientConnectorError: cannot connect to 127.0.0.1:1")
