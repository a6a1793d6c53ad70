"""The sandbox over HTTP: aiohttp handlers around the decisions of ``rules``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Final

from aiohttp import web

from runner.core import protocol
from runner.core.clock import Ticks
from runner.sandbox.answers import BodyEncoding, HttpAnswer, encode_body
from runner.sandbox.rules import (
    DeleteRequest,
    Fault,
    SandboxState,
    bearer_token,
)
from runner.sandbox.settings import SandboxSettings
from runner.sandbox.window import retry_after_header

HANG_SECONDS: Final = 3600.0
"""How long a hung request waits: longer than any sensible client timeout."""

SHUTDOWN_TIMEOUT: Final = 2.0
"""Seconds aiohttp waits for in-flight handlers at shutdown (hangs end earlier)."""

STATS_PATH: Final = "/_sandbox/stats"
DELETED_PATH: Final = "/_sandbox/deleted"
REQUESTS_PATH: Final = "/_sandbox/requests"
INVALIDATE_TOKENS_PATH: Final = "/_sandbox/invalidate-tokens"

STATE_KEY: Final = web.AppKey("sandbox_state", SandboxState)
STOP_KEY: Final = web.AppKey("sandbox_stop", asyncio.Event)


def to_response(reply: HttpAnswer, encoding: BodyEncoding) -> web.Response:
    """An aiohttp response for a rules-level reply."""
    return web.Response(
        status=reply.status,
        body=encode_body(reply, encoding),
        content_type=reply.content_type,
        headers=dict(reply.headers) or None,
    )


async def _hang(stop: asyncio.Event) -> web.Response:
    """Wait far past any client timeout, but end as soon as the server stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=HANG_SECONDS)
    return web.Response(status=503)


async def handle_delete(request: web.Request) -> web.Response:
    """``DELETE /ca_apis/deleteCampaignData``, counted open while it is answered."""
    state = request.app[STATE_KEY]
    state.opened()
    try:
        return await _answer_delete(request, state)
    finally:
        state.closed()


async def _answer_delete(request: web.Request, state: SandboxState) -> web.Response:
    """One delete, in the order of the package docstring."""
    encoding = state.settings.body_encoding
    key = request.headers.get(protocol.API_KEY_HEADER, "")
    authorization = request.headers.get(protocol.AUTHORIZATION_HEADER)
    wait = state.admit(state.bucket(key, authorization))  # before any await: arrival counts
    if wait is not None:
        headers = (("Retry-After", retry_after_header(wait)),)
        limited = HttpAnswer.of(protocol.RATE_LIMITED, status=429, headers=headers)
        return to_response(limited, encoding)
    fault = state.roll_fault()
    if fault is Fault.HANG:
        return await _hang(request.app[STOP_KEY])
    error = state.pick_error() if fault is Fault.ERROR else None
    delay = state.latency_seconds()
    if delay > 0:
        await asyncio.sleep(delay)
    if error is not None:
        return to_response(error, encoding)
    verdict = state.validate(key, await request.read(), authorization)
    if isinstance(verdict, DeleteRequest):
        credential = key or bearer_token(authorization or "")
        verdict = state.answer(verdict, credential=credential, path=request.path_qs)
    return to_response(verdict, encoding)


async def handle_generate_token(request: web.Request) -> web.Response:
    """``POST /ca_apis/CAToken/generateToken``."""
    state = request.app[STATE_KEY]
    key = request.headers.get(protocol.API_KEY_HEADER, "")
    reply = state.generate_token(key, await request.read())
    return to_response(reply, state.settings.body_encoding)


async def handle_stats(request: web.Request) -> web.Response:
    """Counters for tests and benchmarks (no API key in them)."""
    return web.json_response(request.app[STATE_KEY].stats())


async def handle_deleted(request: web.Request) -> web.Response:
    """Deleted numbers per campaign, in deletion order."""
    return web.json_response(request.app[STATE_KEY].deleted)


async def handle_requests(request: web.Request) -> web.Response:
    """How often each (campaign, number) was requested past validation."""
    return web.json_response(request.app[STATE_KEY].request_list())


async def handle_invalidate_tokens(request: web.Request) -> web.Response:
    """Invalidate the current token, as if another process had generated one."""
    return web.json_response({"invalidated": request.app[STATE_KEY].invalidate_tokens()})


async def _release_hangs(app: web.Application) -> None:
    app[STOP_KEY].set()


def build_app(settings: SandboxSettings, *, clock: Ticks = time.monotonic) -> web.Application:
    """The sandbox as an aiohttp application; ``clock`` is injectable for tests."""
    app = web.Application()
    app[STATE_KEY] = SandboxState(settings, clock=clock)
    app[STOP_KEY] = asyncio.Event()
    app.on_shutdown.append(_release_hangs)
    app.router.add_delete(protocol.PATH, handle_delete)
    app.router.add_post(protocol.TOKEN_PATH, handle_generate_token)
    app.router.add_get(STATS_PATH, handle_stats)
    app.router.add_get(DELETED_PATH, handle_deleted)
    app.router.add_get(REQUESTS_PATH, handle_requests)
    app.router.add_post(INVALIDATE_TOKENS_PATH, handle_invalidate_tokens)
    return app


async def start_sandbox(
    settings: SandboxSettings, *, clock: Ticks = time.monotonic
) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (``await runner.cleanup()`` stops it) and port."""
    app = build_app(settings, clock=clock)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
    except BaseException:
        await runner.cleanup()
        raise
    port: int = runner.addresses[0][1]
    return runner, port
