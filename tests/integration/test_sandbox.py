"""The sandbox's own contract: the simulator must be right before it can judge the runner."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sandbox_helpers import (
    GOOD,
    KEY,
    FakeClock,
    MakeClient,
    body_of,
    eventually,
    rec,
    send,
    stats,
)

from runner.core import protocol
from runner.sandbox import number_present, sandbox_command
from runner.sandbox.presence import load_numbers, parse_numbers
from runner.sandbox.rules import SandboxState
from runner.sandbox.server import STATE_KEY, start_sandbox
from runner.sandbox.settings import SandboxSettings
from runner.sandbox.window import SlidingWindow, retry_after_header

# --------------------------------------------------------------------------- pure helpers


def test_retry_after_header_rounds_up_and_never_zero() -> None:
    assert retry_after_header(0.0) == "1"
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(1.0) == "1"
    assert retry_after_header(1.01) == "2"
    assert retry_after_header(59.5) == "60"


def test_sliding_window_boundaries() -> None:
    window = SlidingWindow(period=10.0, limit=2)
    assert window.try_admit(0.0)
    assert window.try_admit(4.0)
    assert not window.try_admit(5.0)
    assert window.wait_time(5.0) == 5.0
    # Closed window: a request exactly one period after the oldest still counts it.
    assert not window.try_admit(10.0)
    assert window.wait_time(10.0) == 0.0
    assert window.try_admit(10.001)
    assert not window.try_admit(14.0)  # 4.0 is still inside [4.0, 14.0]
    assert window.try_admit(14.01)
    assert window.max_seen == 2
    assert window.count(100.0) == 0


def test_sliding_window_without_limit_only_measures() -> None:
    window = SlidingWindow(period=1.0)
    for t in (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 5.0):
        assert window.try_admit(t)
    # [0.0, 1.0] and [0.25, 1.25] hold 5 each: both ends count.
    assert window.max_seen == 5
    assert window.count(5.0) == 1


@given(
    limit=st.integers(1, 5),
    gaps=st.lists(st.floats(0.0, 3.0, allow_nan=False), min_size=1, max_size=60),
)
def test_sliding_window_never_exceeds_limit(limit: int, gaps: list[float]) -> None:
    """Brute force over every closed window of length period ending at an admission."""
    period = 5.0
    window = SlidingWindow(period, limit)
    now = 0.0
    admitted: list[float] = []
    for gap in gaps:
        now += gap
        in_window = len([t for t in admitted if now - period <= t])
        if window.try_admit(now):
            assert in_window < limit
            admitted.append(now)
        else:  # refused only when really full
            assert in_window == limit
    worst = max(len([t for t in admitted if end - period <= t <= end]) for end in admitted)
    assert worst <= limit
    assert window.max_seen == worst


def test_number_present_is_deterministic_and_roughly_the_ratio() -> None:
    numbers = [str(9_000_000_000 + i) for i in range(20_000)]
    present = [n for n in numbers if number_present("Sales", n, 0.3)]
    assert 0.28 < len(present) / len(numbers) < 0.32
    assert present == [n for n in numbers if number_present("Sales", n, 0.3)]
    assert all(number_present("Sales", n, 1.0) for n in numbers[:100])
    assert not any(number_present("Sales", n, 0.0) for n in numbers[:1000])
    # A smaller ratio selects a subset: present at 0.1 implies present at 0.3.
    assert {n for n in numbers if number_present("Sales", n, 0.1)} <= set(present)
    # Membership depends on the campaign too.
    other = [n for n in numbers if number_present("Other", n, 0.3)]
    assert other != present


def test_number_present_is_stable_across_processes() -> None:
    """Pinned values: a switch to the salted built-in hash() would break these."""
    chosen = [n for n in range(9000000000, 9000000020) if number_present("Sales", str(n), 0.5)]
    assert chosen == [
        9000000001, 9000000003, 9000000006, 9000000007,
        9000000008, 9000000009, 9000000010, 9000000017,
    ]  # fmt: skip


def test_parse_numbers() -> None:
    numbers = parse_numbers(["# comment", "", " 9000000001 ", "Sales, 9000000002", "\n"])
    assert numbers.contains("Sales", "9000000001")
    assert numbers.contains("Other", "9000000001")
    assert numbers.contains("Sales", "9000000002")
    assert not numbers.contains("Other", "9000000002")
    assert not numbers.contains("Sales", "9000000003")


@pytest.mark.parametrize("line", ["a,b,c", ",9000000001", "Sales,"])
def test_parse_numbers_rejects_bad_lines(line: str) -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_numbers(["9000000001", line])


def test_state_fault_rolls_follow_rates_and_seed() -> None:
    settings = SandboxSettings(error_rate=0.2, hang_rate=0.1, seed=7)
    state, again = SandboxState(settings), SandboxState(settings)
    rolls = [state.roll_fault() for _ in range(5000)]
    assert rolls == [again.roll_fault() for _ in range(5000)]
    other = SandboxState(SandboxSettings(error_rate=0.2, hang_rate=0.1, seed=8))
    assert rolls != [other.roll_fault() for _ in range(5000)]
    assert 0.17 < state.counters.errors / 5000 < 0.23
    assert 0.08 < state.counters.hangs / 5000 < 0.12


# --------------------------------------------------------------------------- HTTP: validation


VALIDATION_CASES = [
    pytest.param({"key": None}, protocol.KEY_MISSING, id="key-header-missing"),
    pytest.param({"key": ""}, protocol.KEY_MISSING, id="key-empty"),
    pytest.param({"key": "   "}, protocol.KEY_MISSING, id="key-blank"),
    pytest.param({"key": "wrong-key"}, protocol.INVALID_USER, id="key-wrong"),
    pytest.param({"key": "wrong-key", "raw": b"nonsense"}, protocol.INVALID_USER, id="key-first"),
    pytest.param({"key": None, "raw": b"nonsense"}, protocol.KEY_MISSING, id="missing-key-first"),
    pytest.param({"raw": b"{not json"}, protocol.INVALID_JSON, id="invalid-json"),
    pytest.param({"raw": b""}, protocol.INVALID_JSON, id="empty-body"),
    pytest.param({"raw": b"\xff\xfe"}, protocol.INVALID_JSON, id="not-utf8"),
    pytest.param({"record": [GOOD]}, protocol.INVALID_JSON, id="list-of-one"),
    pytest.param({"raw": json.dumps(GOOD).encode() * 2}, protocol.INVALID_JSON, id="two-records"),
    pytest.param({"record": "text"}, protocol.INVALID_JSON, id="json-string"),
    pytest.param({"record": rec(phoneNumber=["1"])}, protocol.INVALID_JSON, id="phone-list"),
    pytest.param({"record": rec(userName=None)}, protocol.USER_MISSING, id="user-missing"),
    pytest.param({"record": rec(userName="")}, protocol.USER_MISSING, id="user-empty"),
    pytest.param({"record": rec(userName="bob")}, protocol.INVALID_USER, id="user-wrong"),
    pytest.param({"record": rec(userName="bob", campaignName="")}, protocol.INVALID_USER,
                 id="user-before-campaign"),
    pytest.param({"record": rec(campaignName=None)}, protocol.CAMPAIGN_MISSING,
                 id="campaign-missing"),
    pytest.param({"record": rec(campaignName=" ")}, protocol.CAMPAIGN_MISSING, id="campaign-blank"),
    pytest.param({"record": rec(campaignName="Nope")}, protocol.CAMPAIGN_INVALID,
                 id="campaign-unknown"),
    pytest.param({"record": rec(campaignName="Nope", phoneNumber="")}, protocol.CAMPAIGN_INVALID,
                 id="campaign-before-phone"),
    pytest.param({"record": rec(phoneNumber=None)}, protocol.PHONE_MISSING, id="phone-missing"),
    pytest.param({"record": rec(phoneNumber="")}, protocol.PHONE_MISSING, id="phone-empty"),
]  # fmt: skip


@pytest.mark.parametrize(("request_args", "answer"), VALIDATION_CASES)
async def test_validation_answers(
    make_client: MakeClient, request_args: dict[str, Any], answer: tuple[str, str]
) -> None:
    client = await make_client(campaigns=frozenset({"Sales"}))
    status, body, resp = await send(client, **request_args)
    assert (status, body) == (200, body_of(answer))
    assert resp.content_type == "application/json"
    counters = await stats(client)
    assert counters["invalid"] == 1
    assert counters["deleted"] == counters["not_found"] == 0
    async with client.get("/_sandbox/requests") as r:
        assert await r.json() == []


async def test_every_campaign_is_valid_without_campaign_option(make_client: MakeClient) -> None:
    client = await make_client()
    status, body, _ = await send(client, rec(campaignName="Anything"))
    assert (status, body) == (200, body_of(protocol.DELETED))


async def test_custom_credentials(make_client: MakeClient) -> None:
    client = await make_client(api_key="k-123", user_name="admin")
    assert (await send(client))[1] == body_of(protocol.INVALID_USER)
    assert (await send(client, key="k-123"))[1] == body_of(protocol.INVALID_USER)
    ok = await send(client, rec(userName="admin"), key="k-123")
    assert ok[1] == body_of(protocol.DELETED)


async def test_integer_phone_and_optional_name_are_accepted(make_client: MakeClient) -> None:
    client = await make_client()
    assert (await send(client, rec(phoneNumber=9000000007, name="Ann")))[1] == body_of(
        protocol.DELETED
    )
    async with client.get("/_sandbox/deleted") as resp:
        assert await resp.json() == {"Sales": ["9000000007"]}


# --------------------------------------------------------------------------- HTTP: deletion


async def test_delete_then_not_found(make_client: MakeClient) -> None:
    client = await make_client()
    assert (await send(client))[:2] == (200, body_of(protocol.DELETED))
    assert (await send(client))[:2] == (200, body_of(protocol.NOT_FOUND))
    assert (await send(client))[:2] == (200, body_of(protocol.NOT_FOUND))
    # Same number, other campaign: a separate record.
    assert (await send(client, rec(campaignName="Other")))[1] == body_of(protocol.DELETED)

    counters = await stats(client)
    assert counters["requests"] == 4
    assert counters["deleted"] == 2
    assert counters["not_found"] == 2
    assert counters["duplicate_deletes"] == 2
    assert counters["invalid"] == counters["errors"] == counters["rate_limited"] == 0
    async with client.get("/_sandbox/deleted") as resp:
        assert await resp.json() == {"Sales": ["9000000001"], "Other": ["9000000001"]}
    async with client.get("/_sandbox/requests") as resp:
        assert await resp.json() == [
            {"campaign": "Sales", "phone": "9000000001", "count": 3},
            {"campaign": "Other", "phone": "9000000001", "count": 1},
        ]


async def test_present_ratio_decides_existence(make_client: MakeClient) -> None:
    client = await make_client(present_ratio=0.5)
    for n in range(9000000000, 9000000020):
        expected = protocol.DELETED if number_present("Sales", str(n), 0.5) else protocol.NOT_FOUND
        assert (await send(client, rec(phoneNumber=str(n))))[1] == body_of(expected)
    counters = await stats(client)
    assert (counters["deleted"], counters["not_found"], counters["duplicate_deletes"]) == (8, 12, 0)


async def test_present_ratio_zero_finds_nothing(make_client: MakeClient) -> None:
    client = await make_client(present_ratio=0.0)
    assert (await send(client))[1] == body_of(protocol.NOT_FOUND)


async def test_numbers_file(make_client: MakeClient, tmp_path: Path) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text("# existing numbers\n9000000001\nSales,9000000002\n\n", encoding="utf-8")
    client = await make_client(numbers_file=path, present_ratio=1.0)
    cases = [
        ("Sales", "9000000001", protocol.DELETED),
        ("Other", "9000000001", protocol.DELETED),
        ("Sales", "9000000002", protocol.DELETED),
        ("Other", "9000000002", protocol.NOT_FOUND),
        ("Sales", "9000000003", protocol.NOT_FOUND),  # the file overrides present_ratio
        ("Sales", "9000000002", protocol.NOT_FOUND),
    ]
    for campaign, phone, answer in cases:
        assert (await send(client, rec(campaignName=campaign, phoneNumber=phone)))[1] == body_of(
            answer
        )


def test_load_numbers_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("1,2,3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.txt: line 1"):
        load_numbers(path)


# --------------------------------------------------------------------------- HTTP: rate limit


async def test_rate_limit_429_retry_after_and_no_state_change(make_client: MakeClient) -> None:
    clock = FakeClock(1000.0)
    client = await make_client(clock=clock, rate_limit=(3, 10.0))
    for n in range(3):
        assert (await send(client, rec(phoneNumber=f"900000000{n}")))[1] == body_of(
            protocol.DELETED
        )
        clock.now += 1.0  # admissions at 1000, 1001, 1002

    # Refused: a present, never-deleted number stays undeleted.
    status, body, resp = await send(client, rec(phoneNumber="9000000009"))
    assert (status, body) == (429, body_of(protocol.RATE_LIMITED))
    assert resp.headers["Retry-After"] == "7"  # 1000 + 10 - 1003
    assert resp.content_type == "application/json"
    clock.now = 1005.5
    assert (await send(client, rec(phoneNumber="9000000009")))[2].headers["Retry-After"] == "5"
    clock.now = 1010.0  # exactly one period after the oldest: still inside (closed window)
    assert (await send(client, rec(phoneNumber="9000000009")))[2].headers["Retry-After"] == "1"

    counters = await stats(client)
    assert counters["rate_limited"] == 3
    assert counters["requests"] == 6
    assert counters["deleted"] == 3
    assert counters["not_found"] == counters["invalid"] == counters["duplicate_deletes"] == 0
    async with client.get("/_sandbox/requests") as resp:
        assert "9000000009" not in await resp.text()

    clock.now = 1010.001
    status, body, _ = await send(client, rec(phoneNumber="9000000009"))
    assert (status, body) == (200, body_of(protocol.DELETED))
    counters = await stats(client)
    assert counters["max_in_window"] == {"key#1": 3}
    assert counters["max_in_window_overall"] == 3
    assert counters["rate_limit"] == {"count": 3, "period_seconds": 10.0}


async def test_rate_limit_buckets_per_key(make_client: MakeClient) -> None:
    client = await make_client(clock=FakeClock(), rate_limit=(1, 60.0))
    assert (await send(client))[0] == 200
    assert (await send(client))[0] == 429
    # A wrong key has its own bucket, so it is validated (and refused as a user).
    assert (await send(client, key="other-key"))[1] == body_of(protocol.INVALID_USER)
    assert (await send(client, key="other-key"))[0] == 429
    # Missing and empty keys share one bucket.
    assert (await send(client, key=None))[1] == body_of(protocol.KEY_MISSING)
    assert (await send(client, key=""))[0] == 429
    counters = await stats(client)
    assert counters["max_in_window"] == {"key#1": 1, "key#2": 1, "no-key": 1}
    assert counters["rate_limited"] == 3


async def test_max_in_window_never_above_limit_under_concurrency(make_client: MakeClient) -> None:
    client = await make_client(rate_limit=(5, 60.0))
    results = await asyncio.gather(
        *(send(client, rec(phoneNumber=str(9000000000 + n))) for n in range(40))
    )
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] * 5 + [429] * 35
    counters = await stats(client)
    assert counters["max_in_window_overall"] == 5
    assert counters["deleted"] == 5
    assert counters["rate_limited"] == 35


async def test_without_rate_limit_window_is_measured(make_client: MakeClient) -> None:
    clock = FakeClock()
    client = await make_client(clock=clock)
    for _ in range(4):
        assert (await send(client))[0] == 200
        clock.now += 25.0  # 0, 25, 50, 75: at most 3 in any closed 60 s window
    counters = await stats(client)
    assert counters["rate_limit"] is None
    assert counters["window_seconds"] == 60.0
    assert counters["max_in_window_overall"] == 3


# --------------------------------------------------------------------------- HTTP: faults


async def test_error_injection_answers_5xx_and_changes_nothing(make_client: MakeClient) -> None:
    client = await make_client(error_rate=1.0, seed=3)
    seen = set()
    for _ in range(30):
        status, body, resp = await send(client)
        assert status in (500, 502, 503)
        seen.add(status)
        assert body == b"" or (b"nginx" in body and resp.content_type == "text/html")
        assert not body.startswith(b"{")
    assert seen == {500, 502, 503}
    counters = await stats(client)
    assert counters["errors"] == counters["requests"] == 30
    assert counters["deleted"] == counters["not_found"] == counters["invalid"] == 0


async def test_error_injection_rate_is_roughly_respected(make_client: MakeClient) -> None:
    client = await make_client(error_rate=0.3, seed=1)
    statuses = [(await send(client, rec(phoneNumber=str(n))))[0] for n in range(200)]
    errors = sum(1 for s in statuses if s >= 500)
    assert 40 <= errors <= 80
    counters = await stats(client)
    assert counters["errors"] == errors
    assert counters["deleted"] == 200 - errors


async def test_same_seed_same_faults(make_client: MakeClient) -> None:
    first = await make_client(error_rate=0.5, seed=42)
    second = await make_client(error_rate=0.5, seed=42)
    a = [(await send(first, rec(phoneNumber=str(n))))[0] for n in range(30)]
    b = [(await send(second, rec(phoneNumber=str(n))))[0] for n in range(30)]
    assert a == b
    assert 200 in a and any(s >= 500 for s in a)


async def test_rate_limit_comes_before_fault_injection(make_client: MakeClient) -> None:
    client = await make_client(clock=FakeClock(), rate_limit=(1, 60.0), error_rate=1.0)
    assert (await send(client))[0] >= 500
    assert (await send(client))[:2] == (429, body_of(protocol.RATE_LIMITED))
    counters = await stats(client)
    assert (counters["errors"], counters["rate_limited"]) == (1, 1)


async def test_hang_outlives_client_timeout_without_state_change(make_client: MakeClient) -> None:
    client = await make_client(hang_rate=1.0)
    with pytest.raises(asyncio.TimeoutError):
        await send(client, timeout=aiohttp.ClientTimeout(total=0.2))
    counters = await stats(client)
    assert counters["hangs"] == counters["requests"] == 1
    assert counters["deleted"] == counters["not_found"] == counters["invalid"] == 0


async def test_hung_request_does_not_delay_shutdown() -> None:
    """A hang (an hour long) ends when the server stops: the client gets the 503 the
    released hang answers, not the disconnect a handler cancelled at the end of
    aiohttp's 60 s shutdown grace would give. Structural: no stopwatch."""
    runner, port = await start_sandbox(SandboxSettings(port=0, hang_rate=1.0))
    try:
        async with aiohttp.ClientSession() as session:

            async def hang() -> int:
                async with session.delete(
                    f"http://127.0.0.1:{port}{protocol.PATH}",
                    json=GOOD,
                    headers={protocol.API_KEY_HEADER: KEY},
                ) as resp:
                    return resp.status

            hung = asyncio.create_task(hang())
            state = runner.app[STATE_KEY]
            await eventually(lambda: state.counters.hangs == 1, "the request reached the sandbox")
            await runner.cleanup()
            assert await hung == 503
    finally:
        await runner.cleanup()


