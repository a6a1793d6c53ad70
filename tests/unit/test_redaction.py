"""Secrets masked whatever the encoding, and the log filter that masks them (issue 15, 18).

The log tests go through ``runner.core.logs.configure`` and read what reaches stderr,
in both formats; every one of them fails when the redacting processor is taken
out of the chain (checked by hand: ``Redactor.__call__`` returning the event).
"""

from __future__ import annotations

import base64
import contextlib
import json
import urllib.parse
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.core import logs
from runner.core.logs import configure, get_logger, redactor
from runner.core.redaction import MASK, redact, reveals, secret_pattern

# The README allows any printable ASCII without spaces: `"` and `\` included.
AWKWARD_KEY = 'Sup3r/Se"cr\\et+Key=='
KEY_CHARS = st.text(st.sampled_from([chr(c) for c in range(0x21, 0x7F)]), min_size=8, max_size=40)


def json_escaped_all(secret: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in secret)


ENCODINGS: dict[str, Callable[[str], str]] = {
    "plain": lambda k: k,
    "json": lambda k: json.dumps(k)[1:-1],
    "json_slash": lambda k: json.dumps(k)[1:-1].replace("/", "\\/"),
    "json_unicode": json_escaped_all,
    "json_upper_unicode": lambda k: "".join(f"\\u{ord(c):04X}" for c in k),
    "double_json": lambda k: json.dumps(json.dumps(k))[1:-1],
    "percent": lambda k: urllib.parse.quote(k, safe=""),
    "percent_lower": lambda k: "".join(f"%{ord(c):02x}" for c in k),
    "percent_twice": lambda k: urllib.parse.quote(urllib.parse.quote(k, safe=""), safe=""),
    "html": lambda k: "".join(f"&#{ord(c)};" for c in k),
    "base64": lambda k: base64.b64encode(k.encode()).decode(),
    "base64_url": lambda k: base64.urlsafe_b64encode(k.encode()).decode().rstrip("="),
}


def decodings(text: str) -> list[str]:
    """What a reader could turn ``text`` back into."""
    found = [text, urllib.parse.unquote(text), urllib.parse.unquote(urllib.parse.unquote(text))]
    for candidate in list(found):
        with contextlib.suppress(ValueError):
            found.append(json.loads(f'"{candidate}"'))
    return found


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_of_an_awkward_key_is_masked(encoding: str) -> None:
    text = f"Invalid apiKey {ENCODINGS[encoding](AWKWARD_KEY)} for user"
    masked = redact(text, [AWKWARD_KEY])
    assert MASK in masked
    assert not reveals(masked, AWKWARD_KEY)
    assert all(AWKWARD_KEY not in decoded for decoded in decodings(masked))


@settings(max_examples=200, deadline=None)
@given(key=KEY_CHARS, encoding=st.sampled_from(sorted(ENCODINGS)), before=st.text(max_size=5))
def test_no_encoding_of_a_random_key_survives(key: str, encoding: str, before: str) -> None:
    masked = redact(f"{before}{ENCODINGS[encoding](key)}!", [key])
    assert all(key not in decoded for decoded in decodings(masked))
    assert not reveals(masked, key)


def test_text_without_the_key_is_left_alone() -> None:
    text = 'status "ok", 100% done, a+b=c, \\u0041'
    assert redact(text, ["Sup3r/Secret+Key=="]) == text


# ---------------------------------------------------------------- the log filter


@pytest.fixture(params=["json", "console"])
def log_lines(
    request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[[], str]]:
    """Logs configured in one format with the awkward key and a token as secrets."""
    before = set(redactor.secrets)
    configure(request.param, secrets=[AWKWARD_KEY, TOKEN])
    yield lambda: capsys.readouterr().err
    redactor.secrets.clear()
    redactor.secrets.update(before)
    configure("json")


TOKEN = 'eyJhbGciOi.J9\\eyJleHAi"OjE3.sig+/='


def strings(value: object) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def leaks(output: str, secret: str) -> bool:
    """Whether any line, as written or once its JSON is decoded, holds the secret."""
    for line in output.splitlines():
        if reveals(line, secret):
            return True
        try:
            decoded = list(strings(json.loads(line)))
        except ValueError:
            continue
        if any(secret in text or reveals(text, secret) for text in decoded):
            return True
    return False


@pytest.mark.parametrize("secret", [AWKWARD_KEY, TOKEN])
def test_a_secret_in_a_nested_value_is_masked(log_lines: Callable[[], str], secret: str) -> None:
    get_logger().warning("answer", detail={"body": ["x", {"deep": f"key={secret}"}]}, n=3)
    out = log_lines()
    assert "answer" in out and MASK in out
    assert not leaks(out, secret)


@pytest.mark.parametrize("secret", [AWKWARD_KEY, TOKEN])
def test_a_secret_in_an_exception_is_masked(log_lines: Callable[[], str], secret: str) -> None:
    log = get_logger()
    try:
        raise ValueError(f"server said: Invalid apiKey {secret}")
    except ValueError as error:
        log.exception("request_failed")
        log.error("request_failed_value", error=error)
    out = log_lines()
    assert "request_failed" in out and "ValueError" in out
    assert not leaks(out, secret)


