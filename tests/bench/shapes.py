"""Fixture shapes the benchmarks share, so every one measures on the same production shape."""

from __future__ import annotations

import json


def recorded_size_raw(ticker: str, updated_time: str) -> str:
    """A ``raw`` of the size the poller stores (~600 bytes: Kalshi's market object as
    recorded from the demo, with its order-book sizes and rules text)."""
    return json.dumps(
        {
            "ticker": ticker,
            "status": "active",
            "yes_bid_dollars": "0.4700",
            "yes_ask_dollars": "0.4900",
            "no_bid_dollars": "0.5100",
            "no_ask_dollars": "0.5300",
            "last_price_dollars": "0.4800",
            "previous_price_dollars": "0.4600",
            "volume_fp": "1234.00",
            "volume_24h_fp": "120.00",
            "open_interest_fp": "800.00",
            "liquidity_dollars": "1520.5000",
            "yes_bid_size_fp": "150.00",
            "yes_ask_size_fp": "75.00",
            "updated_time": updated_time,
            "close_time": "2026-12-31T00:00:00Z",
            "rules_primary": "If the bench market resolves Yes, the market settles to Yes.",
        }
    )
