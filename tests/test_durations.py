from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mockserver.core.durations import DURATION_PATTERN, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), (1.5, 1.5), ("500ms", 0.5), ("10s", 10), ("5m", 300), ("1h30m", 5400), ("2d", 172800)]
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5x", "m5", "1h 30", "-3", True])
def test_bad_durations_say_what_is_accepted(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]


@given(st.integers(0, 10**7))
def test_format_parse_round_trip_and_schema_pattern_agree(seconds: int) -> None:
    text = format_duration(seconds)
    assert parse_duration(text) == seconds
    assert re.match(DURATION_PATTERN, text)
