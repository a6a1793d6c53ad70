"""The sandbox's odd answers: --answer, --answer-from, --answers FILE and --body-encoding."""

from __future__ import annotations

import codecs
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sandbox_helpers import MakeClient, body_of, generate, rec, send, side_text, stats

from runner.core import protocol
from runner.sandbox import sandbox_command
from runner.sandbox.answers import (
    UNKNOWN_ANSWER,
    BodyEncoding,
    ForcedAnswer,
    HttpAnswer,
    encode_body,
    load_answers,
    parse_answers,
)
from runner.sandbox.settings import AuthMode

ELSEWHERE = "https://elsewhere.example"
DOCUMENTED = [
    (ForcedAnswer.INVALID_ACTION, protocol.INVALID_ACTION),
    (ForcedAnswer.INVALID_TOKEN, protocol.INVALID_TOKEN),
    (ForcedAnswer.TOKEN_EXPIRED, protocol.TOKEN_EXPIRED),
    (ForcedAnswer.TOKEN_MISSING, protocol.TOKEN_MISSING),
    (ForcedAnswer.KEY_MISSING, protocol.KEY_MISSING),
    (ForcedAnswer.INVALID_USER, protocol.INVALID_USER),
    (ForcedAnswer.CAMPAIGN_INVALID, protocol.CAMPAIGN_INVALID),
    (ForcedAnswer.UNKNOWN, UNKNOWN_ANSWER),
]


async def _assert_nothing_deleted(client: Any, forced: int) -> None:
    counters = await stats(client)
    assert counters["forced_answers"] == counters["requests"] == forced
    assert counters["deleted"] == counters["not_found"] == counters["invalid"] == 0
    async with client.get("/_sandbox/deleted") as resp:
        assert await resp.json() == {}


# --------------------------------------------------------------------------- --answer NAME


def test_every_name_has_a_test() -> None:
    tested = {name for name, _ in DOCUMENTED} | {
        ForcedAnswer.HTTP_401,
        ForcedAnswer.HTTP_403,
        ForcedAnswer.REDIRECT,
        ForcedAnswer.ECHO_KEY,
    }
    assert tested == set(ForcedAnswer)


@pytest.mark.parametrize(("name", "answer"), DOCUMENTED, ids=[n for n, _ in DOCUMENTED])
async def test_documented_answer_instead_of_deleting(
    make_client: MakeClient, name: ForcedAnswer, answer: tuple[str, str]
) -> None:
    client = await make_client(answer=name)
    status, body, resp = await send(client)
    assert (status, body) == (200, body_of(answer))
    assert resp.content_type == "application/json"
    await _assert_nothing_deleted(client, forced=1)


def test_unknown_answer_is_the_documented_text() -> None:
    assert UNKNOWN_ANSWER == ("false", "Something the runner never heard of")


@pytest.mark.parametrize(("name", "code"), [("http_401", 401), ("http_403", 403)])
async def test_http_status_with_an_html_page(make_client: MakeClient, name: str, code: int) -> None:
    client = await make_client(answer=ForcedAnswer(name), body_encoding=BodyEncoding.DOUBLE)
    status, body, resp = await send(client)
    assert status == code
    assert resp.content_type == "text/html"
    assert f"<title>{code} ".encode() in body
    assert (b"Unauthorized" if code == 401 else b"Forbidden") in body
    with pytest.raises(ValueError):
        json.loads(body)  # not JSON, and not touched by the body encoding
    await _assert_nothing_deleted(client, forced=1)


async def test_redirect_points_elsewhere_with_the_same_path(make_client: MakeClient) -> None:
    client = await make_client(answer=ForcedAnswer.REDIRECT, redirect_to=ELSEWHERE + "/")
    status, _, resp = await send(client, allow_redirects=False)
    assert status == 301
    assert resp.headers["Location"] == ELSEWHERE + protocol.PATH
    await _assert_nothing_deleted(client, forced=1)


