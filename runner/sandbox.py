"""A local simulator of CloudAgent's deleteCampaignData API (SPEC §6).

The demo, the integration tests and the benchmarks need an endpoint that answers
exactly like the vendor (same bodies, same rate limit, same failures) without an
account, so this module serves ``DELETE /ca_apis/deleteCampaignData`` on loopback.

Every DELETE on the API path is handled in this order; the first rule that
answers ends the request:

1. **Rate limit** (``--rate-limit N/period``): a strict sliding window per API key
   value (a missing or empty key shares the bucket ``""``). The window is closed
   at both ends: a request is refused while N admitted requests arrived at times
   ``t`` with ``now - period <= t <= now``. A refused request gets HTTP 429 with
   ``Retry-After`` (whole seconds, at least 1) and the RATE_LIMITED body, and
   changes nothing but the ``rate_limited`` counter.
2. **Fault injection**, one draw of ``random.Random(seed)`` per admitted request:
   below ``--hang-rate`` the request hangs for an hour (until the server stops);
   below ``hang_rate + error_rate`` it answers HTTP 500/502/503 with an
   nginx-style HTML page or an empty body. Neither changes any record.
   ``--latency-ms`` (plus up to ``--latency-jitter-ms``) then delays every
   request that was not hung, before it is validated and processed.
3. **Validation**, all answered with HTTP 200 and a documented body:
   a. ``apiKey`` header missing or empty        -> KEY_MISSING
   b. ``apiKey`` not the configured key          -> INVALID_USER
   c. body not exactly one JSON object, or a field holding something other
      than a string, an integer or null           -> INVALID_JSON
   d. ``userName`` missing or empty              -> USER_MISSING
   e. ``userName`` not the configured user       -> INVALID_USER
   f. ``campaignName`` missing or empty          -> CAMPAIGN_MISSING
   g. campaign not listed (only when ``--campaign`` was given) -> CAMPAIGN_INVALID
   h. ``phoneNumber`` missing or empty           -> PHONE_MISSING
   "Empty" means empty or only whitespace; an integer field is read as its
   decimal text. The request's Content-Type is not checked.
4. **Deletion**: a number that exists in the campaign and was not deleted yet is
   deleted (DELETED); anything else answers NOT_FOUND, as the vendor does for an
   unknown or already-deleted number.

Which numbers exist: ``--numbers FILE`` (one number a line, or ``campaign,number``
to scope it to one campaign; blank lines and ``#`` comments are skipped; plain
numbers exist in every campaign) or else ``--present-ratio R``: a number exists
iff sha256 of (campaign, number) maps below R, so the answer is the same in
every process and after every restart. Numbers are compared as sent, trimmed.

Side endpoints: ``GET /_sandbox/stats`` (counters), ``GET /_sandbox/deleted`` and
``GET /_sandbox/requests``. API keys never appear in them: a key is shown as a
label, ``key#1`` for the configured key, ``key#2``... for other keys in order of
first appearance, ``no-key`` for the missing/empty bucket. Without a rate limit,
``max_in_window`` is still measured, over a 60 s window (the vendor's period).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Final

import click
from aiohttp import web

from runner import protocol
from runner.config import is_loopback, parse_rate_limit

Clock = Callable[[], float]

HANG_SECONDS: Final = 3600.0
"""How long a hung request waits: longer than any sensible client timeout."""

DEFAULT_WINDOW_SECONDS: Final = 60.0
"""Window used to measure ``max_in_window`` when no rate limit is configured."""

SHUTDOWN_TIMEOUT: Final = 2.0
"""Seconds aiohttp waits for in-flight handlers at shutdown (hangs end earlier)."""

_NGINX_PAGE: Final = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_ERROR_RESPONSES: Final = (
    (500, _NGINX_PAGE.format(code=500, reason="Internal Server Error")),
    (502, _NGINX_PAGE.format(code=502, reason="Bad Gateway")),
    (503, ""),
)


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class SandboxSettings:
    """Everything the sandbox can be told; defaults match ``runner sandbox``."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_key: str = "sandbox-key"
    user_name: str = "sandbox"
    campaigns: frozenset[str] = frozenset()  # empty: every campaign is valid
    numbers_file: Path | None = None  # overrides present_ratio when given
    present_ratio: float = 1.0
    rate_limit: tuple[int, float] | None = None  # (count, period in seconds)
    error_rate: float = 0.0
    latency_ms: int = 0
    latency_jitter_ms: int = 0
    hang_rate: float = 0.0
    seed: int = 0


