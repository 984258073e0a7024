"""Kalshi's WebSocket stack: one client, its typed frames, ``seq`` checks and local books.

The package surface is what a consumer needs to hold a session: the client, the reconnect
waits, the errors it raises and the book it keeps. The frame types live in
:mod:`shared.kalshi.ws.messages` and are imported from there, so this surface stays small.

- :mod:`~shared.kalshi.ws.client`: the connection, commands, reader task and iteration;
- :mod:`~shared.kalshi.ws.messages`: one typed struct per frame, parsed exactly and fast;
- :mod:`~shared.kalshi.ws.sequence`: per-subscription ``seq`` bookkeeping;
- :mod:`~shared.kalshi.ws.book`: a local copy of one market's order book;
- :mod:`~shared.kalshi.ws.errors`: everything the stack raises.
"""

from __future__ import annotations

from shared.kalshi.ws.book import OrderBook
from shared.kalshi.ws.client import KalshiWebSocket, Subscription, UpdateAction, backoff_delays
from shared.kalshi.ws.errors import (
    KalshiWSCommandError,
    KalshiWSConnectionClosed,
    KalshiWSError,
    KalshiWSHandshakeError,
    KalshiWSTimeout,
    OrderBookError,
)

__all__ = [
    "KalshiWSCommandError",
    "KalshiWSConnectionClosed",
    "KalshiWSError",
    "KalshiWSHandshakeError",
    "KalshiWSTimeout",
    "KalshiWebSocket",
    "OrderBook",
    "OrderBookError",
    "Subscription",
    "UpdateAction",
    "backoff_delays",
]