async def test_echo_key_quotes_the_key_it_received(make_client: MakeClient) -> None:
    secret = "S3cret-Echoed-Key"
    client = await make_client(answer=ForcedAnswer.ECHO_KEY, api_key=secret)
    status, body, _ = await send(client, key=secret)
    assert status == 200
    assert json.loads(body) == {"status": "false", "message": f"Invalid apiKey {secret}"}
    assert secret not in await side_text(client)


async def test_answer_only_after_the_auth_checks(make_client: MakeClient) -> None:
    client = await make_client(answer=ForcedAnswer.UNKNOWN)
    assert (await send(client, key="wrong"))[1] == body_of(protocol.INVALID_USER)
    assert (await send(client, key=None))[1] == body_of(protocol.KEY_MISSING)
    assert (await send(client, rec(phoneNumber=None)))[1] == body_of(protocol.PHONE_MISSING)
    counters = await stats(client)
    assert (counters["forced_answers"], counters["invalid"], counters["requests"]) == (0, 3, 3)


async def test_answer_from_lets_a_run_succeed_first(make_client: MakeClient) -> None:
    client = await make_client(answer=ForcedAnswer.INVALID_ACTION, answer_from=3)
    bodies = [(await send(client, rec(phoneNumber=f"900000000{n}")))[1] for n in range(5)]
    assert bodies == [body_of(protocol.DELETED)] * 2 + [body_of(protocol.INVALID_ACTION)] * 3
    # An invalid request does not count as one of the first N-1 deletes.
    counters = await stats(client)
    assert (counters["deleted"], counters["forced_answers"], counters["requests"]) == (2, 3, 5)


async def test_answer_from_counts_valid_deletes_only(make_client: MakeClient) -> None:
    client = await make_client(answer=ForcedAnswer.UNKNOWN, answer_from=2)
    await send(client, key="wrong")
    assert (await send(client))[1] == body_of(protocol.DELETED)
    assert (await send(client, rec(phoneNumber="9000000002")))[1] == body_of(UNKNOWN_ANSWER)


async def test_rate_limit_comes_before_a_forced_answer(make_client: MakeClient) -> None:
    client = await make_client(answer=ForcedAnswer.HTTP_401, rate_limit=(1, 60.0))
    assert (await send(client))[0] == 401
    assert (await send(client))[:2] == (429, body_of(protocol.RATE_LIMITED))
    counters = await stats(client)
    assert (counters["forced_answers"], counters["rate_limited"], counters["requests"]) == (1, 1, 2)


# --------------------------------------------------------------------------- --answers FILE


