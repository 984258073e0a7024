"""The fixed-point units: exact renderings, exact round trips, and the JSON default."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.units import (
    COUNT_SCALE,
    MICRO_PER_DOLLAR,
    MICRO_PER_TICK,
    MISSING_TICKS,
    PRICE_SCALE,
    dollars_to_micros,
    format_count,
    format_micros,
    format_ticks,
    json_default,
    micros_to_dollars,
    price_ticks,
)


def test_the_scales_fit_together() -> None:
    """One count unit (1/100 contract) times one tick ($0.0001) is one micro-dollar."""
    assert (PRICE_SCALE, COUNT_SCALE, MICRO_PER_DOLLAR) == (10_000, 100, 1_000_000)
    assert PRICE_SCALE * COUNT_SCALE == MICRO_PER_DOLLAR
    assert MICRO_PER_TICK == 100


@pytest.mark.parametrize(
    ("ticks", "text"), [(0, "0.0000"), (1, "0.0001"), (4700, "0.4700"), (10_000, "1.0000")]
)
def test_ticks_render_with_four_decimals(ticks: int, text: str) -> None:
    assert format_ticks(ticks) == text
    assert price_ticks(text) == ticks


@pytest.mark.parametrize(
    ("units", "text"), [(0, "0.00"), (1, "0.01"), (300, "3.00"), (1250, "12.50")]
)
def test_counts_render_with_two_decimals(units: int, text: str) -> None:
    assert format_count(units) == text


@pytest.mark.parametrize(
    ("micro", "text"),
    [
        (0, "0.000000"),
        (5, "0.000005"),
        (-5, "-0.000005"),
        (-1_234_567, "-1.234567"),
        (1_000_000_000_000_000, "1000000000.000000"),
    ],
)
def test_micros_render_with_six_decimals(micro: int, text: str) -> None:
    assert format_micros(micro) == text
    assert str(micros_to_dollars(micro)) == text


def test_price_ticks_refuses_a_price_finer_than_a_tick_and_maps_none_to_missing() -> None:
    assert price_ticks(None) == MISSING_TICKS
    assert price_ticks(Decimal("0.47")) == 4700
    with pytest.raises(ValueError, match="finer than"):
        price_ticks("0.47005")


@given(st.integers(min_value=0, max_value=10**12))
def test_ticks_round_trip_through_their_string(ticks: int) -> None:
    assert price_ticks(format_ticks(ticks)) == ticks
    assert Decimal(format_ticks(ticks)) == Decimal(ticks) / PRICE_SCALE


@given(st.integers(min_value=0, max_value=10**12))
def test_counts_render_exactly(units: int) -> None:
    assert Decimal(format_count(units)) * COUNT_SCALE == units


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_micros_round_trip_and_match_the_decimal_rendering(micro: int) -> None:
    text = format_micros(micro)
    assert text == str(micros_to_dollars(micro))
    assert dollars_to_micros(Decimal(text)) == micro
    assert dollars_to_micros(micros_to_dollars(micro)) == micro


def test_dollars_to_micros_truncates_past_the_sixth_decimal() -> None:
    assert dollars_to_micros(Decimal("0.0123456")) == 12_345
    assert dollars_to_micros(Decimal("-0.0123456")) == -12_345


def test_json_default_renders_decimals_and_datetimes_exactly_and_refuses_the_rest() -> None:
    moment = datetime(2026, 6, 11, 5, 0, tzinfo=UTC)
    east = datetime(2026, 6, 11, 5, 0, tzinfo=timezone(timedelta(hours=5)))
    document = {"price": Decimal("0.4700"), "at": moment, "east": east}
    assert json.loads(json.dumps(document, default=json_default)) == {
        "price": "0.4700",
        "at": "2026-06-11T05:00:00+00:00",
        "east": "2026-06-11T05:00:00+05:00",
    }
    for value in (object(), uuid.uuid4(), {1, 2}, b"bytes"):
        with pytest.raises(TypeError, match="not JSON serialisable"):
            json.dumps({"value": value}, default=json_default)
