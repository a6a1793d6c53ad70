"""``runner sandbox --users N``: N accounts, each with its own key, user and rate window.

The benchmark of many accounts across worker processes needs accounts of distinct
identities (server, user) whose limits the sandbox enforces one by one.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sandbox_helpers import KEY, FakeClock, MakeClient, body_of, rec, send, stats

from runner.core import protocol
from runner.sandbox import command, sandbox_command
from runner.sandbox.settings import SandboxSettings


def test_credentials_pair_each_key_with_its_user() -> None:
    assert SandboxSettings().credentials() == {"sandbox-key": "sandbox"}
    assert SandboxSettings(api_key="k", user_name="u", users=3).credentials() == {
        "k": "u", "k-2": "u-2", "k-3": "u-3",
    }  # fmt: skip


async def test_each_user_is_valid_with_its_own_key_only(make_client: MakeClient) -> None:
    client = await make_client(users=3)
    for n, (user, key) in enumerate([("sandbox", KEY), ("sandbox-2", f"{KEY}-2"),
                                     ("sandbox-3", f"{KEY}-3")]):  # fmt: skip
        answer = await send(client, rec(userName=user, phoneNumber=f"900000000{n}"), key=key)
        assert answer[1] == body_of(protocol.DELETED), user
    refused = [
        (rec(userName="sandbox-4"), f"{KEY}-4"),  # past N: unknown key
        (rec(userName="sandbox-4"), KEY),  # past N: unknown user
        (rec(userName="sandbox-2"), KEY),  # a user with another account's key
        (rec(userName="sandbox"), f"{KEY}-2"),
        (rec(userName="nobody"), f"{KEY}-3"),
    ]
    for record, key in refused:
        assert (await send(client, record, key=key))[1] == body_of(protocol.INVALID_USER), key
    counters = await stats(client)
    assert (counters["deleted"], counters["invalid"]) == (3, len(refused))


async def test_each_user_has_its_own_rate_window(make_client: MakeClient) -> None:
    client = await make_client(clock=FakeClock(), rate_limit=(1, 60.0), users=2)
    first, second = rec(), rec(userName="sandbox-2", phoneNumber="9000000002")
    assert (await send(client, first))[1] == body_of(protocol.DELETED)
    assert (await send(client, first))[0] == 429
    # The first account's full window does not touch the second's.
    assert (await send(client, second, key=f"{KEY}-2"))[1] == body_of(protocol.DELETED)
    assert (await send(client, second, key=f"{KEY}-2"))[0] == 429
    counters = await stats(client)
    assert counters["max_in_window"] == {"key#1": 1, "key#2": 1}
    assert (counters["rate_limited"], counters["deleted"]) == (2, 2)


def test_the_command_passes_users_to_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[SandboxSettings] = []

    async def serve(settings: SandboxSettings) -> None:
        served.append(settings)

    monkeypatch.setattr(command, "_serve", serve)
    for args, users in (([], 1), (["--users", "5"], 5)):
        result = CliRunner().invoke(sandbox_command, args)
        assert result.exit_code == 0, result.output
        assert served.pop().users == users


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--users", "0"], "--users"),
        (["--users", "2", "--auth", "token"], "not with --auth token"),
    ],
)
def test_the_command_refuses_bad_users(args: list[str], message: str) -> None:
    result = CliRunner().invoke(sandbox_command, args)
    assert result.exit_code == 2, result.output
    assert message in result.output
