"""Kalshi's wire formats, rendered from integers without Decimal in the hot path.

Internally prices are integer centi-cents (1/10,000 of a dollar), counts are integer
hundredths of a contract, and portfolio money is integer micro-dollars (price x count
lands exactly there). Rendering is then plain integer arithmetic, which is what keeps
``GET /markets?limit=1000`` cheap.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

PRICE_ONE = 10_000  # $1.00 in centi-cents
COUNT_ONE = 100  # one contract in hundredths
MICRO_PER_CENTI = 100  # micro-dollars per centi-cent

_encoder = msgspec.json.Encoder(order="sorted")


def encode(obj: Any) -> bytes:
    """JSON with sorted keys, as Kalshi's Go services emit it."""
    return _encoder.encode(obj)


def price(p: int) -> str:
    """Centi-cents -> ``"0.4700"``."""
    sign = "-" if p < 0 else ""
    p = abs(p)
    return f"{sign}{p // PRICE_ONE}.{p % PRICE_ONE:04d}"


def count(c: int) -> str:
    """Hundredths -> ``"3.00"`` (signed for positions and deltas)."""
    sign = "-" if c < 0 else ""
    c = abs(c)
    return f"{sign}{c // COUNT_ONE}.{c % COUNT_ONE:02d}"


def micro(m: int) -> str:
    """Micro-dollars -> ``"2.500000"`` (portfolio money, 6 dp)."""
    sign = "-" if m < 0 else ""
    m = abs(m)
    return f"{sign}{m // 1_000_000}.{m % 1_000_000:06d}"


def micro_4dp(m: int) -> str:
    """Micro-dollars -> ``"98.0186"`` truncated toward zero to 4 dp (balances).

    Integer division on the magnitude, not ``int(m / 100)``: a float quotient loses exact
    digits past 2**53 micro-dollars, and money never goes through a float.
    """
    magnitude = abs(m) // MICRO_PER_CENTI
    return price(-magnitude if m < 0 else magnitude)


def _rfc3339(value: int, per_second: int, digits: int) -> str:
    """``value`` in units of 1/``per_second`` s -> RFC 3339 with up to ``digits`` fractional
    digits, trimmed of zeros and omitted when zero (Go's RFC3339Nano)."""
    seconds, fraction = divmod(value, per_second)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if fraction == 0:
        return base + "Z"
    return f"{base}.{fraction:0{digits}d}".rstrip("0") + "Z"


def rfc3339(ms: int) -> str:
    """Unix ms -> Go's RFC3339Nano: fraction trimmed of zeros, omitted when zero."""
    return _rfc3339(ms, 1000, 3)


def rfc3339_us(us: int) -> str:
    """Unix microseconds -> RFC 3339 with up to 6 fractional digits (Kalshi's created_time)."""
    return _rfc3339(us, 1_000_000, 6)


def taker_fee_centi(price_centi: int, count_hundredths: int) -> int:
    """Kalshi's quadratic taker fee 0.07 x P x (1-P) x count, rounded up to $0.0001.

    In integers: fee[centi-cents] = ceil(7 * P * (10000 - P) * C / 1e8) with P in
    centi-cents and C in hundredths.
    """
    numerator = 7 * price_centi * (PRICE_ONE - price_centi) * count_hundredths
    return -(-numerator // 100_000_000)
