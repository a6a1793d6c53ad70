"""The answer table: every documented answer, in both auth modes and every body encoding."""

from __future__ import annotations

import json

import pytest

from runner.core import protocol
from runner.core.states import StopReason
from runner.sending.classify import Outcome, Verdict, classify, normalise, parse_body

TOKEN_ANSWERS = [protocol.INVALID_TOKEN, protocol.TOKEN_EXPIRED, protocol.TOKEN_MISSING]

# Every documented answer of deleteCampaignData and what it means in either auth mode,
# apart from the token answers, whose meaning depends on the mode (tested below).
# (answer, outcome, reason, stop)
SAME_IN_BOTH_MODES: list[tuple[tuple[str, str], Outcome, str, StopReason | None]] = [
    (protocol.DELETED, Outcome.DELETED, "deleted", None),
    (protocol.NOT_FOUND, Outcome.NOT_FOUND, "not_found", None),
    (protocol.KEY_MISSING, Outcome.STOP, "auth", StopReason.AUTH),
    (protocol.INVALID_USER, Outcome.STOP, "auth", StopReason.AUTH),
    (protocol.USER_MISSING, Outcome.STOP, "auth", StopReason.AUTH),
    (protocol.CAMPAIGN_MISSING, Outcome.INVALID_CAMPAIGN, "invalid_campaign", None),
    (protocol.CAMPAIGN_INVALID, Outcome.INVALID_CAMPAIGN, "invalid_campaign", None),
    (protocol.PHONE_MISSING, Outcome.FAILED, "invalid_phone", None),
    (protocol.INVALID_JSON, Outcome.FAILED, "invalid_request", None),
    (protocol.RATE_LIMITED, Outcome.RATE_LIMITED, "rate_limited", None),
    (protocol.BUSY, Outcome.TRANSIENT, "busy", None),
    (protocol.INVALID_ACTION, Outcome.STOP, "auth_setting", StopReason.AUTH_SETTING),
]


def expected(answer: tuple[str, str], token_auth: bool) -> tuple[Outcome, str, StopReason | None]:
    for known, outcome, reason, stop in SAME_IN_BOTH_MODES:
        if known == answer:
            return outcome, reason, stop
    assert answer in TOKEN_ANSWERS
    if token_auth:
        return Outcome.TOKEN_REFUSED, "token_refused", None
    return Outcome.STOP, "auth_setting", StopReason.AUTH_SETTING


def documented_answers() -> list[tuple[str, str]]:
    """Every (status, message) constant of runner.core.protocol that deleteCampaignData answers."""
    token_api = {protocol.TOKEN_USER_MISSING, protocol.TOKEN_REFUSED}
    found = [
        value
        for name, value in vars(protocol).items()
        if name.isupper()
        and isinstance(value, tuple)
        and len(value) == 2
        and value not in token_api
    ]
    return found


def test_the_table_covers_every_documented_answer() -> None:
    covered = {answer for answer, *_ in SAME_IN_BOTH_MODES} | set(TOKEN_ANSWERS)
    assert set(documented_answers()) == covered


def encode(answer: tuple[str, str], encoding: str) -> str:
    plain = protocol.response_body(answer)
    if encoding == "plain":
        return plain
    if encoding == "double":  # a JSON string holding the object, as the vendor's docs show
        return json.dumps(plain)
    if encoding == "bom":
        return "\ufeff" + plain
    if encoding == "bom-double":
        return "\ufeff" + json.dumps("\ufeff" + plain)
    raise AssertionError(encoding)


ENCODINGS = ["plain", "double", "bom", "bom-double"]


@pytest.mark.parametrize("token_auth", [False, True], ids=["basic", "token"])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("answer", documented_answers(), ids=lambda a: a[1])
def test_every_documented_answer_in_every_encoding(
    answer: tuple[str, str], encoding: str, token_auth: bool
) -> None:
    verdict = classify(200, encode(answer, encoding), token_auth=token_auth)
    assert (verdict.outcome, verdict.reason, verdict.stop) == expected(answer, token_auth)
    if verdict.outcome is Outcome.STOP:
        assert verdict.stop is not None
    else:
        assert verdict.stop is None


@pytest.mark.parametrize("answer", documented_answers(), ids=lambda a: a[1])
def test_variants_of_the_wording_match(answer: tuple[str, str]) -> None:
    status, message = answer
    base = message.rstrip(".")
    for variant in (f"  {base.upper()}.  ", base.lower(), f"\t{base}\n", base + "."):
        body = json.dumps({"status": status.upper(), "message": variant})
        assert classify(200, body).outcome is expected(answer, False)[0], variant


@pytest.mark.parametrize("answer", documented_answers(), ids=lambda a: a[1])
def test_the_body_decides_before_the_status(answer: tuple[str, str]) -> None:
    want = expected(answer, False)
    for http_status in (200, 400, 401, 403, 404, 500, 503):
        verdict = classify(http_status, protocol.response_body(answer))
        assert (verdict.outcome, verdict.reason, verdict.stop) == want, http_status


