"""Edges of the rate notation and of the config's field helpers: the exact words of
their errors and where quoting cuts a value short (make mutation found them untested)."""

from __future__ import annotations

from datetime import date

import pydantic
import pytest

from runner.config import JobConfig
from runner.config.fields import SHOWN_LIMIT, shown
from runner.core.rates import RateLimit, parse_rate_limit, within_bounds

POSITIVE = "must allow at least 1 request in a positive period"


@pytest.mark.parametrize(
    ("count", "period", "text"),
    [(0, 60.0, "0/60.0s"), (-1, 60.0, "-1/60.0s"), (1, 0.0, "1/0.0s"), (1, float("inf"), "1/infs")],
)
def test_a_rate_limit_that_allows_nothing_says_so(count: int, period: float, text: str) -> None:
    with pytest.raises(ValueError) as caught:
        RateLimit(count, period)
    assert str(caught.value) == f"rate limit {text} {POSITIVE}"


def test_a_zero_period_is_out_of_bounds() -> None:
    assert not within_bounds(1, 0.0)
    assert within_bounds(1, 1e-5)


@pytest.mark.parametrize(("length", "quoted"), [(40, None), (41, 40)])
def test_a_bad_rate_is_quoted_whole_up_to_40_characters(length: int, quoted: int | None) -> None:
    text = "1/" + "x" * (length - 2)
    with pytest.raises(ValueError) as caught:
        parse_rate_limit(text)
    head = repr(text) if quoted is None else repr(text[:quoted]) + "…"
    assert str(caught.value) == f"{head} is not N/s, N/min or N/h (e.g. 100/min)"


def test_shown_cuts_past_the_limit_with_an_ellipsis() -> None:
    fits = "x" * (SHOWN_LIMIT - 2)  # its repr is exactly SHOWN_LIMIT characters
    assert shown(fits) == repr(fits)
    longer = fits + "x"
    assert shown(longer) == repr(longer)[:SHOWN_LIMIT] + "…"
    assert shown(12) == "12"


def job(**fields: object) -> JobConfig:
    return JobConfig.model_validate(
        {"name": "d", "account": "main", "campaign": "c", "input": "x.txt"} | fields
    )


def test_date_in_a_name_is_today_when_the_loader_gives_no_date() -> None:
    before = date.today()
    name = job(name="d-{date}").name
    assert name in {f"d-{before.isoformat()}", f"d-{date.today().isoformat()}"}


@pytest.mark.parametrize(
    ("fields", "words"),
    [({"campaign": "  "}, "must not be empty"),
     ({"input": "~nosuchuser_r18/a.txt"},
      "cannot expand '~' in '~nosuchuser_r18/a.txt': no home folder")],
)  # fmt: skip
def test_field_errors_in_these_words(fields: dict[str, object], words: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        job(**fields)
    assert f"Value error, {words} [" in str(caught.value)
