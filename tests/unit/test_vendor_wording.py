"""The vendor's wording, letter for letter: the contract's answer table against literal text.

The other classification tests take their messages from ``runner.core.protocol``, so a typo
there (``Token Expird``) would pass them all: classifier and sandbox would agree on the
wrong text. Here every documented message is written out as the vendor's documentation
spells it, the list is checked against docs/contract.md's table, and the code must
classify each literal; ``runner.core.protocol`` is checked against the literals, never the
other way round.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from runner.core import protocol
from runner.core.states import StopReason
from runner.sending.classify import Outcome, classify
from runner.sending.client import TokenReply
from runner.sending.tokens import is_refusal

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"

STOP_AUTH = (Outcome.STOP, "auth", StopReason.AUTH)
STOP_SETTING = (Outcome.STOP, "auth_setting", StopReason.AUTH_SETTING)
RENEW = (Outcome.TOKEN_REFUSED, "token_refused", None)
Expected = tuple[Outcome, str, StopReason | None]

# (status as the contract gives it, message, verdict with auth: basic, with auth: token)
DOCUMENTED: list[tuple[str | None, str, Expected, Expected]] = [
    ("Success", "Deleted Successfully",
     (Outcome.DELETED, "deleted", None), (Outcome.DELETED, "deleted", None)),
    ("success", "4 Records Deleted Successfully",
     (Outcome.DELETED, "deleted", None), (Outcome.DELETED, "deleted", None)),
    (None, "0 Records Deleted",
     (Outcome.NOT_FOUND, "not_found", None), (Outcome.NOT_FOUND, "not_found", None)),
    ("Error", "No Record Found",
     (Outcome.NOT_FOUND, "not_found", None), (Outcome.NOT_FOUND, "not_found", None)),
    ("false", "Api Key Should Not be Null or Empty.", STOP_AUTH, STOP_AUTH),
    ("false", "Invalid User Details", STOP_AUTH, STOP_AUTH),
    ("false", "Username Should Not be Null or Empty.", STOP_AUTH, STOP_AUTH),
    ("Error", "Campaign should not be null are empty",
     (Outcome.INVALID_CAMPAIGN, "invalid_campaign", None),
     (Outcome.INVALID_CAMPAIGN, "invalid_campaign", None)),
    ("Error", "Passed campaign are invalid",
     (Outcome.INVALID_CAMPAIGN, "invalid_campaign", None),
     (Outcome.INVALID_CAMPAIGN, "invalid_campaign", None)),
    ("Error", "PhoneNumber should not be null are empty",
     (Outcome.FAILED, "invalid_phone", None), (Outcome.FAILED, "invalid_phone", None)),
    ("false", "Invalid Json Pass Valid Json",
     (Outcome.FAILED, "invalid_request", None), (Outcome.FAILED, "invalid_request", None)),
    ("error", "Max limit exceeded",
     (Outcome.RATE_LIMITED, "rate_limited", None), (Outcome.RATE_LIMITED, "rate_limited", None)),
    (None, "Already one process is running please try after some time",
     (Outcome.TRANSIENT, "busy", None), (Outcome.TRANSIENT, "busy", None)),
    ("false", "Invalid action.", STOP_SETTING, STOP_SETTING),
    ("false", "Invalid Token", STOP_SETTING, RENEW),
    ("false", "Token Expired", STOP_SETTING, RENEW),
    ("false", "Token Should Not be Null or Empty.", STOP_SETTING, RENEW),
]  # fmt: skip

# generateToken's refusals (contract §1, "Token authentication"): the account stops.
TOKEN_API_REFUSALS = ["UserName is null", "Invalid userName or apiKey"]


def contract_answers() -> list[tuple[str | None, str]]:
    """(status or None, message) of every backticked message in the contract's answer table."""
    lines = CONTRACT.read_text(encoding="utf-8").split("Documented responses", 1)[1].splitlines()
    rows = lines[lines.index("| status / message | meaning for the runner |") :]
    found: list[tuple[str | None, str]] = []
    for row in rows[2 : rows.index("")]:
        cell = row.split("|")[1]
        quoted = re.findall(r"`([^`]+)`", cell)
        paired = re.search(r"`([^`]+)` / `", cell)
        status = paired.group(1) if paired else None
        found += [(status, text) for text in quoted if not (paired and text == status)]
    return found


def test_the_literals_are_the_contracts_table() -> None:
    assert contract_answers() == [(status, message) for status, message, *_ in DOCUMENTED]


def test_the_token_api_refusals_are_the_contracts() -> None:
    text = " ".join(CONTRACT.read_text(encoding="utf-8").split())
    assert "Errors: `UserName is null`, `Invalid userName or apiKey` (**account stop**)" in text


def variants(message: str) -> list[str]:
    """The message as documented, and as the matching rules say it may also come."""
    bare = message.rstrip(".")
    return [message, f"  {message.upper()} ", bare.lower(), f"{bare}.", f"\t{bare}\n"]


@pytest.mark.parametrize("token_auth", [False, True], ids=["basic", "token"])
@pytest.mark.parametrize(
    ("status", "message", "basic", "token"), DOCUMENTED, ids=[row[1] for row in DOCUMENTED]
)
def test_each_documented_message_is_classified_as_the_contract_says(
    status: str | None, message: str, basic: Expected, token: Expected, token_auth: bool
) -> None:
    for text in variants(message):
        body = json.dumps({"status": status or "false", "message": text})
        verdict = classify(200, body, token_auth=token_auth)
        assert (verdict.outcome, verdict.reason, verdict.stop) == (token if token_auth else basic)


def test_a_near_miss_of_each_message_is_not_taken_for_it() -> None:
    """One letter off is an answer nobody documented: the matching is not fuzzy."""
    for _, message, *_ in DOCUMENTED:
        if message == "Max limit exceeded":
            continue  # throttling is matched by phrase (contract: "says the rate limit...")
        mangled = message[:3] + "x" + message[4:]
        verdict = classify(200, json.dumps({"status": "false", "message": mangled}))
        assert verdict.outcome is Outcome.UNEXPECTED, mangled


@pytest.mark.parametrize("message", TOKEN_API_REFUSALS)
def test_the_token_api_refusals_stop_the_account(message: str) -> None:
    assert is_refusal(TokenReply(None, 200, message))


def test_runner_protocol_spells_every_answer_as_the_vendor_does() -> None:
    # The counted forms are a pattern in the code (any N), not one spelling.
    counted = {"4 Records Deleted Successfully", "0 Records Deleted"}
    literal = {message for _, message, *_ in DOCUMENTED} - counted | set(TOKEN_API_REFUSALS)
    answers = {
        name: value
        for name, value in vars(protocol).items()
        if name.isupper() and isinstance(value, tuple) and len(value) == 2
    }
    assert {message for _, message in answers.values()} == literal
    statuses = {message: status for status, message, *_ in DOCUMENTED if status is not None}
    for status, message in answers.values():
        assert statuses.get(message, status) == status, message
