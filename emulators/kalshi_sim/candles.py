"""Candle history: per-market OHLC buckets of quotes, trades, volume and open interest."""

from __future__ import annotations

from collections import deque

from emulators.kalshi_sim.model import MINUTE_US, SECOND_US, Market

__all__ = ["CANDLE_PERIODS", "record_candle"]

CANDLE_PERIODS = {1: 240, 60: 24 * 14, 1440: 120}  # minutes -> buckets kept


def record_candle(market: Market, ts: int, trade_price: int | None = None, volume: int = 0) -> None:
    """Fold the market's quotes (and a trade, if any) at ``ts`` into its candle buckets.

    Buckets are kept on the market itself (a bounded deque per period), so they travel with
    it into a saved world and ``GET .../candlesticks`` reads them without a lookup.
    """
    yes_bid, yes_ask, _, _ = market.quotes()
    for minutes, keep in CANDLE_PERIODS.items():
        period = minutes * MINUTE_US
        end = (ts // period + 1) * period // SECOND_US
        buckets = market.candles.get(minutes)
        if buckets is None:
            buckets = deque(maxlen=keep)
            market.candles[minutes] = buckets
        if not buckets or buckets[-1][0] != end:
            # [end, yb o h l c, ya o h l c, p o h l c sum n, volume, oi]
            buckets.append(
                [
                    end,
                    yes_bid,
                    yes_bid,
                    yes_bid,
                    yes_bid,
                    yes_ask,
                    yes_ask,
                    yes_ask,
                    yes_ask,
                    None,
                    None,
                    None,
                    None,
                    0,
                    0,
                    0,
                    market.open_interest,
                ]
            )
        c = buckets[-1]
        c[2] = max(c[2], yes_bid)
        c[3] = min(c[3], yes_bid)
        c[4] = yes_bid
        c[6] = max(c[6], yes_ask)
        c[7] = min(c[7], yes_ask)
        c[8] = yes_ask
        if trade_price is not None:
            if c[9] is None:
                c[9] = c[10] = c[11] = trade_price
            c[10] = max(c[10], trade_price)
            c[11] = min(c[11], trade_price)
            c[12] = trade_price
            c[13] += trade_price * volume
            c[14] += volume
        c[15] += volume
        c[16] = market.open_interest
