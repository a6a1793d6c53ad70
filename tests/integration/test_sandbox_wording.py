"""The sandbox answers in the vendor's words, letter for letter: each body against literal
text copied from docs/contract.md, never against ``runner.core.protocol`` (which the sandbox
itself uses, so a typo there would agree with itself)."""

from __future__ import annotations

import json
from typing import Any

from sandbox_helpers import FakeClock, MakeClient, generate, new_token, rec, send

from runner.sandbox.settings import AuthMode


def answer(body: bytes) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(body)
    return parsed


# In order, on one sandbox: the first delete deletes, the second finds nothing.
BASIC_ANSWERS: list[tuple[dict[str, Any], dict[str, str]]] = [
    ({}, {"status": "Success", "message": "Deleted Successfully"}),
    ({}, {"status": "Error", "message": "No Record Found"}),
    ({"key": None}, {"status": "false", "message": "Api Key Should Not be Null or Empty."}),
    ({"key": "wrong"}, {"status": "false", "message": "Invalid User Details"}),
    ({"record": rec(userName=None)},
     {"status": "false", "message": "Username Should Not be Null or Empty."}),
    ({"record": rec(campaignName=None)},
     {"status": "Error", "message": "Campaign should not be null are empty"}),
    ({"record": rec(campaignName="Nope")},
     {"status": "Error", "message": "Passed campaign are invalid"}),
    ({"record": rec(phoneNumber=None)},
     {"status": "Error", "message": "PhoneNumber should not be null are empty"}),
    ({"raw": b"{not json"}, {"status": "false", "message": "Invalid Json Pass Valid Json"}),
]  # fmt: skip


async def test_basic_auth_answers_are_the_vendors_words(make_client: MakeClient) -> None:
    client = await make_client(campaigns=frozenset({"Sales"}))
    answers = [await send(client, **request_args) for request_args, _ in BASIC_ANSWERS]
    assert [(status, answer(body)) for status, body, _ in answers] == [
        (200, expected) for _, expected in BASIC_ANSWERS
    ]


async def test_the_rate_limit_is_the_vendors_words(make_client: MakeClient) -> None:
    client = await make_client(rate_limit=(1, 60.0))
    await send(client)
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
