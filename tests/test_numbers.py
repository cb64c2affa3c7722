"""Numbers from text: only ASCII digits within bounds become ints."""

from __future__ import annotations

import pytest

from asyncportal.numbers import bounded_int, exceeds


@pytest.mark.parametrize(("raw", "value"), [("0", 0), ("7", 7), ("007", 7), ("500", 500)])
def test_bounded_int_accepts_ascii_digits_in_range(raw: str, value: int) -> None:
    assert bounded_int(raw, low=0, high=500) == value


@pytest.mark.parametrize("raw", ["²", "٣", "-1", "+1", "1e9", " 1", "1.0", "", "\ud800", "501", "9" * 5000])
def test_bounded_int_refuses_everything_else(raw: str) -> None:
    assert bounded_int(raw, low=0, high=500) is None


def test_exceeds_is_true_only_for_a_number_above_the_limit() -> None:
    assert exceeds("65537", 65536) and exceeds("9" * 5000, 65536)
    assert not exceeds("65536", 65536) and not exceeds("²", 1) and not exceeds("", 1) and not exceeds("-5", 1)