def _answers_file(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


async def test_answers_file_gives_one_record_its_odd_answer(
    make_client: MakeClient, tmp_path: Path
) -> None:
    path = _answers_file(
        tmp_path,
        {
            "9000000002": {"status": 418, "body": "teapot", "headers": {"X-Odd": "yes"}},
            " 9000000003 ": {"body": "<p>hi</p>", "headers": {"Content-Type": "text/html"}},
        },
    )
    client = await make_client(answers_file=path, answer=ForcedAnswer.UNKNOWN, answer_from=99)
    assert (await send(client))[1] == body_of(protocol.DELETED)
    for _ in range(2):  # always, not once
        status, body, resp = await send(client, rec(phoneNumber="9000000002"))
        assert (status, body, resp.headers["X-Odd"]) == (418, b"teapot", "yes")
        assert resp.content_type == "application/json"
    status, body, resp = await send(client, rec(phoneNumber="9000000003"))
    assert (status, body, resp.content_type) == (200, b"<p>hi</p>", "text/html")
    counters = await stats(client)
    assert (counters["deleted"], counters["forced_answers"], counters["requests"]) == (1, 3, 4)
    async with client.get("/_sandbox/requests") as resp:
        counts = {row["phone"]: row["count"] for row in await resp.json()}
    assert counts == {"9000000001": 1, "9000000002": 2, "9000000003": 1}


async def test_answers_file_wins_over_answer(make_client: MakeClient, tmp_path: Path) -> None:
    path = _answers_file(tmp_path, {"9000000001": {"body": "{}"}})
    client = await make_client(answers_file=path, answer=ForcedAnswer.HTTP_403)
    assert (await send(client))[:2] == (200, b"{}")
    assert (await send(client, rec(phoneNumber="9000000002")))[0] == 403


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[1, 2]", "expected a JSON object"),
        ("{nope", "not JSON"),
        ('{"1": "text"}', "key '1': expected an object"),
        ('{"1": {"status": 200}}', "key '1': 'body' must be a string"),
        ('{"1": {"body": 5}}', "key '1': 'body' must be a string"),
        ('{"1": {"body": "", "status": "200"}}', "key '1': 'status' must be an HTTP status"),
        ('{"1": {"body": "", "status": 600}}', "key '1': 'status' must be an HTTP status"),
        ('{"1": {"body": "", "status": true}}', "key '1': 'status' must be an HTTP status"),
        ('{"1": {"body": "", "headers": []}}', "key '1': 'headers' must be an object"),
        ('{"1": {"body": "", "headers": {"X": 1}}}', "key '1': header 'X'"),
        ('{"1": {"body": "", "headers": {"X": "a\\nb"}}}', "key '1': header 'X'"),
        ('{"1": {"body": "", "colour": "red"}}', "key '1': unknown key 'colour'"),
        ('{" ": {"body": ""}}', "an empty phone number"),
    ],
)
def test_parse_answers_rejects(document: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_answers(document)


def test_load_answers_names_the_file(tmp_path: Path) -> None:
    path = _answers_file(tmp_path, {"1": {}})
    with pytest.raises(ValueError, match=r"answers\.json: key '1'"):
        load_answers(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_answers(path)


@pytest.mark.parametrize(
    "content", ['{"9000000001": {"body": 1}}', None], ids=["bad-value", "missing-file"]
)
def test_command_rejects_a_bad_answers_file_in_one_line(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "answers.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(sandbox_command, ["--answers", str(path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"Error: --answers {path}: ")
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- --body-encoding


def _decode(body: bytes, encoding: BodyEncoding) -> Any:
    """Read a body the way the encoding promises, checking its shape on the way."""
    if encoding is BodyEncoding.BOM:
        assert body.startswith(codecs.BOM_UTF8)
        return json.loads(body[len(codecs.BOM_UTF8) :])
    value = json.loads(body)
    if encoding is BodyEncoding.DOUBLE:
        assert isinstance(value, str)
        return json.loads(value)
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("encoding", list(BodyEncoding))
async def test_body_encoding_of_every_json_answer(
    make_client: MakeClient, encoding: BodyEncoding
) -> None:
    client = await make_client(body_encoding=encoding, rate_limit=(1, 60.0), auth=AuthMode.TOKEN)
    status, body, _ = await send(client, token="x")  # a JSON refusal
    assert (status, _decode(body, encoding)) == (
        200,
        {"status": "false", "message": "Invalid Token"},
    )
    status, body, _ = await send(client, token="x")
    assert status == 429
    assert _decode(body, encoding) == {"status": "error", "message": "Max limit exceeded"}
    status, body, _ = await generate(client)
    assert (status, set(_decode(body, encoding))) == (200, {"token", "message"})


async def test_plain_encoding_is_the_protocol_text(make_client: MakeClient) -> None:
    client = await make_client(body_encoding=BodyEncoding.PLAIN)
    assert (await send(client))[1] == protocol.response_body(protocol.DELETED).encode()


def test_encode_body_leaves_text_alone() -> None:
    reply = HttpAnswer(500, text="<html>oops</html>", content_type="text/html")
    for encoding in BodyEncoding:
        assert encode_body(reply, encoding) == b"<html>oops</html>"
    double = encode_body(HttpAnswer.of(protocol.DELETED), BodyEncoding.DOUBLE)
    assert double == json.dumps(protocol.response_body(protocol.DELETED)).encode()
