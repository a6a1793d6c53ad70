"""Test-only shim: aioresponses 0.7.9 on aiohttp >= 3.14.

Why it exists: since aiohttp 3.14, ``ClientResponse.__init__`` takes a required
keyword argument ``stream_writer`` (it reads ``stream_writer.output_size`` when the
request has already been sent, i.e. when ``writer`` is None). aioresponses 0.7.9
builds its mocked responses with ``response_class(method, url, writer=None, ...)``
and never passes ``stream_writer``, so every mocked request raises ``TypeError``
(aioresponses issue #289; see docs/pitfalls.md). aiohttp 3.14 is a security
release, so we keep it and patch the tests instead of pinning aiohttp below 3.14.

Use: ``aioresponses().add(..., response_class=CompatClientResponse)`` (see
``tests/test_client.py``).

When to delete it: once an aioresponses release passes ``stream_writer`` itself
(the fix for issue #289). Then drop this module and the ``response_class=``
arguments; the tests must pass unchanged. The shim is harmless on aiohttp < 3.14
too: there ``ClientResponse.__init__`` has no ``stream_writer`` parameter, and we
only add it when the signature has one.
"""

from __future__ import annotations

import inspect
from typing import Any

from aiohttp import ClientResponse

_NEEDS_STREAM_WRITER = "stream_writer" in inspect.signature(ClientResponse.__init__).parameters


class _SentRequestWriter:
    """Stands in for the ``AbstractStreamWriter`` of a request that was never written.

    With ``writer=None`` (what aioresponses passes: "request already sent")
    aiohttp only reads ``output_size``, the number of request bytes sent.
    """

    output_size = 0


class CompatClientResponse(ClientResponse):
    """A ``ClientResponse`` that supplies the ``stream_writer`` aioresponses 0.7.9 omits."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", _SentRequestWriter())
        super().__init__(method, url, **kwargs)