def test_key_case_of_the_fields_does_not_matter() -> None:
    body = json.dumps({"STATUS": "Success", "MESSAGE": "Deleted Successfully"})
    assert classify(200, body).outcome is Outcome.DELETED


def test_message_is_kept_for_the_audit_trail() -> None:
    verdict = classify(200, json.dumps({"status": "false", "message": "  Invalid User Details. "}))
    assert verdict.message == "Invalid User Details."


# ---------------------------------------------------------------- auth answers


def test_invalid_action_names_the_setting_and_the_auth_key() -> None:
    verdict = classify(200, protocol.response_body(protocol.INVALID_ACTION))
    assert (verdict.outcome, verdict.stop) == (Outcome.STOP, StopReason.AUTH_SETTING)
    assert "API Authentication" in verdict.message
    assert "auth:" in verdict.message
    assert "Invalid action." in verdict.message


@pytest.mark.parametrize("answer", TOKEN_ANSWERS, ids=lambda a: a[1])
def test_token_answers_with_basic_auth_say_to_set_auth_token(answer: tuple[str, str]) -> None:
    verdict = classify(200, protocol.response_body(answer), token_auth=False)
    assert (verdict.outcome, verdict.stop) == (Outcome.STOP, StopReason.AUTH_SETTING)
    assert "`auth: token`" in verdict.message
    assert answer[1] in verdict.message


@pytest.mark.parametrize("answer", TOKEN_ANSWERS, ids=lambda a: a[1])
def test_token_answers_with_token_auth_ask_for_a_new_token(answer: tuple[str, str]) -> None:
    verdict = classify(200, protocol.response_body(answer), token_auth=True)
    assert verdict == Verdict(Outcome.TOKEN_REFUSED, "token_refused", answer[1])


@pytest.mark.parametrize("http_status", [401, 403])
@pytest.mark.parametrize("token_auth", [False, True])
@pytest.mark.parametrize(
    "body",
    ["", "<html>Forbidden</html>", json.dumps({"error": "nope"}), json.dumps({"message": "?"})],
    ids=["empty", "html", "json-no-message", "json-odd-message"],
)
def test_401_403_with_an_unrecognised_body_stop_for_auth(
    http_status: int, token_auth: bool, body: str
) -> None:
    verdict = classify(http_status, body, token_auth=token_auth)
    assert (verdict.outcome, verdict.stop) == (Outcome.STOP, StopReason.AUTH)
    assert verdict.reason == f"http_{http_status}"
    assert f"HTTP {http_status}" in verdict.message


def test_401_whose_body_is_a_documented_answer_is_judged_by_the_body() -> None:
    assert classify(401, protocol.response_body(protocol.DELETED)).outcome is Outcome.DELETED
    refused = classify(401, protocol.response_body(protocol.INVALID_TOKEN), token_auth=True)
    assert refused.outcome is Outcome.TOKEN_REFUSED
    campaign = classify(403, json.dumps(protocol.response_body(protocol.CAMPAIGN_INVALID)))
    assert campaign.outcome is Outcome.INVALID_CAMPAIGN


# ---------------------------------------------------------------- redirects


