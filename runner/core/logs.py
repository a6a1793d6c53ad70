"""Structured logs: JSON lines off a terminal, readable lines on one.

Two safety rules: the API key is masked wherever it would appear in an event,
and tracebacks never carry local variables (structlog's default would show
them, key included: docs/pitfalls.md).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, MutableMapping
from enum import Enum
from typing import Any, TextIO, cast

import structlog

from runner.core.clock import iso_ms
from runner.core.redaction import MASK, redact

__all__ = ["MASK", "Redactor", "configure", "get_logger", "redact", "redactor"]

# Values a renderer shows as they are; anything else is shown through its repr.
_PLAIN = (int, float, bool, type(None))


class Redactor:
    """A structlog processor replacing secret strings anywhere in an event."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()

    def add(self, secret: str) -> None:
        if secret:
            self.secrets.add(secret)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, self.secrets)
        if isinstance(value, bytes):
            return redact(value.decode("utf-8", errors="replace"), self.secrets)
        if isinstance(value, dict):
            return {self.scrub(key): self.scrub(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.scrub(item) for item in value)
        if isinstance(value, set | frozenset):
            return [self.scrub(item) for item in value]
        if isinstance(value, _PLAIN):
            return value
        # An exception or any object is rendered through its repr: mask that.
        shown = repr(value)
        masked = redact(shown, self.secrets)
        return value if masked == shown else masked

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if not self.secrets:
            return event
        return {self.scrub(key): self.scrub(value) for key, value in event.items()}


redactor = Redactor()


def timestamp(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """The one time format of the runner: ISO 8601, UTC, milliseconds, with its offset."""
    event["timestamp"] = iso_ms(time.time())
    return event


def plain_values(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> Any:
    """Enums as their values: ``deleted``, not ``<RecordState.DELETED: 'deleted'>``."""
    for key, value in event.items():
        if isinstance(value, Enum):
            event[key] = value.value
    return event


def configure(log_format: str = "auto", verbosity: int = 0, secrets: Iterable[str] = ()) -> str:
    """Set up structlog once at start-up; returns the format chosen (json or console).

    ``verbosity``: -1 quiet, 0 normal, 1 debug.
    """
    for secret in secrets:
        redactor.add(secret)
    if log_format == "auto":
        log_format = "console" if sys.stderr.isatty() else "json"
    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    # aiosqlite logs SQL parameters at DEBUG: never let it.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        timestamp,
        plain_values,
    ]
    if log_format == "json":
        processors += [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            ),
            redactor,
            structlog.processors.JSONRenderer(),
        ]
    else:
        processors += [
            structlog.processors.format_exc_info,
            redactor,
            structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()),
        ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _Stderr())),
        cache_logger_on_first_use=False,
    )
    return log_format


class _Stderr:
    """Whatever ``sys.stderr`` is at the moment of writing.

    rich's live display swaps ``sys.stderr`` to print log lines above the table;
    a logger holding the original stream would draw over it.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def get_logger(**context: Any) -> Any:
    return structlog.get_logger("runner").bind(**context)
