"""The fixed-point units money, prices and counts live in, and their exact renderings.

Kalshi quotes prices to $0.0001 and counts to hundredths of a contract, and money must
never pass through a float (``0.07 x 0.52 x 0.48`` rounds the wrong way near a boundary).
So the backtest engine computes in integers of fixed units, the database and the APIs
speak exact decimal strings, and this module is the one place that converts between them:

* prices: integer ticks of $0.0001 (:data:`PRICE_SCALE` per dollar), ``"0.4700"``;
* counts: integer hundredths of a contract (:data:`COUNT_SCALE` per contract), ``"3.00"``;
* money: integer micro-dollars (:data:`MICRO_PER_DOLLAR`), ``"-1.234567"``; one count unit
  times one price tick is exactly one micro-dollar (:data:`MICRO_PER_TICK` per tick of one
  contract).

It also holds the one ``json.dumps`` ``default`` (:func:`json_default`) that HTTP responses,
message envelopes and task bodies share: Decimals as exact strings, datetimes as ISO 8601.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

__all__ = [
    "COUNT_SCALE",
    "MICRO_PER_DOLLAR",
    "MICRO_PER_TICK",
    "MISSING_TICKS",
    "PRICE_SCALE",
    "dollars_to_micros",
    "format_count",
    "format_micros",
    "format_ticks",
    "json_default",
    "micros_to_dollars",
    "price_ticks",
]

PRICE_SCALE = 10_000
"""Price ticks per dollar: Kalshi quotes to $0.0001."""
COUNT_SCALE = 100
"""Count units per contract: ``*_fp`` counts carry two decimal places."""
MICRO_PER_DOLLAR = 1_000_000
"""Money unit of the engine: one micro-dollar (count unit x price tick)."""
MICRO_PER_TICK = MICRO_PER_DOLLAR // PRICE_SCALE
"""Micro-dollars in one price tick of one whole contract."""
MISSING_TICKS = -1
"""The tick value of "no quote on this side" (prices are never negative)."""

_MICRO = Decimal("0.000001")


def price_ticks(value: Decimal | str | None) -> int:
    """Dollars (exact) to integer ticks; ``None`` is :data:`MISSING_TICKS`.

    Raises ``ValueError`` for a price finer than $0.0001: truncating it would silently
    trade at a price no one quoted.
    """
    if value is None:
        return MISSING_TICKS
    ticks = Decimal(value) * PRICE_SCALE
    if ticks != ticks.to_integral_value():
        raise ValueError(f"price {value} is finer than $0.0001")
    return int(ticks)


def format_ticks(ticks: int) -> str:
    """Exact ``0.4200`` dollars from non-negative $0.0001 ticks (no float on the way)."""
    return f"{ticks // PRICE_SCALE}.{ticks % PRICE_SCALE:04d}"


def format_count(units: int) -> str:
    """Exact ``12.50`` contracts from non-negative hundredths (``*_fp`` counts), no float."""
    return f"{units // COUNT_SCALE}.{units % COUNT_SCALE:02d}"


def micros_to_dollars(micro: int) -> Decimal:
    """Exact conversion of integer micro-dollars to a 6-dp Decimal."""
    return Decimal(int(micro)).scaleb(-6).quantize(_MICRO)


def format_micros(micro: int) -> str:
    """Signed integer micro-dollars as an exact ``-1.234567`` string.

    The same text as ``str(micros_to_dollars(micro))`` in integer arithmetic only: the
    backtest store renders every trade's fees and P&L this way, where Decimal's cost shows.
    """
    sign = "-" if micro < 0 else ""
    whole, frac = divmod(abs(micro), MICRO_PER_DOLLAR)
    return f"{sign}{whole}.{frac:06d}"


def dollars_to_micros(dollars: Decimal) -> int:
    """Dollars to integer micro-dollars, truncated toward zero past the sixth decimal
    (callers bound their inputs' precision first, so nothing is lost in practice)."""
    return int(dollars * MICRO_PER_DOLLAR)


def json_default(value: object) -> object:
    """``json.dumps`` ``default`` for everything we serialise: Decimals as exact strings,
    datetimes as ISO 8601; anything else is a bug in the caller, so it raises TypeError."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
