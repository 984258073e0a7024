"""A small hand-made market universe whose every expected answer is computed by hand.

Used by the ingest and API tests. Times are fixed (June 2026); prices are exact.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import sqlalchemy as sa

from shared.marketdata.ingest import write_poll
from shared.marketdata.observation import MarketObservation

T0 = datetime(2026, 6, 11, 10, 0, tzinfo=UTC)


def market(
    ticker: str,
    event: str,
    series: str,
    title: str,
    *,
    close: datetime | None,
    volume: str,
    last: str,
    previous: str,
    status: str = "active",
    result: str | None = None,
    settlement: str | None = None,
    bid: str = "0.4000",
    ask: str = "0.4400",
) -> MarketObservation:
    return MarketObservation(
        ticker=ticker,
        event_ticker=event,
        series_ticker=series,
        title=title,
        event_title=f"Event {event}",
        status=status,
        open_time=datetime(2026, 6, 1, tzinfo=UTC),
        close_time=close,
        result=result,
        settlement_value_dollars=D(settlement) if settlement else None,
        yes_bid_dollars=D(bid),
        yes_ask_dollars=D(ask),
        no_bid_dollars=1 - D(ask),
        no_ask_dollars=1 - D(bid),
        last_price_dollars=D(last),
        previous_price_dollars=D(previous),
        volume_fp=D(volume),
        volume_24h_fp=D("1.00"),
        open_interest_fp=D("10.00"),
        raw=b'{"status":"' + status.encode() + b'"}',
    )


def universe() -> list[MarketObservation]:
    """Five named markets plus 250 fillers (series KXF) for pagination."""
    named = [
        market(
            "KXA-26-T1",
            "KXA-26",
            "KXA",
            "Alpha rises",
            close=datetime(2026, 7, 1, tzinfo=UTC),
            volume="500.00",
            last="0.4000",
            previous="0.3000",
        ),
        market(
            "KXA-26-T2",
            "KXA-26",
            "KXA",
            "Alpha falls",
            close=datetime(2026, 7, 2, tzinfo=UTC),
            volume="300.00",
            last="0.5500",
            previous="0.6000",
        ),
        market(
            "KXB-26-X",
            "KXB-26",
            "KXB",
            "Beta match",
            close=datetime(2026, 6, 20, tzinfo=UTC),
            volume="300.00",
            last="0.0000",
            previous="0.0000",
        ),
        market(
            "KXC-26-Y",
            "KXC-26",
            "KXC",
            "Gamma settled",
            close=datetime(2026, 6, 1, tzinfo=UTC),
            volume="1000.00",
            last="0.9900",
            previous="0.9000",
            status="finalized",
            result="yes",
            settlement="1.0000",
        ),
        market(
            "KXC-26-Z",
            "KXC-26",
            "KXC",
            "Gamma other",
            close=None,
            volume="0.00",
            last="0.1000",
            previous="0.2000",
            status="closed",
        ),
    ]
    fillers = [
        market(
            f"KXF-26-M{i:03d}",
            f"KXF-26-E{i // 10}",
            "KXF",
            f"Filler {i}",
            close=datetime(2026, 8, 1, tzinfo=UTC) + timedelta(hours=i % 7),
            volume=f"{(i * 37) % 50}.00",
            last="0.5000",
            previous="0.5000",
        )
        for i in range(250)
    ]
    return named + fillers


# (minutes after T0, yes bid, yes ask, last, cumulative volume) for KXA-26-T1's history.
HISTORY = [
    (0, "0.4000", "0.4400", "0.4100", "100.00"),
    (20, "0.4600", "0.4800", "0.4700", "110.00"),
    (40, "0.3000", "0.3400", "0.3300", "150.00"),
    (65, "0.5000", "0.5000", "0.5000", "160.00"),
    (115, "0.0000", "1.0000", "0.5200", "175.00"),
    (190, "0.6000", "0.6400", "0.6100", "200.00"),
]


def seed(engine: sa.Engine) -> None:
    """The universe at T0 - 1 day, then KXA-26-T1's history polls, then the universe again."""
    everything = universe()
    # A day earlier KXA-26-T1 had traded 90 contracts: the volume baseline of its history.
    first = [replace(everything[0], volume_fp=D("90.00")), *everything[1:]]
    with engine.begin() as c:
        write_poll(c, message_id="seed-0", polled_at=T0 - timedelta(days=1), observations=first)
    base = everything[0]
    for i, (minutes, bid, ask, last, volume) in enumerate(HISTORY):
        observation = replace(
            base,
            yes_bid_dollars=D(bid),
            yes_ask_dollars=D(ask),
            no_bid_dollars=1 - D(ask),
            no_ask_dollars=1 - D(bid),
            last_price_dollars=D(last),
            volume_fp=D(volume),
        )
        with engine.begin() as c:
            write_poll(
                c,
                message_id=f"history-{i}",
                polled_at=T0 + timedelta(minutes=minutes),
                observations=[observation],
            )
    # The final state of every named market (KXA-26-T1 as in the universe: last 0.40).
    with engine.begin() as c:
        write_poll(
            c,
            message_id="seed-final",
            polled_at=T0 + timedelta(hours=5),
            observations=everything,
        )