@pytest.mark.parametrize("encoding", ["json_slash", "json_unicode", "percent", "double_json"])
def test_an_escaped_secret_in_a_log_line_is_masked(
    log_lines: Callable[[], str], encoding: str
) -> None:
    get_logger().info("echoed", body=f'{{"message": "bad {ENCODINGS[encoding](AWKWARD_KEY)}"}}')
    out = log_lines()
    assert "echoed" in out
    assert not leaks(out, AWKWARD_KEY)


def test_a_secret_in_an_event_key_or_bytes_is_masked(log_lines: Callable[[], str]) -> None:
    get_logger().info("odd", **{f"k_{AWKWARD_KEY}": 1}, raw=f"x{TOKEN}".encode())
    out = log_lines()
    assert "odd" in out
    assert not leaks(out, AWKWARD_KEY) and not leaks(out, TOKEN)


def test_the_filter_is_in_both_chains() -> None:
    for fmt in ("json", "console"):
        configure(fmt)
        assert logs.redactor in __import__("structlog").get_config()["processors"]
    configure("json")


# ------------------------------------------------------------ each encoding on its own (mutation)


@pytest.fixture(autouse=True)
def _fresh_patterns() -> Iterator[None]:
    """Build every pattern anew: ``secret_pattern`` is cached, and a pattern cached by an
    earlier test (or by mutmut's first run, before it forks a mutant) hides a change."""
    secret_pattern.cache_clear()
    yield
    secret_pattern.cache_clear()


@pytest.mark.parametrize(
    "written",
    [
        "&#107;&#51;&#121;",  # HTML decimal references
        "&#0107;3y",  # zero-padded, mixed with plain characters
        "&#x6b;&#X33;&#x79;",  # hex references, lower- and upper-case x
        "&#x06B;3y",
    ],
)
def test_html_character_references_are_masked(written: str) -> None:
    assert redact(f"<p>bad key {written}.</p>", ["k3y"]) == f"<p>bad key {MASK}.</p>"


def test_a_reference_without_its_semicolon_is_not_the_secret() -> None:
    assert reveals("&#107&#51&#121", "k3y") is False


def test_a_control_character_is_matched_in_a_one_digit_hex_reference() -> None:
    assert redact("a&#x9;b", ["a\tb"]) == MASK


def test_a_space_is_matched_in_its_form_encoding() -> None:
    assert redact("q=my+secret+key&x=1", ["my secret key"]) == f"q={MASK}&x=1"
    # Only a space may be written as "+": "a+b" is not the secret "ab".
    assert reveals("x+y", "xy") is False


# 11 bytes: base64 ends in "=", so the padded and unpadded forms differ.
B64_SECRET = "k3y-Secret!"


@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
@pytest.mark.parametrize("padded", [True, False])
def test_base64_with_and_without_padding_is_masked(
    encode: Callable[[bytes], bytes], padded: bool
) -> None:
    form = encode(B64_SECRET.encode()).decode()
    assert form.endswith("=")
    form = form if padded else form.rstrip("=")
    assert (
        redact(f"Authorization: Basic {form}\n", [B64_SECRET]) == f"Authorization: Basic {MASK}\n"
    )


def test_reveals_finds_the_secret_and_never_an_empty_one() -> None:
    assert reveals("apiKey=k3y", "k3y") is True
    assert reveals("apiKey=k3y", "") is False


# ---------------------------------------------------------------- the Redactor itself (mutation)


def fresh_redactor(*secrets: str) -> logs.Redactor:
    """A Redactor of its own: the module's one is shared with every other test."""
    filter_ = logs.Redactor()
    for secret in secrets:
        filter_.add(secret)
    return filter_


def test_a_fresh_redactor_masks_what_it_was_given_and_ignores_empty_secrets() -> None:
    filter_ = fresh_redactor("k3y", "")
    assert filter_.secrets == {"k3y"}
    assert filter_(None, "info", {"event": "x k3y"}) == {"event": f"x {MASK}"}


def test_undecodable_bytes_are_masked_not_raised() -> None:
    scrubbed = fresh_redactor("k3y").scrub(b"\xff\xfe k3y")
    assert scrubbed == f"\ufffd\ufffd {MASK}"


def test_nested_keys_and_set_members_are_masked() -> None:
    scrubbed = fresh_redactor("k3y").scrub({"outer": {"k3y": 1}, "set": {"a k3y"}})
    assert scrubbed == {"outer": {MASK: 1}, "set": [f"a {MASK}"]}


def test_an_object_without_the_secret_is_passed_on_as_itself() -> None:
    error = ValueError("nothing secret")
    assert fresh_redactor("k3y").scrub(error) is error
    assert fresh_redactor("k3y").scrub(ValueError("bad k3y")) == f"ValueError('bad {MASK}')"
