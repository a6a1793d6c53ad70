"""The rate notation on its own: bounds, messages, and no pydantic or yaml needed."""

from __future__ import annotations

import pytest

from runner.core.rates import (
    MAX_COUNT,
    MAX_PER_SECOND,
    RateLimit,
    parse_rate_limit,
    within_bounds,
)


@pytest.mark.parametrize(
    "text",
    ["100000000000000000000000/s", "1000001/h", "100001/s", "2/0.00001s", "1/86401s", "1/25h",
     "9" * 5000 + "/s", "1/" + "9" * 400 + "s"],
)  # fmt: skip
def test_absurd_rates_are_refused_with_the_bounds(text: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_rate_limit(text)
    message = str(caught.value)
    assert "is out of bounds" in message
    assert f"1 to {MAX_COUNT:,}" in message and f"at most {MAX_PER_SECOND:,}/s" in message
    assert "\n" not in message and len(message) < 200  # the text is quoted cut short


@pytest.mark.parametrize(
    ("text", "limit"),
    [("100000/s", RateLimit(100_000, 1.0)),  # the benchmarks' "no limit"
     ("1000000/10s", RateLimit(1_000_000, 10.0)),
     ("1/24h", RateLimit(1, 86_400.0)),
     ("0005/s", RateLimit(5, 1.0))],
)  # fmt: skip
def test_the_bounds_themselves_are_accepted(text: str, limit: RateLimit) -> None:
    assert parse_rate_limit(text) == limit


def test_1e23_is_not_the_notation() -> None:
    with pytest.raises(ValueError, match=r"'1e23/s' is not N/s, N/min or N/h"):
        parse_rate_limit("1e23/s")


def test_a_rate_limit_built_directly_is_bounded_too() -> None:
    with pytest.raises(ValueError, match="at most 100,000/s"):
        RateLimit(10**23, 1.0)
    assert not within_bounds(MAX_COUNT + 1, 3600.0)
    assert within_bounds(MAX_COUNT, 3600.0)