# --------------------------------------------------------------------------- presence


def number_present(campaign: str, phone: str, ratio: float) -> bool:
    """Deterministic membership: sha256 (not ``hash()``) so every process agrees."""
    if ratio >= 1.0:
        return True
    digest = hashlib.sha256(f"{campaign}\x00{phone}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < ratio


@dataclass(frozen=True)
class NumberList:
    """Numbers read from a ``--numbers`` file: global ones and per-campaign ones."""

    everywhere: frozenset[str]
    scoped: frozenset[tuple[str, str]]

    def contains(self, campaign: str, phone: str) -> bool:
        """Whether ``phone`` exists in ``campaign``."""
        return phone in self.everywhere or (campaign, phone) in self.scoped


def parse_numbers(lines: Iterable[str]) -> NumberList:
    """Parse a numbers file's lines; raises ValueError naming the bad line."""
    everywhere: set[str] = set()
    scoped: set[tuple[str, str]] = set()
    for lineno, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 1:
            everywhere.add(parts[0])
        elif len(parts) == 2 and all(parts):
            scoped.add((parts[0], parts[1]))
        else:
            raise ValueError(f"line {lineno}: expected 'number' or 'campaign,number', got {line!r}")
    return NumberList(frozenset(everywhere), frozenset(scoped))


def load_numbers(path: Path) -> NumberList:
    """Read and parse a numbers file (UTF-8)."""
    with path.open(encoding="utf-8") as handle:
        try:
            return parse_numbers(handle)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- window


class SlidingWindow:
    """Admission times of one API key within the last ``period`` seconds.

    Closed at both ends, so it is at least as strict as any client's idea of
    "N per period": the runner's guarantee is checked against the harshest reading.
    ``limit=None`` only measures (for ``max_seen``) and never refuses.
    """

    def __init__(self, period: float, limit: int | None = None) -> None:
        self.period = period
        self.limit = limit
        self.max_seen = 0
        self._times: deque[float] = deque()

    def _expire(self, now: float) -> None:
        horizon = now - self.period
        while self._times and self._times[0] < horizon:
            self._times.popleft()

    def count(self, now: float) -> int:
        """Admitted requests in the window ending at ``now``."""
        self._expire(now)
        return len(self._times)

    def try_admit(self, now: float) -> bool:
        """Admit a request arriving at ``now`` unless the window is full."""
        if self.limit is not None and self.count(now) >= self.limit:
            return False
        self._times.append(now)
        self.max_seen = max(self.max_seen, self.count(now))
        return True

    def wait_time(self, now: float) -> float:
        """Seconds until the oldest admitted request leaves the window (0 if none)."""
        self._expire(now)
        if not self._times:
            return 0.0
        return max(0.0, self._times[0] + self.period - now)


def retry_after_header(wait: float) -> str:
    """Whole seconds for ``Retry-After``: rounded up, and never 0 (a 0 invites a spin)."""
    return str(max(1, math.ceil(wait)))


# --------------------------------------------------------------------------- state


class Fault(Enum):
    """What fault injection decided for one admitted request."""

    NONE = "none"
    HANG = "hang"
    ERROR = "error"


@dataclass(frozen=True)
class DeleteRequest:
    """A request that passed validation."""

    campaign: str
    phone: str


@dataclass
class Counters:
    """The numbers ``/_sandbox/stats`` reports."""

    requests: int = 0
    deleted: int = 0
    not_found: int = 0
    rate_limited: int = 0
    errors: int = 0
    hangs: int = 0
    invalid: int = 0
    duplicate_deletes: int = 0


_Answer = tuple[str, str]
_FIELDS: Final = (protocol.USER, protocol.CAMPAIGN, protocol.PHONE)


@dataclass
class SandboxState:
    """All of the sandbox's memory, free of aiohttp so it can be unit-tested."""

    settings: SandboxSettings
    clock: Clock = time.monotonic
    numbers: NumberList | None = None
    counters: Counters = field(default_factory=Counters)
    deleted: dict[str, list[str]] = field(default_factory=dict)
    request_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    windows: dict[str, SlidingWindow] = field(default_factory=dict)
    _deleted_set: set[tuple[str, str]] = field(default_factory=set, init=False)
    _labels: dict[str, str] = field(default_factory=dict, init=False)
    _fault_rng: random.Random = field(init=False)
    _jitter_rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._fault_rng = random.Random(self.settings.seed)
        self._jitter_rng = random.Random(f"jitter-{self.settings.seed}")
        self._labels[self.settings.api_key] = "key#1"
        if self.numbers is None and self.settings.numbers_file is not None:
            self.numbers = load_numbers(self.settings.numbers_file)

    # -- step 1: rate limit
    def admit(self, key: str) -> float | None:
        """Count an arriving request; None if admitted, else seconds to wait."""
        self.counters.requests += 1
        window = self._window(key if key.strip() else "")
        now = self.clock()
        if window.try_admit(now):
            return None
        self.counters.rate_limited += 1
        return window.wait_time(now)

    def _window(self, key: str) -> SlidingWindow:
        if key not in self.windows:
            limit = self.settings.rate_limit
            period = limit[1] if limit else DEFAULT_WINDOW_SECONDS
            self.windows[key] = SlidingWindow(period, limit[0] if limit else None)
        return self.windows[key]

    # -- step 2: faults
    def roll_fault(self) -> Fault:
        """One draw per admitted request, so a seed replays the same fault pattern."""
        roll = self._fault_rng.random()
        if roll < self.settings.hang_rate:
            self.counters.hangs += 1
            return Fault.HANG
        if roll < self.settings.hang_rate + self.settings.error_rate:
            self.counters.errors += 1
            return Fault.ERROR
        return Fault.NONE

    def pick_error(self) -> tuple[int, str]:
        """Which 5xx (and body) an injected error answers with."""
        return self._fault_rng.choice(_ERROR_RESPONSES)

    def latency_seconds(self) -> float:
        """Delay for one request: the fixed latency plus uniform jitter."""
        jitter = self._jitter_rng.uniform(0, self.settings.latency_jitter_ms)
        return (self.settings.latency_ms + jitter) / 1000.0

    # -- step 3: validation
    def validate(self, key: str, body: bytes) -> DeleteRequest | _Answer:
        """The request's record, or the documented answer that rejects it."""
        result = self._check(key, body)
        if not isinstance(result, DeleteRequest):
            self.counters.invalid += 1
        return result

    def _check(self, key: str, body: bytes) -> DeleteRequest | _Answer:
        if not key.strip():
            return protocol.KEY_MISSING
        if key != self.settings.api_key:
            return protocol.INVALID_USER
        record = _parse_record(body)
        if record is None:
            return protocol.INVALID_JSON
        user, campaign, phone = (record.get(name, "") for name in _FIELDS)
        if not user:
            return protocol.USER_MISSING
        if user != self.settings.user_name:
            return protocol.INVALID_USER
        if not campaign:
            return protocol.CAMPAIGN_MISSING
        if self.settings.campaigns and campaign not in self.settings.campaigns:
            return protocol.CAMPAIGN_INVALID
        if not phone:
            return protocol.PHONE_MISSING
        return DeleteRequest(campaign, phone)

    # -- step 4: deletion
    def delete(self, request: DeleteRequest) -> _Answer:
        """Delete the number if it exists and is still there."""
        ident = (request.campaign, request.phone)
        self.request_counts[ident] = self.request_counts.get(ident, 0) + 1
        if ident in self._deleted_set:
            self.counters.duplicate_deletes += 1
        elif self.exists(request.campaign, request.phone):
            self._deleted_set.add(ident)
            self.deleted.setdefault(request.campaign, []).append(request.phone)
            self.counters.deleted += 1
            return protocol.DELETED
        self.counters.not_found += 1
        return protocol.NOT_FOUND

    def exists(self, campaign: str, phone: str) -> bool:
        """Whether the number was ever in the campaign (ignores deletions)."""
        if self.numbers is not None:
            return self.numbers.contains(campaign, phone)
        return number_present(campaign, phone, self.settings.present_ratio)

    # -- reporting
    def label(self, key: str) -> str:
        """A stable stand-in for a key, so reports never echo a secret."""
        if not key:
            return "no-key"
        if key not in self._labels:
            self._labels[key] = f"key#{len(self._labels) + 1}"
        return self._labels[key]

    def stats(self) -> dict[str, Any]:
        """The JSON document of ``GET /_sandbox/stats``."""
        per_key = {self.label(key): window.max_seen for key, window in self.windows.items()}
        limit = self.settings.rate_limit
        return {
            **vars(self.counters),
            "max_in_window": per_key,
            "max_in_window_overall": max(per_key.values(), default=0),
            "rate_limit": {"count": limit[0], "period_seconds": limit[1]} if limit else None,
            "window_seconds": limit[1] if limit else DEFAULT_WINDOW_SECONDS,
        }

    def request_list(self) -> list[dict[str, Any]]:
        """The JSON document of ``GET /_sandbox/requests``."""
        return [
            {"campaign": campaign, "phone": phone, "count": count}
            for (campaign, phone), count in self.request_counts.items()
        ]


def _parse_record(body: bytes) -> dict[str, str] | None:
    """One JSON object with its fields as trimmed text, or None if malformed."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    record: dict[str, str] = {}
    for name in _FIELDS:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        record[name] = str(value).strip()
    return record


# --------------------------------------------------------------------------- aiohttp

STATE_KEY: Final = web.AppKey("sandbox_state", SandboxState)
STOP_KEY: Final = web.AppKey("sandbox_stop", asyncio.Event)


def _answer(
    answer: _Answer, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=protocol.response_body(answer).encode(),
        content_type="application/json",
        headers=headers,
    )


async def _hang(stop: asyncio.Event) -> web.Response:
    """Wait far past any client timeout, but end as soon as the server stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=HANG_SECONDS)
    return web.Response(status=503)


