"""Exact fixed-point parsing and formatting of Kalshi wire values (shared.kalshi.money)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.kalshi.money import (
    CENT,
    CENTI_CENT,
    MoneyFormatError,
    ceil_to,
    format_count,
    format_dollars,
    parse_count,
    parse_dollars,
    parse_optional_dollars,
)


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ("0.4700", "0.4700"),
        ("0.0001", "0.0001"),
        ("1.0000", "1.0000"),
        ("98.0186", "98.0186"),
        ("2.500000", "2.500000"),
        (" 0.52 ", "0.52"),
        (0.47, "0.47"),  # community captures with JSON numbers
        (0.1, "0.1"),  # the shortest repr, not 0.1000000000000000055511151231257827
        (1, "1"),
        (Decimal("0.0175"), "0.0175"),
    ],
)
def test_parse_dollars_is_exact(wire: object, expected: str) -> None:
    value = parse_dollars(wire)
    assert isinstance(value, Decimal)
    assert str(value) == expected  # same digits, same exponent


def test_fee_arithmetic_stays_exact() -> None:
    """0.07 * 0.52 * 0.48 = 0.017472 exactly, ceiled to the centi-cent: the recorded fee."""
    price = parse_dollars("0.5200")
    fee = Decimal("0.07") * price * (1 - price) * parse_count("1.00")
    assert fee == Decimal("0.017472")
    assert ceil_to(fee, CENTI_CENT) == parse_dollars("0.0175")
    assert ceil_to(fee, CENT) == Decimal("0.02")


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "abc", "NaN", "Infinity", "-inf", "sNaN", "1_000", "0x10", True, False, None, [1]],
)
def test_parse_dollars_rejects_non_numbers(bad: object) -> None:
    with pytest.raises(MoneyFormatError):
        parse_dollars(bad, "yes_bid_dollars")


def test_error_names_field_and_cuts_long_values() -> None:
    with pytest.raises(MoneyFormatError) as info:
        parse_dollars("x" * 500, "no_ask_dollars")
    message = str(info.value)
    assert message.startswith("no_ask_dollars:")
    assert len(message) < 100


def test_parse_optional_dollars() -> None:
    assert parse_optional_dollars(None) is None
    assert parse_optional_dollars("") is None
    assert parse_optional_dollars("0.0000") == Decimal(0)
    with pytest.raises(MoneyFormatError):
        parse_optional_dollars("n/a")


def test_parse_count_signed_and_fractional() -> None:
    assert parse_count("3.00") == Decimal("3.00")
    assert parse_count("-3.00") == Decimal("-3")
    assert parse_count("2.50") + parse_count("0.01") == Decimal("2.51")
    assert str(parse_count("7.77")) == "7.77"


@pytest.mark.parametrize(
    ("value", "places", "expected"),
    [
        (Decimal("0.47"), 4, "0.4700"),
        (Decimal("2.5"), 6, "2.500000"),
        (Decimal("0.00005"), 4, "0.0000"),  # half-even: 0.00005 -> 0.0000
        (Decimal("0.00015"), 4, "0.0002"),
        (Decimal("1.005"), 2, "1.00"),
        (Decimal("-0.1234567"), 6, "-0.123457"),
    ],
)
def test_format_dollars(value: Decimal, places: int, expected: str) -> None:
    assert format_dollars(value, places) == expected


def test_format_count() -> None:
    assert format_count(Decimal(3)) == "3.00"
    assert format_count(Decimal("2.5")) == "2.50"
    assert format_count(Decimal("-1")) == "-1.00"


@pytest.mark.parametrize(
    ("value", "quantum", "expected"),
    [
        ("0.017472", "0.0001", "0.0175"),
        ("0.0175", "0.0001", "0.0175"),  # already on the grid: unchanged
        ("-0.017472", "0.0001", "-0.0174"),  # ceiling, towards +inf
        ("0.12", "0.05", "0.15"),  # non-power-of-ten grid (quantize alone gave 0.12)
        ("0.15", "0.05", "0.15"),
        ("0.0201", "0.010", "0.030"),  # 0.010 is a 0.01 grid, not a 0.001 one
        ("3.2", "1", "4"),
    ],
)
def test_ceil_to(value: str, quantum: str, expected: str) -> None:
    result = ceil_to(Decimal(value), Decimal(quantum))
    assert result == Decimal(expected)
    assert result % Decimal(quantum) == 0


def test_ceil_to_rejects_non_positive_quantum() -> None:
    with pytest.raises(ValueError, match="positive"):
        ceil_to(Decimal("1"), Decimal(0))