@pytest.mark.parametrize("http_status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("token_auth", [False, True])
def test_a_redirect_stops_the_account_naming_the_location(
    http_status: int, token_auth: bool
) -> None:
    where = "https://elsewhere.example/ca_apis/deleteCampaignData"
    # Even a body that would say "deleted": a redirect is never followed nor believed.
    body = protocol.response_body(protocol.DELETED)
    verdict = classify(http_status, body, token_auth=token_auth, location=where)
    assert (verdict.outcome, verdict.reason, verdict.stop) == (
        Outcome.STOP,
        "redirect",
        StopReason.REDIRECT,
    )
    assert where in verdict.message
    assert str(http_status) in verdict.message


def test_a_redirect_without_location_still_stops() -> None:
    verdict = classify(302, "")
    assert verdict.stop is StopReason.REDIRECT
    assert "no Location" in verdict.message


# ---------------------------------------------------------------- the rest


@pytest.mark.parametrize(
    ("http_status", "body", "outcome", "reason"),
    [
        (429, "", Outcome.RATE_LIMITED, "rate_limited"),
        (429, "<html>Too Many Requests</html>", Outcome.RATE_LIMITED, "rate_limited"),
        (200, json.dumps({"status": "error", "message": "Rate limit exceeded, slow down"}),
         Outcome.RATE_LIMITED, "rate_limited"),
        (200, json.dumps({"message": "Too many requests"}), Outcome.RATE_LIMITED, "rate_limited"),
        (500, "", Outcome.TRANSIENT, "http_500"),
        (502, "<html><h1>502 Bad Gateway</h1></html>", Outcome.TRANSIENT, "http_502"),
        (503, json.dumps({"status": "error", "message": "maintenance"}),
         Outcome.TRANSIENT, "http_503"),
        (200, "<!DOCTYPE html><html><title>Login</title></html>", Outcome.TRANSIENT, "not_json"),
        (200, "", Outcome.TRANSIENT, "not_json"),
        (200, "null", Outcome.TRANSIENT, "not_json"),
        (200, "[1, 2]", Outcome.TRANSIENT, "not_json"),
        (200, json.dumps("just a string"), Outcome.TRANSIENT, "not_json"),
        (404, "Not Found", Outcome.TRANSIENT, "not_json"),
        (200, json.dumps({"status": "Success", "message": "Something new"}),
         Outcome.UNEXPECTED, "unexpected_response"),
        (200, json.dumps({"status": "ok"}), Outcome.UNEXPECTED, "unexpected_response"),
        (400, json.dumps({"status": "error", "message": "bad thing"}),
         Outcome.UNEXPECTED, "unexpected_response"),
        (200, json.dumps({"message": 42}), Outcome.UNEXPECTED, "unexpected_response"),
    ],
)  # fmt: skip
def test_answers_outside_the_table(
    http_status: int, body: str, outcome: Outcome, reason: str
) -> None:
    for token_auth in (False, True):
        verdict = classify(http_status, body, token_auth=token_auth)
        assert (verdict.outcome, verdict.reason, verdict.stop) == (outcome, reason, None)


def test_not_json_says_so_with_the_status() -> None:
    assert classify(200, "<html/>").message == "HTTP 200, body is not JSON"


def test_unexpected_answer_keeps_its_message_or_the_body() -> None:
    assert classify(200, json.dumps({"message": " Something new "})).message == "Something new"
    text = json.dumps({"status": "ok"})
    assert classify(200, text).message == text


def test_parse_body_unwraps_only_a_string_holding_an_object() -> None:
    assert parse_body(json.dumps(json.dumps({"a": 1}))) == {"a": 1}
    assert parse_body("\ufeff" + json.dumps({"a": 1})) == {"a": 1}
    assert parse_body(json.dumps("[1]")) == "[1]"  # a string holding a list stays a string
    assert parse_body(json.dumps("plain words")) == "plain words"
    with pytest.raises(ValueError):
        parse_body("<html>")


@pytest.mark.parametrize(
    ("text", "normal"),
    [("  Deleted Successfully. ", "deleted successfully"), ("Invalid action.", "invalid action"),
     ("NO RECORD FOUND", "no record found"), ("x . ", "x")],
)  # fmt: skip
def test_normalise(text: str, normal: str) -> None:
    assert normalise(text) == normal


# The older API's success form (DeleteCampaignData.php page): "4 Records Deleted Successfully".
@pytest.mark.parametrize(
    ("body_message", "count"),
    [
        ("4 Records Deleted Successfully", 4),
        ("1 Record Deleted Successfully", 1),
        ("12 records deleted successfully.", 12),
        ("  2 Records Deleted Successfully!  ", 2),
        ("3 Records Deleted", 3),
    ],
)
def test_a_success_with_a_count_is_deleted_and_keeps_the_count(
    body_message: str, count: int
) -> None:
    body = json.dumps({"status": "success", "message": body_message})
    verdict = classify(200, body)
    assert (verdict.outcome, verdict.reason, verdict.count) == (Outcome.DELETED, "deleted", count)


def test_zero_records_deleted_is_not_found() -> None:
    verdict = classify(200, json.dumps({"status": "success", "message": "0 Records Deleted"}))
    assert (verdict.outcome, verdict.count) == (Outcome.NOT_FOUND, 0)


@pytest.mark.parametrize("body_message", ["Records Deleted Successfully 4", "4 Records Kept"])
def test_a_count_in_another_sentence_is_not_a_deletion(body_message: str) -> None:
    verdict = classify(200, json.dumps({"status": "success", "message": body_message}))
    assert verdict.outcome is Outcome.UNEXPECTED


def test_invalid_action_with_token_auth_names_the_token_with_key_switch() -> None:
    body = json.dumps({"status": "false", "message": "Invalid action."})
    assert "token_with_key: false" in classify(200, body, token_auth=True).message
    assert "token_with_key" not in classify(200, body, token_auth=False).message


# ---------------------------------------------------------------- found by mutation testing


@pytest.mark.parametrize(
    ("body_message", "outcome"),
    [("4 Records Deleted Successfully", Outcome.DELETED), ("0 Records Deleted", Outcome.NOT_FOUND)],
)
def test_a_counted_answer_keeps_the_servers_words(body_message: str, outcome: Outcome) -> None:
    verdict = classify(200, json.dumps({"status": "success", "message": body_message}))
    assert (verdict.outcome, verdict.message) == (outcome, body_message)


def test_invalid_action_with_basic_auth_ends_on_the_setting_hint() -> None:
    body = json.dumps({"status": "false", "message": "Invalid action."})
    assert classify(200, body).message == (
        "Invalid action. — check the account's API Authentication setting: BASIC_AUTH goes "
        "with `auth: basic`, TOKEN_AUTH with `auth: token`"
    )