async def handle_delete(request: web.Request) -> web.Response:
    """``DELETE /ca_apis/deleteCampaignData``, in the order of the module docstring."""
    state = request.app[STATE_KEY]
    key = request.headers.get(protocol.API_KEY_HEADER, "")
    wait = state.admit(key)  # before any await: arrival time is what counts
    if wait is not None:
        headers = {"Retry-After": retry_after_header(wait)}
        return _answer(protocol.RATE_LIMITED, status=429, headers=headers)
    fault = state.roll_fault()
    if fault is Fault.HANG:
        return await _hang(request.app[STOP_KEY])
    error = state.pick_error() if fault is Fault.ERROR else None
    delay = state.latency_seconds()
    if delay > 0:
        await asyncio.sleep(delay)
    if error is not None:
        return web.Response(status=error[0], text=error[1], content_type="text/html")
    verdict = state.validate(key, await request.read())
    if isinstance(verdict, DeleteRequest):
        verdict = state.delete(verdict)
    return _answer(verdict)


async def handle_stats(request: web.Request) -> web.Response:
    """Counters for tests and benchmarks (no API key in them)."""
    return web.json_response(request.app[STATE_KEY].stats())


async def handle_deleted(request: web.Request) -> web.Response:
    """Deleted numbers per campaign, in deletion order."""
    return web.json_response(request.app[STATE_KEY].deleted)


