"""The sandbox answers in the vendor's words, letter for letter: each body against literal
text copied from docs/contract.md, never against ``runner.protocol`` (which the sandbox
itself uses, so a typo there would agree with itself)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sandbox_helpers import FakeClock, MakeClient, generate, new_token, rec, send

from runner.sandbox.settings import AuthMode


def answer(body: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(body)
    return parsed


BASIC_CASES = [
    pytest.param({}, {"status": "Success", "message": "Deleted Successfully"}, id="deleted"),
    pytest.param({"key": None},
                 {"status": "false", "message": "Api Key Should Not be Null or Empty."},
                 id="key-missing"),
    pytest.param({"key": "wrong"}, {"status": "false", "message": "Invalid User Details"},
                 id="key-wrong"),
    pytest.param({"record": rec(userName=None)},
                 {"status": "false", "message": "Username Should Not be Null or Empty."},
                 id="user-missing"),
    pytest.param({"record": rec(campaignName=None)},
                 {"status": "Error", "message": "Campaign should not be null are empty"},
                 id="campaign-missing"),
    pytest.param({"record": rec(campaignName="Nope")},
                 {"status": "Error", "message": "Passed campaign are invalid"},
                 id="campaign-invalid"),
    pytest.param({"record": rec(phoneNumber=None)},
                 {"status": "Error", "message": "PhoneNumber should not be null are empty"},
                 id="phone-missing"),
    pytest.param({"raw": b"{not json"},
                 {"status": "false", "message": "Invalid Json Pass Valid Json"},
                 id="invalid-json"),
]  # fmt: skip


@pytest.mark.parametrize(("request_args", "expected"), BASIC_CASES)
async def test_basic_auth_answers_are_the_vendors_words(
    make_client: MakeClient, request_args: dict[str, Any], expected: dict[str, str]
) -> None:
    client = await make_client(campaigns=frozenset({"Sales"}))
    status, body, _ = await send(client, **request_args)
    assert (status, answer(body)) == (200, expected)


async def test_a_second_delete_and_the_rate_limit_are_the_vendors_words(
    make_client: MakeClient,
) -> None:
    client = await make_client(rate_limit=(2, 60.0))
    await send(client)
    status, body, _ = await send(client)
    assert (status, answer(body)) == (200, {"status": "Error", "message": "No Record Found"})
    status, body, _ = await send(client)
    assert (status, answer(body)) == (429, {"status": "error", "message": "Max limit exceeded"})


async def test_token_auth_answers_are_the_vendors_words(make_client: MakeClient) -> None:
    clock = FakeClock()
    client = await make_client(clock=clock, auth=AuthMode.TOKEN, token_ttl=60.0)
    _, body, _ = await send(client)  # the key alone, to a TOKEN_AUTH account
    assert answer(body) == {"status": "false", "message": "Invalid action."}
    _, body, _ = await send(client, key=None)
    assert answer(body) == {"status": "false", "message": "Token Should Not be Null or Empty."}
    _, body, _ = await send(client, key=None, token="not-a-token")
    assert answer(body) == {"status": "false", "message": "Invalid Token"}
    token = await new_token(client)
    clock.now += 61
    _, body, _ = await send(client, key=None, token=token)
    assert answer(body) == {"status": "false", "message": "Token Expired"}


async def test_generate_token_refusals_are_the_vendors_words(make_client: MakeClient) -> None:
    client = await make_client(auth=AuthMode.TOKEN)
    _, body, _ = await generate(client, user="")
    assert answer(body) == {"status": "false", "message": "UserName is null"}
    _, body, _ = await generate(client, key="wrong")
    assert answer(body) == {"status": "false", "message": "Invalid userName or apiKey"}
