"""Building blocks shared by the configuration models: the base model, field types, paths."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    PlainValidator,
    ValidationInfo,
)

from runner.core.rates import RateLimit, parse_rate_limit

# Characters of a value quoted back in a message: a message stays one short line
# even when the file holds a megabyte of text in one value.
SHOWN_LIMIT: Final = 60


class Located(ValueError):
    """A validator's error about a key below the model that raised it.

    Pydantic reports a model validator's error at the model itself; ``loc`` says
    which key (relative to that model) is wrong, so the message and line number
    point at it.
    """

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


class Model(BaseModel):
    """Unknown keys are errors (a typo must not silently become a default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def context_value(info: ValidationInfo, key: str) -> object:
    """What load_config put in the validation context under ``key`` (None if nothing)."""
    context = info.context if isinstance(info.context, dict) else {}
    return context.get(key)


def base_dir(info: ValidationInfo) -> Path:
    """The folder relative paths are resolved against: the config file's folder."""
    base = context_value(info, "base_dir")
    return base if isinstance(base, Path) else Path.cwd()


def today(info: ValidationInfo) -> date:
    """The date ``{date}`` in job names stands for: load_config's ``today``, else today."""
    value = context_value(info, "today")
    return value if isinstance(value, date) else date.today()


def resolve(value: Path, info: ValidationInfo) -> Path:
    """``value`` made absolute against the config folder (``~`` expanded)."""
    try:
        expanded = value.expanduser()
    except RuntimeError:  # no home folder to expand "~" to
        raise ValueError(f"cannot expand '~' in {shown(str(value))}: no home folder") from None
    return (base_dir(info) / expanded).resolve()


def _require_text(value: str) -> str:
    """Reject blank text, which YAML gives for ``key: ''`` or ``key: "  "``."""
    if not value.strip():
        raise ValueError("must not be empty")
    return value


Text = Annotated[str, AfterValidator(_require_text)]


def _to_rate_limit(value: object) -> RateLimit:
    """Pydantic hook: YAML gives text; Python callers may pass a RateLimit."""
    return value if isinstance(value, RateLimit) else parse_rate_limit(str(value))


RateLimitField = Annotated[RateLimit, PlainValidator(_to_rate_limit), PlainSerializer(str)]


def shown(value: object) -> str:
    """A value as the operator wrote it: text quoted, dates and numbers plain; cut short."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= SHOWN_LIMIT else text[:SHOWN_LIMIT] + "…"
