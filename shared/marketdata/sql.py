"""SQL fragments the market-data write side (the ingest) and read side (the queries) share.

The candles the ingest stores and the candles the history queries compute on the fly
from snapshots must mean the same numbers: the same mid rule, the same "last traded",
the same open/close picking and the same bucket boundaries. So both build their SQL from
the fragments here. They live in a module of their own so the read side (queries, the
markets API) never imports the write side (ingest, poller): a cold start of the markets
function loads none of the poll's code, and a change to the write path cannot reach the
read path by an import.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.domain.prices import mid_price_sql

__all__ = [
    "LAST_SQL",
    "MID_SQL",
    "POLL_SOURCE",
    "bucket_sql",
    "bucket_start",
    "first_sql",
]

POLL_SOURCE = "poll"
"""``market_snapshots.source`` of the rows the poll writes (the ones candles fold)."""

# The system's one mid-price rule (shared.domain.prices), as a template over the column
# prefix ``{p}``. Shared by the ingest, the rebuild and the history queries, so the stored
# candles, the history API and the backtests all mean the same number by "the mid".
MID_SQL = mid_price_sql("{p}")
# 0.0000 means "never traded".
LAST_SQL = "NULLIF({p}last_price_dollars, 0)"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_sql(ts: str, seconds: str) -> str:
    """SQL for the start of the ``seconds``-wide epoch-aligned bucket holding ``ts``."""
    return f"to_timestamp(floor(extract(epoch FROM {ts}) / {seconds}) * {seconds})"


def bucket_start(moment: datetime, seconds: int) -> datetime:
    """What :func:`bucket_sql` computes, exactly (integer microseconds, no float)."""
    if moment.tzinfo is None:
        raise ValueError("bucket_start needs a timezone-aware datetime")
    buckets = (moment - _EPOCH) // timedelta(seconds=seconds)
    return _EPOCH + timedelta(seconds=buckets * seconds)


def first_sql(expr: str, descending: bool = False, time_column: str = "ts") -> str:
    """SQL aggregate: ``expr``'s first (or last) non-NULL value in ``time_column`` order.

    How a candle's open and close are picked; the rebuild and the history queries share it
    so both fold exactly the same numbers.
    """
    order = f"{time_column} DESC" if descending else time_column
    return f"(array_agg({expr} ORDER BY {order}) FILTER (WHERE {expr} IS NOT NULL))[1]"
