"""Every row of SPEC §1's response table, plus the variants a real server produces."""

from __future__ import annotations

import json

import pytest

from runner import protocol
from runner.classify import Outcome, classify


def body(status: str, message: str) -> str:
    return json.dumps({"status": status, "message": message})


CASES = [
    # (http status, body, outcome, reason)
    (200, protocol.response_body(protocol.DELETED), Outcome.DELETED, "deleted"),
    (200, protocol.response_body(protocol.NOT_FOUND), Outcome.NOT_FOUND, "not_found"),
    (200, protocol.response_body(protocol.KEY_MISSING), Outcome.AUTH, "auth"),
    (200, protocol.response_body(protocol.INVALID_USER), Outcome.AUTH, "auth"),
    (200, protocol.response_body(protocol.USER_MISSING), Outcome.AUTH, "auth"),
    (
        200,
        protocol.response_body(protocol.CAMPAIGN_MISSING),
        Outcome.INVALID_CAMPAIGN,
        "invalid_campaign",
    ),
    (
        200,
        protocol.response_body(protocol.CAMPAIGN_INVALID),
        Outcome.INVALID_CAMPAIGN,
        "invalid_campaign",
    ),
    (200, protocol.response_body(protocol.PHONE_MISSING), Outcome.FAILED, "invalid_phone"),
    (200, protocol.response_body(protocol.INVALID_JSON), Outcome.FAILED, "invalid_request"),
    (200, protocol.response_body(protocol.RATE_LIMITED), Outcome.RATE_LIMITED, "rate_limited"),
    (200, protocol.response_body(protocol.BUSY), Outcome.TRANSIENT, "busy"),
    # Letter case, surrounding blanks, a trailing full stop (or its absence).
    (200, body("SUCCESS", "  deleted successfully.  "), Outcome.DELETED, "deleted"),
    (200, body("error", "NO RECORD FOUND."), Outcome.NOT_FOUND, "not_found"),
    (200, body("false", "api key should not be null or empty"), Outcome.AUTH, "auth"),
    (200, body("false", "Invalid User Details."), Outcome.AUTH, "auth"),
    (
        200,
        body("Error", "passed campaign are invalid."),
        Outcome.INVALID_CAMPAIGN,
        "invalid_campaign",
    ),
    (200, body("error", "Max limit exceeded."), Outcome.RATE_LIMITED, "rate_limited"),
    (
        200,
        body("false", "already one process is running please try after some time."),
        Outcome.TRANSIENT,
        "busy",
    ),
    # The body decides before the status: a documented answer under an odd status.
    (404, protocol.response_body(protocol.NOT_FOUND), Outcome.NOT_FOUND, "not_found"),
    (500, protocol.response_body(protocol.DELETED), Outcome.DELETED, "deleted"),
    (401, protocol.response_body(protocol.INVALID_USER), Outcome.AUTH, "auth"),
    # Key spelled differently.
    (
        200,
        json.dumps({"Status": "Success", "Message": "Deleted Successfully"}),
        Outcome.DELETED,
        "deleted",
    ),
    # Throttling, by status or by wording.
    (429, "", Outcome.RATE_LIMITED, "rate_limited"),
    (429, "<html>Too Many Requests</html>", Outcome.RATE_LIMITED, "rate_limited"),
    (200, body("error", "Rate limit exceeded, slow down"), Outcome.RATE_LIMITED, "rate_limited"),
    # Server trouble: retried.
    (500, "", Outcome.TRANSIENT, "http_500"),
    (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", Outcome.TRANSIENT, "http_502"),
    (503, body("error", "maintenance"), Outcome.TRANSIENT, "http_503"),
    (200, "<!DOCTYPE html><html><title>Login</title></html>", Outcome.TRANSIENT, "not_json"),
    (200, "", Outcome.TRANSIENT, "not_json"),
    (200, "null", Outcome.TRANSIENT, "not_json"),
    (200, "[1, 2]", Outcome.TRANSIENT, "not_json"),
    # Anything else: retried up to the limit, then failed as unexpected.
    (200, body("Success", "Something new"), Outcome.UNEXPECTED, "unexpected_response"),
    (200, json.dumps({"status": "ok"}), Outcome.UNEXPECTED, "unexpected_response"),
    (400, body("error", "bad thing"), Outcome.UNEXPECTED, "unexpected_response"),
    (200, json.dumps({"message": 42}), Outcome.UNEXPECTED, "unexpected_response"),
]


@pytest.mark.parametrize(("http_status", "text", "outcome", "reason"), CASES)
def test_classify(http_status: int, text: str, outcome: Outcome, reason: str) -> None:
    verdict = classify(http_status, text)
    assert (verdict.outcome, verdict.reason) == (outcome, reason)


def test_message_is_kept_for_the_audit_trail() -> None:
    verdict = classify(200, body("false", "  Invalid User Details. "))
    assert verdict.message == "Invalid User Details."


def test_unexpected_answer_without_message_keeps_the_body() -> None:
    text = json.dumps({"status": "ok"})
    assert classify(200, text).message == text
