"""What the sandbox can answer besides its normal rules, and how JSON answers are encoded.

Kept free of aiohttp: a :class:`HttpAnswer` is plain data that the server turns into a
response, so the decisions that produce one can be unit-tested directly.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from runner.core import protocol

Headers = tuple[tuple[str, str], ...]


class BodyEncoding(StrEnum):
    """How every JSON answer goes on the wire (``--body-encoding``)."""

    PLAIN = "plain"
    DOUBLE = "double"  # a JSON string holding the object, as the vendor's docs show it
    BOM = "bom"  # a UTF-8 byte order mark before the JSON


@dataclass(frozen=True)
class HttpAnswer:
    """One HTTP answer: a JSON ``payload`` (encoded per ``--body-encoding``) or ``text`` as is."""

    status: int = 200
    payload: Mapping[str, str] | None = None
    text: str = ""
    content_type: str | None = "application/json"  # None: the headers carry it
    headers: Headers = ()

    @classmethod
    def of(cls, answer: tuple[str, str], status: int = 200, headers: Headers = ()) -> HttpAnswer:
        """A documented (status, message) answer."""
        return cls(status, payload={"status": answer[0], "message": answer[1]}, headers=headers)


def encode_body(reply: HttpAnswer, encoding: BodyEncoding) -> bytes:
    """The bytes sent for ``reply``; plain JSON is exactly ``protocol.response_body``'s text."""
    if reply.payload is None:
        return reply.text.encode()
    text = json.dumps(dict(reply.payload))
    if encoding == BodyEncoding.DOUBLE:
        text = json.dumps(text)
    data = text.encode()
    return codecs.BOM_UTF8 + data if encoding == BodyEncoding.BOM else data


def nginx_page(code: int, reason: str) -> str:
    """The HTML error page a reverse proxy in front of the API would send."""
    return (
        f"<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
        f"<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


# --------------------------------------------------------------------------- --answer


class ForcedAnswer(StrEnum):
    """The names ``--answer`` accepts."""

    INVALID_ACTION = "invalid_action"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_MISSING = "token_missing"
    KEY_MISSING = "key_missing"
    INVALID_USER = "invalid_user"
    CAMPAIGN_INVALID = "campaign_invalid"
    HTTP_401 = "http_401"
    HTTP_403 = "http_403"
    REDIRECT = "redirect"
    UNKNOWN = "unknown"
    ECHO_KEY = "echo_key"


UNKNOWN_ANSWER: Final = ("false", "Something the runner never heard of")

_DOCUMENTED: Final[dict[ForcedAnswer, tuple[str, str]]] = {
    ForcedAnswer.INVALID_ACTION: protocol.INVALID_ACTION,
    ForcedAnswer.INVALID_TOKEN: protocol.INVALID_TOKEN,
    ForcedAnswer.TOKEN_EXPIRED: protocol.TOKEN_EXPIRED,
    ForcedAnswer.TOKEN_MISSING: protocol.TOKEN_MISSING,
    ForcedAnswer.KEY_MISSING: protocol.KEY_MISSING,
    ForcedAnswer.INVALID_USER: protocol.INVALID_USER,
    ForcedAnswer.CAMPAIGN_INVALID: protocol.CAMPAIGN_INVALID,
    ForcedAnswer.UNKNOWN: UNKNOWN_ANSWER,
}
_HTTP_ERRORS: Final = {
    ForcedAnswer.HTTP_401: (401, "Unauthorized"),
    ForcedAnswer.HTTP_403: (403, "Forbidden"),
}


def forced_reply(
    name: ForcedAnswer, *, credential: str, redirect_to: str | None, path: str
) -> HttpAnswer:
    """The answer ``--answer name`` gives; ``credential`` is what the request authenticated with."""
    if name in _DOCUMENTED:
        return HttpAnswer.of(_DOCUMENTED[name])
    if name in _HTTP_ERRORS:
        code, reason = _HTTP_ERRORS[name]
        return HttpAnswer(code, text=nginx_page(code, reason), content_type="text/html")
    if name == ForcedAnswer.REDIRECT:
        if redirect_to is None:
            raise ValueError("the redirect answer needs a redirect_to URL")
        location = redirect_to.rstrip("/") + path
        page = nginx_page(301, "Moved Permanently")
        location_header = (("Location", location),)
        return HttpAnswer(301, text=page, content_type="text/html", headers=location_header)
    # ECHO_KEY: a server that quotes the credential back, so the runner's redaction is tested.
    return HttpAnswer.of(("false", f"Invalid apiKey {credential}"))


# --------------------------------------------------------------------------- --answers FILE


@dataclass(frozen=True)
class FileAnswer:
    """One record's answer from an ``--answers`` file."""

    status: int
    body: str
    headers: Headers

    def reply(self) -> HttpAnswer:
        """Sent as written; JSON content type unless the file's headers name one."""
        named = any(name.lower() == "content-type" for name, _ in self.headers)
        return HttpAnswer(
            self.status,
            text=self.body,
            content_type=None if named else "application/json",
            headers=self.headers,
        )


def _header_text(value: Any) -> bool:
    return isinstance(value, str) and value != "" and "\r" not in value and "\n" not in value


def _file_answer(where: str, spec: Any) -> FileAnswer:
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: expected an object with 'body' (and 'status', 'headers')")
    unknown = sorted(set(spec) - {"status", "body", "headers"})
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r}")
    body = spec.get("body")
    if not isinstance(body, str):
        raise ValueError(f"{where}: 'body' must be a string")
    status = spec.get("status", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise ValueError(f"{where}: 'status' must be an HTTP status from 100 to 599")
    headers = spec.get("headers", {})
    if not isinstance(headers, dict):
        raise ValueError(f"{where}: 'headers' must be an object of strings")
    for name, value in headers.items():
        if not (_header_text(name) and _header_text(value)):
            raise ValueError(f"{where}: header {name!r} must be one line of text with a value")
    return FileAnswer(status, body, tuple(headers.items()))


def parse_answers(text: str) -> dict[str, FileAnswer]:
    """An answers document: phone number -> answer; raises ValueError naming the bad key."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object mapping phone numbers to answers")
    answers: dict[str, FileAnswer] = {}
    for phone, spec in data.items():
        if not phone.strip():
            raise ValueError("an empty phone number as a key")
        answers[phone.strip()] = _file_answer(f"key {phone!r}", spec)
    return answers


def load_answers(path: Path) -> dict[str, FileAnswer]:
    """Read and parse an answers file (UTF-8); errors name the file."""
    try:
        return parse_answers(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