async def handle_requests(request: web.Request) -> web.Response:
    """How often each (campaign, number) was requested past validation."""
    return web.json_response(request.app[STATE_KEY].request_list())


async def _release_hangs(app: web.Application) -> None:
    app[STOP_KEY].set()


def build_app(settings: SandboxSettings, *, clock: Clock = time.monotonic) -> web.Application:
    """The sandbox as an aiohttp application; ``clock`` is injectable for tests."""
    app = web.Application()
    app[STATE_KEY] = SandboxState(settings, clock=clock)
    app[STOP_KEY] = asyncio.Event()
    app.on_shutdown.append(_release_hangs)
    app.router.add_delete(protocol.PATH, handle_delete)
    app.router.add_get("/_sandbox/stats", handle_stats)
    app.router.add_get("/_sandbox/deleted", handle_deleted)
    app.router.add_get("/_sandbox/requests", handle_requests)
    return app


async def start_sandbox(settings: SandboxSettings) -> tuple[web.AppRunner, int]:
    """Start serving; returns the runner (``await runner.cleanup()`` stops it) and port."""
    runner = web.AppRunner(build_app(settings), access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
    except BaseException:
        await runner.cleanup()
        raise
    port: int = runner.addresses[0][1]
    return runner, port


# --------------------------------------------------------------------------- command


def _rate_limit_option(
    _ctx: click.Context, _param: click.Parameter, value: str | None
) -> tuple[int, float] | None:
    if value is None:
        return None
    try:
        limit = parse_rate_limit(value)  # the notation of jobs.yaml, so it can be pasted
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return limit.count, limit.period_seconds


def _numbers_option(
    _ctx: click.Context, _param: click.Parameter, value: Path | None
) -> Path | None:
    if value is not None:
        try:
            load_numbers(value)
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise click.BadParameter(str(exc)) from None
    return value


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


async def _serve(settings: SandboxSettings) -> None:
    """Serve until SIGINT or SIGTERM, then shut down cleanly."""
    runner, port = await start_sandbox(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        click.echo(f"sandbox listening on {_url(settings.host, port)}")
        sys.stdout.flush()
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await runner.cleanup()


_RATE = click.FloatRange(0.0, 1.0)


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind; 0 picks a free one.",
)
@click.option("--allow-remote", is_flag=True, help="Allow binding a non-loopback --host.")
@click.option("--api-key", default="sandbox-key", show_default=True, help="The valid apiKey.")
@click.option("--user-name", default="sandbox", show_default=True, help="The valid userName.")
@click.option(
    "--campaign",
    "campaigns",
    multiple=True,
    help="A valid campaign (repeatable); none given: every campaign is valid.",
)
@click.option(
    "--numbers",
    "numbers_file",
    callback=_numbers_option,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File of existing numbers: 'number' or 'campaign,number' per line.",
)
@click.option(
    "--present-ratio",
    default=1.0,
    show_default=True,
    type=_RATE,
    help="Fraction of numbers that exist (ignored with --numbers).",
)
@click.option(
    "--rate-limit",
    callback=_rate_limit_option,
    help="Sliding-window limit per API key: N/s, N/min, N/h. Default: none.",
)
@click.option(
    "--error-rate",
    default=0.0,
    show_default=True,
    type=_RATE,
    help="Probability of an injected HTTP 5xx.",
)
@click.option(
    "--latency-ms",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Delay added to every admitted request.",
)
@click.option(
    "--latency-jitter-ms",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Extra uniform random delay, 0..N ms.",
)
@click.option(
    "--hang-rate",
    default=0.0,
    show_default=True,
    type=_RATE,
    help="Probability that a request never answers (a client timeout).",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for fault injection.")
def sandbox_command(
    host: str,
    port: int,
    allow_remote: bool,
    api_key: str,
    user_name: str,
    campaigns: tuple[str, ...],
    numbers_file: Path | None,
    present_ratio: float,
    rate_limit: tuple[int, float] | None,
    error_rate: float,
    latency_ms: int,
    latency_jitter_ms: int,
    hang_rate: float,
    seed: int,
) -> None:
    """Serve a local CloudAgent deleteCampaignData simulator (SPEC §6)."""
    if not allow_remote and not is_loopback(host):
        raise click.BadParameter(
            f"{host!r} is not a loopback address; add --allow-remote to bind it anyway",
            param_hint="--host",
        )
    if error_rate + hang_rate > 1.0:
        raise click.UsageError("--error-rate plus --hang-rate must not exceed 1")
    if not api_key.strip() or not user_name.strip():
        raise click.UsageError("--api-key and --user-name must not be empty")
    settings = SandboxSettings(
        host=host,
        port=port,
        api_key=api_key,
        user_name=user_name,
        campaigns=frozenset(campaigns),
        numbers_file=numbers_file,
        present_ratio=present_ratio,
        rate_limit=rate_limit,
        error_rate=error_rate,
        latency_ms=latency_ms,
        latency_jitter_ms=latency_jitter_ms,
        hang_rate=hang_rate,
        seed=seed,
    )
    try:
        asyncio.run(_serve(settings))
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {_url(host, port)}: {exc}") from None


# --------------------------------------------------------------------------- as a process


class SandboxProcess:
    """``runner sandbox --port 0 ...`` as a child process, for tests, benchmarks and scripts.

    Started on a free loopback port; ``url`` is read from its first line. Stopped
    with SIGTERM (as an operator would), killed only if it does not stop.
    """

    def __init__(self, *options: str, stderr: Any = subprocess.PIPE) -> None:
        command = [sys.executable, "-m", "runner", "sandbox", "--port", "0", *options]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("sandbox listening on "):
            self.stop()
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.url = line.split()[-1]

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def get(self, path: str) -> Any:
        """A side endpoint's JSON, e.g. ``get("/_sandbox/stats")``."""
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.load(response)

    def stats(self) -> dict[str, Any]:
        return dict(self.get("/_sandbox/stats"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
