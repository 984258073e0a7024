"""Where a stored row came from, and which source wins when two cover the same bucket.

Every row of ``market_snapshots`` and ``market_candles`` carries its ``source``. The
project's own observations (the poller's, the streamer's WebSocket) describe what the
system itself saw and are the ground truth a backtest replays; Kalshi's candlesticks and
candles built from the public trade tape fill the history before the install existed or
the gaps it missed. Where they overlap, the own observations win (ADR 0172).
"""

from __future__ import annotations

__all__ = [
    "KALSHI_CANDLES",
    "OWN_SOURCES",
    "OWN_SOURCES_SQL",
    "POLL",
    "SOURCES",
    "SOURCE_RANK",
    "TRADES",
    "WEBSOCKET",
]

POLL = "poll"
WEBSOCKET = "websocket"
KALSHI_CANDLES = "kalshi_candles"
TRADES = "trades"

SOURCES: tuple[str, ...] = (POLL, WEBSOCKET, KALSHI_CANDLES, TRADES)
OWN_SOURCES: tuple[str, ...] = (POLL, WEBSOCKET)
OWN_SOURCES_SQL = "(" + ", ".join(f"'{s}'" for s in OWN_SOURCES) + ")"
"""``OWN_SOURCES`` as a SQL list literal (constants of ours, never user text)."""

SOURCE_RANK: dict[str, int] = {POLL: 3, WEBSOCKET: 3, KALSHI_CANDLES: 2, TRADES: 1}
"""Higher wins a bucket. Kalshi's candles carry the quotes (so a mid) as well as the
trades; candles rebuilt from the trade tape carry only the last price."""
