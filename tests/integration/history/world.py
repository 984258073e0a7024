"""A small deterministic world of markets polled every two minutes, for history tests.

Most markets are quiet most of the time (as on Kalshi, and as the simulator's usual
activity): each poll a market's quote moves with a small probability. One market never
moves (only heartbeats store it), one joins late, and one leaves the poll set early.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from shared.marketdata.ingest import write_poll
from shared.marketdata.observation import MarketObservation
from tests.integration.marketdata.synthetic import synthetic_market

T0 = datetime(2026, 6, 1, 22, 0, tzinfo=UTC)  # crosses midnight: two daily partitions
TICK = Decimal("0.0100")
STEP = timedelta(minutes=2)


def world(
    markets: int = 24, polls: int = 180, seed: int = 7
) -> Iterator[tuple[datetime, list[MarketObservation]]]:
    """``(polled_at, observations)`` for each poll, in poll order."""
    rng = random.Random(seed)
    base = [synthetic_market(i, random.Random(i)) for i in range(markets)]
    bids = [Decimal(20 + (i * 7) % 60) * TICK for i in range(markets)]
    volumes = [Decimal(100 + i) for i in range(markets)]
    for p in range(polls):
        observations = []
        for i, market in enumerate(base):
            if i == 1 and p < 20:  # joins late
                continue
            if i == 2 and p >= 60:  # leaves the poll set
                continue
            if i != 0 and rng.random() < 0.15:  # market 0 never moves
                step = rng.choice((-2, -1, 1, 2))
                bids[i] = min(max(bids[i] + step * TICK, TICK), Decimal("0.9000"))
                volumes[i] += rng.randint(1, 20)
            bid = bids[i]
            ask = bid + 2 * TICK
            raw = json.dumps(
                {"ticker": market.ticker, "yes_bid": str(bid), "volume": str(volumes[i])}
            ).encode()
            observations.append(
                replace(
                    market,
                    yes_bid_dollars=bid,
                    yes_ask_dollars=ask,
                    no_bid_dollars=1 - ask,
                    no_ask_dollars=1 - bid,
                    last_price_dollars=bid + TICK,
                    volume_fp=volumes[i].quantize(Decimal("0.01")),
                    raw=raw,
                )
            )
        yield T0 + p * STEP, observations


def ingest_world(engine: sa.Engine, *, heartbeat_seconds: float, **kwargs: int) -> int:
    """Write every poll of :func:`world`; returns the snapshot rows stored."""
    stored = 0
    for n, (polled_at, observations) in enumerate(world(**kwargs)):
        with engine.begin() as c:
            written = write_poll(
                c,
                message_id=f"w-{n}",
                polled_at=polled_at,
                observations=observations,
                heartbeat_seconds=heartbeat_seconds,
            )
            assert written is not None
            stored += written.snapshots
    return stored
