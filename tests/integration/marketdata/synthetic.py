"""Synthetic Kalshi-shaped markets for ingest tests and the market-data benchmark.

Each raw document is a copy of the recorded demo market (tests/fixtures/kalshi_recorded/
markets__single.json) with its ticker and prices changed, so the JSON weighs what Kalshi's
does (~2 KB with rules text).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from shared.marketdata.observation import MarketObservation, snapshot_raw

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi_recorded"
_TEMPLATE: dict[str, object] = json.loads((RECORDED / "markets__single.json").read_text())["market"]
CENT = Decimal("0.01")


def _price(rng: random.Random, low: int = 1, high: int = 99) -> Decimal:
    return Decimal(rng.randint(low, high)) * CENT


def synthetic_market(i: int, rng: random.Random, poll: int = 0) -> MarketObservation:
    """Market number ``i`` at poll number ``poll`` (prices drift with the poll)."""
    ticker = f"KXSYN{i // 10:05d}-26JUN11-M{i:05d}"
    event = f"KXSYN{i // 10:05d}-26JUN11"
    bid = _price(rng, 1, 95)
    ask = bid + _price(rng, 1, 4)
    last = _price(rng, 1, 99)
    volume = Decimal(1000 + i * 3 + poll * 7).quantize(CENT)
    oi = Decimal(500 + i).quantize(CENT)
    raw = dict(_TEMPLATE)
    raw.update(
        ticker=ticker,
        event_ticker=event,
        yes_bid_dollars=f"{bid:.4f}",
        yes_ask_dollars=f"{ask:.4f}",
        no_bid_dollars=f"{1 - ask:.4f}",
        no_ask_dollars=f"{1 - bid:.4f}",
        last_price_dollars=f"{last:.4f}",
        volume_fp=f"{volume:.2f}",
        open_interest_fp=f"{oi:.2f}",
    )
    close = datetime(2026, 7, 1, tzinfo=UTC) + timedelta(hours=i % 500)
    return MarketObservation(
        ticker=ticker,
        event_ticker=event,
        series_ticker=f"KXSYN{i // 100:03d}",
        title=f"Synthetic market {i}",
        event_title=f"Synthetic event {i // 10}",
        yes_sub_title=f"Outcome {i % 10}",
        category="Synthetic",
        status="active",
        open_time=datetime(2026, 6, 1, tzinfo=UTC),
        close_time=close,
        yes_bid_dollars=bid,
        yes_ask_dollars=ask,
        no_bid_dollars=1 - ask,
        no_ask_dollars=1 - bid,
        last_price_dollars=last,
        previous_price_dollars=_price(rng),
        volume_fp=volume,
        volume_24h_fp=Decimal(i % 50).quantize(CENT),
        open_interest_fp=oi,
        raw=snapshot_raw(raw),
    )


def synthetic_poll(n: int, poll: int = 0, seed: int = 7) -> list[MarketObservation]:
    rng = random.Random(seed * 1_000_003 + poll)
    return [synthetic_market(i, rng, poll) for i in range(n)]
