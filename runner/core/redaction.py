"""Masking secrets in text, whatever the encoding a server or a library gave them.

A server that echoes the key rarely echoes it byte for byte: JSON encoders write
``/`` as ``\\/`` and ``+``/``=`` as ``\\u002b``/``\\u003d``, a double-encoded body
doubles every backslash, a URL or a query string percent-encodes it, an HTML page
uses character references, and an ``Authorization: Basic`` header or a debug dump
may carry it in base64. Masking only the plain form lets the parsed message carry
the decoded key into the database. So each character of a secret is matched in
any of its encodings, mixed freely, and the base64 forms are masked as wholes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from functools import lru_cache

MASK = "***"


def _char_pattern(char: str) -> str:
    """Every way one character of a secret may be written in a body or a URL."""
    code = ord(char)
    forms = [
        r"\\*" + re.escape(char),  # as is, or backslash-escaped (\/ \" \\), at any depth
        r"\\*u" + _hex(code, 4),  # a JSON \uXXXX escape, at any depth
        r"%(?:25)*" + _hex(code, 2),  # percent-encoded, also twice (%252F)
        r"&#0*" + str(code) + ";",  # HTML decimal reference
        r"&#[xX]0*" + _hex(code, 1) + ";",  # HTML hex reference
    ]
    if char == " ":
        forms.append(r"\+")  # form encoding
    return "(?:" + "|".join(forms) + ")"


def _hex(code: int, width: int) -> str:
    """``code`` in hex, either case (an encoder may write %2f or %2F)."""
    digits = format(code, f"0{width}x")
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


def _base64_forms(secret: str) -> set[str]:
    """The key in base64 (standard and URL-safe, with and without padding)."""
    raw = secret.encode()
    forms = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    return forms | {form.rstrip("=") for form in forms}


@lru_cache(maxsize=256)
def secret_pattern(secret: str) -> re.Pattern[str]:
    """One regular expression matching ``secret`` in any of the encodings above."""
    spelled = "".join(_char_pattern(char) for char in secret)
    # Base64 of a short secret would match innocent words: only long ones count.
    whole = sorted((re.escape(f) for f in _base64_forms(secret) if len(f) >= 8), key=len)
    return re.compile("|".join([spelled, *reversed(whole)]))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret masked, in every encoding :func:`secret_pattern` knows."""
    for secret in secrets:
        if secret:
            text = secret_pattern(secret).sub(MASK, text)
    return text


def reveals(text: str, secret: str) -> bool:
    """Whether ``text`` still holds ``secret`` in some encoding (for checks and tests)."""
    return bool(secret) and secret_pattern(secret).search(text) is not None