async def test_latency_delays_each_request(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answer waits for the configured latency (the sleep asked for, not a stopwatch)."""
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float, *args: Any) -> Any:
        slept.append(delay)
        return await real_sleep(delay, *args)

    client = await make_client(latency_ms=150)
    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    assert (await send(client))[1] == body_of(protocol.DELETED)
    monkeypatch.undo()
    assert slept == [0.15]


async def test_max_concurrent_counts_the_deletes_answered_at_one_moment(
    make_client: MakeClient,
) -> None:
    client = await make_client(latency_ms=100)
    for phone in ("9000000001", "9000000002", "9000000003"):
        await send(client, rec(phoneNumber=phone))  # one after another: never two open
    assert (await stats(client))["max_concurrent"] == 1
    phones = ("9000000004", "9000000005", "9000000006")
    await asyncio.gather(*(send(client, rec(phoneNumber=phone)) for phone in phones))
    assert (await stats(client))["max_concurrent"] == 3


# --------------------------------------------------------------------------- secrets, API


async def test_reports_never_contain_api_keys(make_client: MakeClient) -> None:
    secret, wrong = "S3cret-Key-Value-xyz", "Wr0ng-Key-Value-abc"
    client = await make_client(api_key=secret, rate_limit=(1, 60.0))
    await send(client, key=secret)
    await send(client, key=secret)
    await send(client, key=wrong)
    for path in ("/_sandbox/stats", "/_sandbox/deleted", "/_sandbox/requests"):
        async with client.get(path) as resp:
            text = await resp.text()
        assert secret not in text and wrong not in text, path
    assert set((await stats(client))["max_in_window"]) == {"key#1", "key#2"}


async def test_stats_fields(make_client: MakeClient) -> None:
    client = await make_client()
    assert await stats(client) == {
        "requests": 0, "deleted": 0, "not_found": 0, "rate_limited": 0, "errors": 0,
        "hangs": 0, "invalid": 0, "duplicate_deletes": 0, "forced_answers": 0,
        "token_generations": 0, "token_refused": 0, "tokens_expired": 0, "tokens_invalid": 0,
        "tokens_missing": 0, "invalid_action": 0, "max_concurrent": 0, "token_with_key": 0,
        "max_in_window": {},
        "max_in_window_overall": 0, "rate_limit": None, "window_seconds": 60.0,
    }  # fmt: skip


async def test_start_sandbox_picks_a_free_port() -> None:
    runner, port = await start_sandbox(SandboxSettings(port=0))
    try:
        assert port > 0
        async with (
            aiohttp.ClientSession() as session,
            session.delete(
                f"http://127.0.0.1:{port}{protocol.PATH}",
                json=GOOD,
                headers={protocol.API_KEY_HEADER: KEY},
            ) as resp,
        ):
            assert await resp.read() == body_of(protocol.DELETED)
    finally:
        await runner.cleanup()


# --------------------------------------------------------------------------- command line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-limit", "fast"], "'fast' is not N/s, N/min or N/h"),
        (["--rate-limit", "0/min"], "at least 1"),
        (["--host", "0.0.0.0"], "--allow-remote"),
        (["--present-ratio", "1.5"], "--present-ratio"),
        (["--error-rate", "0.6", "--hang-rate", "0.5"], "must not exceed 1"),
        (["--numbers", "/nonexistent/numbers.txt"], "--numbers"),
        (["--api-key", ""], "must not be empty"),
        (["--port", "70000"], "--port"),
        (["--answer", "redirect"], "--redirect-to"),
        (["--answer", "redirect", "--redirect-to", "ftp://x"], "not an http:// or https:// URL"),
        (["--answer", "nonsense"], "--answer"),
        (["--answer-from", "0"], "--answer-from"),
        (["--body-encoding", "utf16"], "--body-encoding"),
        (["--auth", "oauth"], "--auth"),
        (["--token-ttl", "0"], "--token-ttl"),
        (["--token-budget", "0"], "--token-budget"),
    ],
)
def test_command_rejects_bad_options(args: list[str], message: str) -> None:
    result = CliRunner().invoke(sandbox_command, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_command_rejects_malformed_numbers_file(tmp_path: Path) -> None:
    path = tmp_path / "n.txt"
    path.write_text("a,b,c\n", encoding="utf-8")
    result = CliRunner().invoke(sandbox_command, ["--numbers", str(path)])
    assert result.exit_code == 2
    assert "line 1" in result.output


async def _spawn(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    """Start the command in a child process; returns it and its listening line."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from runner.sandbox import sandbox_command; sandbox_command()",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), timeout=15)).decode()
    except BaseException:
        proc.kill()
        await proc.wait()
        raise
    return proc, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_subprocess_prints_listening_line_and_exits_0(sig: signal.Signals) -> None:
    proc, line = await _spawn("--hang-rate", "1")
    try:
        assert line.startswith("sandbox listening on http://127.0.0.1:")
        port = int(line.strip().rsplit(":", 1)[1])
        async with aiohttp.ClientSession() as session:
            # A hung request (an hour long) must not keep the process alive after the
            # signal: the stop releases it with a 503, then the process exits 0.
            async def hang() -> int:
                async with session.delete(
                    f"http://127.0.0.1:{port}{protocol.PATH}", json=GOOD
                ) as resp:
                    return resp.status

            async def hangs() -> int:
                async with session.get(f"http://127.0.0.1:{port}/_sandbox/stats") as resp:
                    return int((await resp.json())["hangs"])

            hung = asyncio.create_task(hang())
            for _ in range(3000):  # a guard against a request that never arrives
                if await hangs() == 1:
                    break
                await asyncio.sleep(0.01)
            proc.send_signal(sig)
            assert await hung == 503
            assert await asyncio.wait_for(proc.wait(), timeout=60) == 0  # a guard
        assert proc.stdout is not None and proc.stderr is not None
        assert await proc.stdout.read() == b""  # exactly one line on stdout
        assert await proc.stderr.read() == b""
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_subprocess_reports_busy_port() -> None:
    runner, port = await start_sandbox(SandboxSettings(port=0))
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from runner.sandbox import sandbox_command; sandbox_command()",
            "--port",
            str(port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=15)
        assert proc.returncode == 1
        assert out == b""
        assert b"cannot listen" in err
    finally:
        await runner.cleanup()
