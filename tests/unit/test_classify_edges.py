"""The classifier's edges: where a redirect begins and ends, and the words a verdict
carries when the body says nothing (what status and export show as the last message)."""

from __future__ import annotations

import json

import pytest

from runner.core.states import StopReason
from runner.sending.classify import Outcome, classify

DELETED = '{"status": "Success", "message": "Deleted Successfully"}'


@pytest.mark.parametrize("http_status", [300, 399])
def test_every_3xx_is_a_redirect_300_and_399_included(http_status: int) -> None:
    """HTTP 300 (Multiple Choices) may carry a Location too: never followed, never believed."""
    verdict = classify(http_status, DELETED, location="https://elsewhere.example/x")
    assert (verdict.outcome, verdict.reason, verdict.stop) == (
        Outcome.STOP, "redirect", StopReason.REDIRECT
    )  # fmt: skip
    assert verdict.message == (
        f"HTTP {http_status} redirect to https://elsewhere.example/x; redirects are never "
        "followed: fix base_url"
    )


@pytest.mark.parametrize("http_status", [200, 299, 400])
def test_the_statuses_around_3xx_are_judged_by_the_body(http_status: int) -> None:
    assert classify(http_status, DELETED, location="https://elsewhere.example/x").outcome is (
        Outcome.DELETED
    )


def test_a_redirect_without_location_says_so_in_these_words() -> None:
    assert classify(300, "").message == (
        "HTTP 300 redirect to (no Location header); redirects are never followed: fix base_url"
    )


def test_a_429_without_a_json_body_says_http_429() -> None:
    verdict = classify(429, "<html>Too Many</html>")
    assert (verdict.outcome, verdict.message) == (Outcome.RATE_LIMITED, "HTTP 429")


def test_a_throttling_phrase_keeps_the_servers_words() -> None:
    verdict = classify(200, json.dumps({"status": "error", "message": "Too many requests!"}))
    assert (verdict.outcome, verdict.message) == (Outcome.RATE_LIMITED, "Too many requests!")


def test_a_401_with_an_empty_body_says_so() -> None:
    assert classify(401, "").message == "HTTP 401: (empty body)"


def test_a_403_quotes_at_most_200_characters_of_the_body() -> None:
    verdict = classify(403, "x" * 300)
    assert verdict.message == "HTTP 403: " + "x" * 200


def test_a_message_that_is_not_a_string_is_kept_as_json() -> None:
    verdict = classify(200, json.dumps({"status": "false", "message": 42}))
    assert (verdict.outcome, verdict.message) == (Outcome.UNEXPECTED, "42")


def test_only_a_full_stop_is_dropped_from_the_end() -> None:
    verdict = classify(200, json.dumps({"status": "Error", "message": "No Record FoundX"}))
    assert verdict.outcome is Outcome.UNEXPECTED


@pytest.mark.parametrize("body", ["X" + DELETED, json.dumps("X" + DELETED)])
def test_only_a_bom_is_dropped_from_the_front(body: str) -> None:
    """Garbage before the JSON is not JSON: never believed to say "deleted"."""
    verdict = classify(200, body)
    assert (verdict.outcome, verdict.reason) == (Outcome.TRANSIENT, "not_json")
