"""Exact parsing and formatting of Kalshi's fixed-point wire values.

Kalshi sends prices as dollar strings (``"0.4700"``, sub-cent levels exist) and contract
counts as fixed-point strings (``"3.00"``). Floats would turn ``0.07 * 0.52 * 0.48`` into a
fee that is off by a centi-cent, so everything stays :class:`~decimal.Decimal` until it is
rendered. Some community captures show the same fields as JSON numbers, so numbers are
accepted too, via their shortest decimal representation.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, InvalidOperation

__all__ = [
    "CENT",
    "CENTI_CENT",
    "ONE",
    "ZERO",
    "MoneyFormatError",
    "ceil_to",
    "format_count",
    "format_dollars",
    "parse_count",
    "parse_dollars",
    "parse_optional_dollars",
]

ZERO = Decimal(0)
ONE = Decimal(1)
CENT = Decimal("0.01")
CENTI_CENT = Decimal("0.0001")
_FOUR_DP = Decimal("0.0001")
_SIX_DP = Decimal("0.000001")
_TWO_DP = Decimal("0.01")


class MoneyFormatError(ValueError):
    """A wire value that should be a fixed-point number is not one."""


def _to_decimal(value: object, field: str) -> Decimal:
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):  # bool is an int subclass; never a price
        raise MoneyFormatError(f"{field}: expected a fixed-point string, got a boolean")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise MoneyFormatError(f"{field}: empty string is not a number")
        if "_" in text:  # Decimal() accepts "1_000"; no wire format writes numbers that way
            raise MoneyFormatError(f"{field}: {value[:32]!r} is not a fixed-point number")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise MoneyFormatError(f"{field}: {value[:32]!r} is not a fixed-point number") from None
    else:
        kind = type(value).__name__
        raise MoneyFormatError(f"{field}: expected a fixed-point string, got {kind}")
    if not result.is_finite():
        raise MoneyFormatError(f"{field}: {value!r} is not finite")
    return result


def parse_dollars(value: object, field: str = "dollars") -> Decimal:
    """Parse a ``*_dollars`` value (``"0.4700"``) exactly."""
    return _to_decimal(value, field)


def parse_optional_dollars(value: object, field: str = "dollars") -> Decimal | None:
    """Like :func:`parse_dollars` but ``None`` and ``""`` mean "no value"."""
    if value is None or value == "":
        return None
    return _to_decimal(value, field)


def parse_count(value: object, field: str = "count_fp") -> Decimal:
    """Parse a ``*_fp`` contract count (``"3.00"``, may be fractional or signed) exactly."""
    return _to_decimal(value, field)


def format_dollars(value: Decimal, places: int = 4) -> str:
    """Render dollars the way Kalshi does: 4 dp for market prices, 6 dp for portfolio money."""
    quantum = _FOUR_DP if places == 4 else _SIX_DP if places == 6 else Decimal(1).scaleb(-places)
    return str(value.quantize(quantum, rounding=ROUND_HALF_EVEN))


def format_count(value: Decimal) -> str:
    """Render a contract count with Kalshi's two decimal places (``"3.00"``)."""
    return str(value.quantize(_TWO_DP, rounding=ROUND_HALF_EVEN))


def ceil_to(value: Decimal, quantum: Decimal) -> Decimal:
    """Round up to a multiple of ``quantum``: Kalshi rounds fees up, never to nearest.

    ``quantize`` alone only honours the quantum's exponent, so it is exact for powers of ten
    (``CENT``, ``CENTI_CENT``) but would leave 0.12 unchanged for a 0.05 grid; other quanta
    go through the number of whole steps instead.
    """
    if quantum <= 0:
        raise ValueError("quantum must be positive")
    if quantum.as_tuple().digits == (1,):  # a power of ten written as one digit
        return value.quantize(quantum, rounding=ROUND_CEILING)
    steps = (value / quantum).to_integral_value(rounding=ROUND_CEILING)
    return (steps * quantum).quantize(quantum)
