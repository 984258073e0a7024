"""The one rule for a market's mid-price, in the three forms the system needs it.

A midpoint exists only with a real two-sided YES quote: Kalshi shows an empty bid as
``0.0000`` and an empty ask as ``1.0000`` (and a missing side may arrive as null), so
``(bid + ask) / 2`` over such a "quote" is a number no one could trade at. A crossed book
(ask below bid) has no midpoint either. Where it exists, the mid is exactly
``(bid + ask) / 2``: half a $0.0001 tick at most, so five decimal places hold it.

* :func:`mid_price`: one quote as ``Decimal`` (ingest, read models);
* :func:`mid_price_ticks`: many quotes as integer ticks (the backtest engine's arrays),
  NaN where there is no mid;
* :func:`mid_price_sql`: the same rule as a SQL expression (rollups, history queries).

All three are tested against each other, so the backtest's signals, the stored candles and
the history API can never disagree about what "the mid" was.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: the ingest's cold start skips it
    import numpy as np
    import numpy.typing as npt

__all__ = ["MID_QUANTUM", "mid_price", "mid_price_sql", "mid_price_ticks"]

MID_QUANTUM = Decimal("0.00001")
"""The mid of two 4-decimal prices is exact at five decimals."""
_ZERO = Decimal(0)
_ONE = Decimal(1)


def mid_price(bid: Decimal | None, ask: Decimal | None) -> Decimal | None:
    """``(bid + ask) / 2`` of a two-sided YES quote, else ``None``.

    Two-sided means ``0 < bid``, ``ask < 1`` and ``bid <= ask`` (in dollars).
    """
    if bid is None or ask is None:
        return None
    if not (bid > _ZERO and ask < _ONE and ask >= bid):
        return None
    return ((bid + ask) / 2).quantize(MID_QUANTUM)


def mid_price_ticks(
    bid: npt.NDArray[np.integer], ask: npt.NDArray[np.integer], scale: int
) -> npt.NDArray[np.float64]:
    """The mid in dollars (float) of integer-tick quotes (``scale`` ticks per dollar; a
    negative tick means no quote on that side), NaN where :func:`mid_price` is ``None``."""
    import numpy as np

    bid64 = np.asarray(bid, dtype=np.int64)
    ask64 = np.asarray(ask, dtype=np.int64)
    two_sided = (bid64 > 0) & (ask64 < scale) & (ask64 >= bid64)
    out = (bid64 + ask64).astype(np.float64) / (2.0 * scale)
    out[~two_sided] = np.nan
    return out


def mid_price_sql(prefix: str = "") -> str:
    """The rule as a SQL expression over ``{prefix}yes_bid_dollars``/``yes_ask_dollars``
    (numeric(11, 5); NULL where there is no mid). ``prefix`` is a table alias with its
    dot, from our own code only."""
    bid, ask = f"{prefix}yes_bid_dollars", f"{prefix}yes_ask_dollars"
    return (
        f"CASE WHEN {bid} > 0 AND {ask} < 1 AND {ask} >= {bid} "
        f"THEN CAST(({bid} + {ask}) / 2 AS numeric(11, 5)) END"
    )
