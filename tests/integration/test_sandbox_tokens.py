"""The sandbox as a TOKEN_AUTH account: generateToken, bearer deletes, expiry, the budget."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.request
from typing import Any

import pytest
from sandbox_helpers import (
    FakeClock,
    MakeClient,
    body_of,
    generate,
    new_token,
    rec,
    send,
    side_text,
    stats,
)

from runner.core import protocol
from runner.sandbox.answers import ForcedAnswer
from runner.sandbox.rules import SandboxState, bearer_token
from runner.sandbox.settings import AuthMode, SandboxSettings, TokenHeaders
from runner.sandbox.tokens import TokenCheck, TokenIssuer, jwt_claims, make_jwt
from runner.testing import SandboxProcess

TOKEN_MODE = {"auth": AuthMode.TOKEN}
BUDGET_SPENT = ("false", "Max limit exceeded")


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# --------------------------------------------------------------------------- pure rules


def test_make_jwt_is_a_signed_jwt() -> None:
    secret = b"k" * 32
    token = make_jwt({"sub": "u", "exp": 5}, secret)
    header, payload, signature = token.split(".")
    assert "=" not in token and "+" not in token and "/" not in token  # base64url, unpadded
    assert json.loads(_unb64(header)) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(_unb64(payload)) == {"sub": "u", "exp": 5} == jwt_claims(token)
    expected = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert _unb64(signature) == expected
    assert make_jwt({"sub": "u", "exp": 5}, b"other") != token


def test_issuer_claims_expiry_and_replacement() -> None:
    clock = FakeClock(100.0)
    before = int(time.time())
    issuer = TokenIssuer(ttl=60.0, budget=10, clock=clock)  # the fake clock's epoch: now
    first = issuer.issue("sandbox")
    after = time.time()
    assert first is not None
    claims = jwt_claims(first)
    assert claims["exp"] - claims["iat"] == 60
    assert claims["sub"] == "sandbox"
    assert before <= claims["iat"] <= after  # epoch seconds, whatever the clock
    assert issuer.check(first) is TokenCheck.VALID
    clock.now = 159.9
    assert issuer.check(first) is TokenCheck.VALID
    clock.now = 160.0
    assert issuer.check(first) is TokenCheck.EXPIRED
    second = issuer.issue("sandbox")  # same second: still a different token
    assert second is not None and second != first
    assert issuer.check(first) is TokenCheck.INVALID
    assert issuer.check(second) is TokenCheck.VALID
    assert issuer.check("not.a.token") is TokenCheck.INVALID
    assert issuer.invalidate_all() == 1
    assert issuer.check(second) is TokenCheck.INVALID
    assert issuer.invalidate_all() == 0


def test_issuer_keeps_a_fractional_ttl() -> None:
    issuer = TokenIssuer(ttl=0.25, budget=10, clock=FakeClock())
    token = issuer.issue("u")
    assert token is not None
    claims = jwt_claims(token)
    assert 0.0 < claims["exp"] - claims["iat"] < 1.25


def test_issuer_budget_is_a_rolling_hour() -> None:
    clock = FakeClock(0.0)
    issuer = TokenIssuer(ttl=3600.0, budget=2, clock=clock)
    assert issuer.issue("u") is not None
    clock.now = 1000.0
    assert issuer.issue("u") is not None
    clock.now = 1500.0
    assert issuer.issue("u") is None
    assert issuer.budget_wait() == 2100.0  # the first generation leaves the hour at 3600
    clock.now = 3600.5
    assert issuer.issue("u") is not None
    assert issuer.issue("u") is None


def test_bearer_token() -> None:
    cases = {
        "Bearer abc.def": "abc.def",
        "bearer   abc  ": "abc",
        "Bearer": "",
        "Bearer ": "",
        "Basic abc": "",
        "": "",
        "abc": "",
    }
    assert {header: bearer_token(header) for header in cases} == cases


def _payload(answer: tuple[str, str]) -> dict[str, str]:
    return {"status": answer[0], "message": answer[1]}


def test_state_decides_and_counts_each_token_answer() -> None:
    clock = FakeClock()
    state = SandboxState(SandboxSettings(auth=AuthMode.TOKEN, token_ttl=10.0), clock=clock)
    reply = state.generate_token("sandbox-key", b'{"userName": "sandbox"}')
    assert reply.payload is not None and reply.payload["message"] == ""
    bearer = "Bearer " + reply.payload[protocol.TOKEN]
    body = json.dumps(rec()).encode()

    def verdict(key: str, authorization: str | None) -> object:
        result = state.validate(key, body, authorization)
        return result.payload if hasattr(result, "payload") else result

    assert verdict("", None) == _payload(protocol.TOKEN_MISSING)
    assert verdict("sandbox-key", None) == _payload(protocol.INVALID_ACTION)
    assert verdict("sandbox-key", "Bearer ") == _payload(protocol.TOKEN_MISSING)
    assert verdict("", "Bearer nope") == _payload(protocol.INVALID_TOKEN)
    valid = state.validate("", body, bearer)
    assert not hasattr(valid, "payload")  # a DeleteRequest: on to the deletion
    clock.now += 10.0
    assert verdict("", bearer) == _payload(protocol.TOKEN_EXPIRED)
    counters = state.counters
    assert (counters.tokens_missing, counters.invalid_action) == (2, 1)
    assert (counters.tokens_invalid, counters.tokens_expired) == (1, 1)
    assert (counters.token_generations, counters.invalid) == (1, 5)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # (apiKey sent, bearer valid) -> the answer (None: accepted)
        (TokenHeaders.EITHER, {"key": None, "none": None, "wrong": None}),
        (TokenHeaders.BOTH, {"key": None, "none": protocol.KEY_MISSING,
                             "wrong": protocol.INVALID_USER}),
        (TokenHeaders.BEARER, {"key": protocol.INVALID_ACTION, "none": None,
                               "wrong": protocol.INVALID_ACTION}),
    ],
)  # fmt: skip
def test_token_headers_require_the_pair_the_bearer_alone_or_either(
    headers: TokenHeaders, expected: dict[str, tuple[str, str] | None]
) -> None:
    settings = SandboxSettings(auth=AuthMode.TOKEN, token_headers=headers)
    state = SandboxState(settings, clock=FakeClock())
    reply = state.generate_token("sandbox-key", b'{"userName": "sandbox"}')
    assert reply.payload is not None
    bearer = "Bearer " + reply.payload[protocol.TOKEN]
    body = json.dumps(rec()).encode()
    keys = {"key": "sandbox-key", "none": "", "wrong": "other-key"}
    for case, key in keys.items():
        result = state.validate(key, body, bearer)
        answer = result.payload if hasattr(result, "payload") else None
        assert answer == (None if expected[case] is None else _payload(expected[case])), case
    assert state.counters.token_with_key == 2  # "key" and "wrong" carried one


# --------------------------------------------------------------------------- over HTTP


async def test_generate_then_delete_with_the_token(make_client: MakeClient) -> None:
    client = await make_client(**TOKEN_MODE, token_ttl=3600.0)
    before = int(time.time())
    status, body, resp = await generate(client)
    after = time.time()
    assert status == 200 and resp.content_type == "application/json"
    answer = json.loads(body)
    assert set(answer) == {"token", "message"} and answer["message"] == ""
    claims = jwt_claims(answer["token"])
    assert claims["exp"] - claims["iat"] == 3600
    assert before + 3600 <= claims["exp"] <= after + 3600  # issued during the call
    status, body, _ = await send(client, key=None, token=answer["token"])
    assert (status, body) == (200, body_of(protocol.DELETED))
    counters = await stats(client)
    assert (counters["token_generations"], counters["deleted"], counters["requests"]) == (1, 1, 1)
    assert answer["token"] not in await side_text(client)


@pytest.mark.parametrize(
    ("options", "answer"),
    [
        ({"user": None}, protocol.TOKEN_USER_MISSING),
        ({"user": ""}, protocol.TOKEN_USER_MISSING),
        ({"user": "  "}, protocol.TOKEN_USER_MISSING),
        ({"raw": b"not json"}, protocol.TOKEN_USER_MISSING),
        ({"raw": b"[]"}, protocol.TOKEN_USER_MISSING),
        ({"user": "bob"}, protocol.TOKEN_REFUSED),
        ({"key": "wrong"}, protocol.TOKEN_REFUSED),
        ({"key": None}, protocol.TOKEN_REFUSED),
    ],
)
async def test_generate_refusals(
    make_client: MakeClient, options: dict[str, Any], answer: tuple[str, str]
) -> None:
    client = await make_client(**TOKEN_MODE)
    status, body, _ = await generate(client, **options)
    assert (status, body) == (200, body_of(answer))
    counters = await stats(client)
    assert (counters["token_refused"], counters["token_generations"]) == (1, 0)


async def test_wrong_key_does_not_spend_the_budget(make_client: MakeClient) -> None:
    client = await make_client(**TOKEN_MODE, token_budget=1)
    await generate(client, key="wrong")
    assert (await generate(client))[0] == 200


async def test_expired_token_with_a_fake_clock(make_client: MakeClient) -> None:
    clock = FakeClock(1000.0)
    client = await make_client(clock=clock, **TOKEN_MODE, token_ttl=60.0)
    token = await new_token(client)
    clock.now = 1059.0
    assert (await send(client, key=None, token=token))[1] == body_of(protocol.DELETED)
    clock.now = 1060.0
    status, body, _ = await send(client, rec(phoneNumber="9000000002"), key=None, token=token)
    assert (status, body) == (200, body_of(protocol.TOKEN_EXPIRED))
    renewed = await new_token(client)
    assert (await send(client, rec(phoneNumber="9000000002"), token=renewed))[1] == body_of(
        protocol.DELETED
    )
    counters = await stats(client)
    assert (counters["tokens_expired"], counters["deleted"], counters["invalid"]) == (1, 2, 1)


async def test_a_second_generation_invalidates_the_first(make_client: MakeClient) -> None:
    client = await make_client(**TOKEN_MODE)
    first = await new_token(client)
    second = await new_token(client)
    assert first != second
    assert (await send(client, token=first))[1] == body_of(protocol.INVALID_TOKEN)
    assert (await send(client, token=second))[1] == body_of(protocol.DELETED)
    assert (await stats(client))["tokens_invalid"] == 1


async def test_side_endpoint_invalidates_the_current_token(make_client: MakeClient) -> None:
    client = await make_client(**TOKEN_MODE)
    token = await new_token(client)
    async with client.post("/_sandbox/invalidate-tokens") as resp:
        assert await resp.json() == {"invalidated": 1}
    async with client.post("/_sandbox/invalidate-tokens") as resp:
        assert await resp.json() == {"invalidated": 0}
    assert (await send(client, token=token))[1] == body_of(protocol.INVALID_TOKEN)
    assert (await send(client, token=await new_token(client)))[1] == body_of(protocol.DELETED)


async def test_generation_budget_answers_429(make_client: MakeClient) -> None:
    clock = FakeClock(0.0)
    client = await make_client(clock=clock, **TOKEN_MODE, token_budget=2)
    await new_token(client)
    clock.now = 600.0
    last = await new_token(client)
    clock.now = 1200.0
    status, body, resp = await generate(client)
    assert (status, body) == (429, body_of(BUDGET_SPENT))
    assert resp.headers["Retry-After"] == "2400"
    # A refused generation leaves the current token valid.
    assert (await send(client, token=last))[1] == body_of(protocol.DELETED)
    clock.now = 3600.5
    assert (await generate(client))[0] == 200
    counters = await stats(client)
    assert (counters["token_generations"], counters["token_refused"]) == (3, 1)


@pytest.mark.parametrize(
    ("key", "authorization", "answer", "counter"),
    [
        ("sandbox-key", None, protocol.INVALID_ACTION, "invalid_action"),
        (None, None, protocol.TOKEN_MISSING, "tokens_missing"),
        (None, "Bearer ", protocol.TOKEN_MISSING, "tokens_missing"),
        ("sandbox-key", "Bearer", protocol.TOKEN_MISSING, "tokens_missing"),
        (None, "Bearer made.up.token", protocol.INVALID_TOKEN, "tokens_invalid"),
    ],
)
async def test_deletes_without_a_valid_token(
    make_client: MakeClient,
    key: str | None,
    authorization: str | None,
    answer: tuple[str, str],
    counter: str,
) -> None:
    client = await make_client(**TOKEN_MODE)
    await new_token(client)
    headers = {} if authorization is None else {protocol.AUTHORIZATION_HEADER: authorization}
    status, body, _ = await send(client, key=key, headers=headers)
    assert (status, body) == (200, body_of(answer))
    counters = await stats(client)
    assert counters[counter] == counters["invalid"] == counters["requests"] == 1
    assert counters["deleted"] == 0


async def test_basic_mode_refuses_generate_token(make_client: MakeClient) -> None:
    client = await make_client()
    status, body, _ = await generate(client)
    assert (status, body) == (200, body_of(protocol.INVALID_ACTION))
    counters = await stats(client)
    assert (counters["invalid_action"], counters["token_generations"], counters["requests"]) == (
        1,
        0,
        0,
    )


async def test_rate_limit_is_per_account_across_tokens(make_client: MakeClient) -> None:
    client = await make_client(clock=FakeClock(), **TOKEN_MODE, rate_limit=(1, 60.0))
    assert (await send(client, token=await new_token(client)))[0] == 200
    status, body, _ = await send(client, token=await new_token(client))
    assert (status, body) == (429, body_of(protocol.RATE_LIMITED))
    assert (await stats(client))["max_in_window"] == {"key#1": 1}


async def test_forced_answer_comes_after_the_token_checks(make_client: MakeClient) -> None:
    client = await make_client(**TOKEN_MODE, answer=ForcedAnswer.ECHO_KEY)
    assert (await send(client, key=None, token="stale"))[1] == body_of(protocol.INVALID_TOKEN)
    token = await new_token(client)
    _, body, _ = await send(client, key=None, token=token)
    # With no apiKey header the echoing server quotes the bearer token.
    assert json.loads(body) == {"status": "false", "message": f"Invalid apiKey {token}"}
    assert (await stats(client))["forced_answers"] == 1


def test_sandbox_process_in_token_mode() -> None:
    with SandboxProcess("--auth", "token", "--token-ttl", "600") as sandbox:
        request = urllib.request.Request(
            sandbox.url + protocol.TOKEN_PATH,
            data=json.dumps({protocol.USER: "sandbox"}).encode(),
            headers={protocol.API_KEY_HEADER: "sandbox-key", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            token = json.load(response)[protocol.TOKEN]
        claims = jwt_claims(token)
        assert claims["exp"] - claims["iat"] == 600
        assert sandbox.invalidate_tokens() == 1
        assert sandbox.invalidate_tokens() == 0
        sandbox.wait_for(lambda counters: counters["token_generations"] == 1, timeout=5)
        assert sandbox.deleted() == set()
