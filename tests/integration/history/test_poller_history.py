"""The poller with change-only storage (ADR 0170, 0175), against the simulator: a
redelivered, unannounced poll that stored nothing still announces every market it saw,
and the first poll of a day runs the maintenance round (partitions ahead)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.history.partitions import partition_days
from shared.kalshi.client import KalshiClient
from shared.marketdata.poller import PollMarkets
from shared.marketdata.settings import MarketDataSettings
from shared.messaging.envelope import Envelope

pytestmark = pytest.mark.integration


class Announcements:
    """Stands in for Pub/Sub (outside the poller): keeps every batch, fails when told."""

    def __init__(self) -> None:
        self.batches: list[list[Envelope]] = []
        self.fail = False

    def publish_many(self, topic: str, envelopes: Iterable[Envelope]) -> list[str]:
        batch = list(envelopes)
        self.batches.append(batch)
        if self.fail:
            raise ConnectionError("publish failed")
        return [str(i) for i in range(len(batch))]


def _markets(batch: list[Envelope]) -> dict[str, dict[str, object]]:
    return {m["ticker"]: m for e in batch for m in e.payload["markets"]}


def test_a_redelivered_poll_that_stored_nothing_announces_every_market(
    engine: sa.Engine, simulator, tmp_path: Path
) -> None:
    sink = Announcements()
    settings = MarketDataSettings(archive_url=str(tmp_path / "archive"))
    with KalshiClient(base_url=simulator.base_url) as kalshi:
        poller = PollMarkets(engine, kalshi, sink, settings)
        first = poller.run("held-0", published_at=datetime.now(UTC))
        assert first.status == "written" and first.write is not None
        on_time = _markets(sink.batches[-1])

        sink.fail = True  # the next poll is written, its announcement fails
        with pytest.raises(ConnectionError):
            poller.run("held-1", published_at=datetime.now(UTC))
        with engine.connect() as c:
            stored = c.execute(
                sa.text(
                    "SELECT count(*) FROM market_snapshots s JOIN market_polls p "
                    "ON p.id = s.sequence WHERE p.message_id = 'held-1'"
                )
            ).scalar_one()
        assert stored == 0  # the exchange did not move: nothing changed, nothing stored

        sink.fail = False
        again = poller.run("held-1", published_at=datetime.now(UTC))
    assert again.status == "duplicate" and again.published_messages >= 1
    republished = _markets(sink.batches[-1])
    assert set(republished) == set(on_time)  # every market the poll observed
    for ticker, item in republished.items():
        assert item["yes_bid_dollars"] == on_time[ticker]["yes_bid_dollars"]

    # The first poll ran the day's maintenance: today's partition and six days ahead.
    today = datetime.now(UTC).date()
    with engine.connect() as c:
        days = set(partition_days(c))
    assert {today + timedelta(days=i) for i in range(7)} <= days
