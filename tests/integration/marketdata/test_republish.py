"""A poll that was written but never announced is announced on redelivery, even when stale.

Real parts: Postgres, the exchange simulator, the Pub/Sub emulator. The first delivery's
publish fails for real (the ``market-snapshots`` topic does not exist yet); the snapshots
are already committed. The redelivery arrives after the trigger's maximum age: it must not
be dropped as stale, because the snapshots it announces exist and nobody has heard of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from devstack.pubsub_admin import ensure_topology
from shared.kalshi.client import KalshiClient
from shared.marketdata.poller import PollMarkets
from shared.marketdata.settings import MarketDataSettings
from shared.marketdata.snapshot_messages import SNAPSHOT_BATCH_TYPE
from shared.messaging.envelope import Envelope
from shared.messaging.pubsub import Publisher
from shared.messaging.topics import MARKET_SNAPSHOTS, subscription_path
from tests.plugins.gcp_emulators import pull_envelopes

pytestmark = pytest.mark.integration


def test_stale_redelivery_of_an_unannounced_poll_is_announced(
    engine: sa.Engine, pubsub_emulator, pubsub_project: str, simulator
) -> None:
    settings = MarketDataSettings(max_event_age_seconds=60)
    kalshi = KalshiClient(base_url=simulator.base_url)
    poller = PollMarkets(engine, kalshi, Publisher(pubsub_project), settings)

    with pytest.raises(Exception):  # noqa: B017 - the publish error is the emulator's own
        poller.run("msg-1", published_at=datetime.now(UTC))
    with engine.connect() as c:
        written = c.execute(
            sa.text("SELECT count(*) FROM market_snapshots WHERE source = 'poll'")
        ).scalar()
        announced = c.execute(
            sa.text("SELECT published_at FROM market_polls WHERE message_id = 'msg-1'")
        ).scalar()
    assert written and written > 0
    assert announced is None

    ensure_topology(
        pubsub_project, pull_subscriptions=[(MARKET_SNAPSHOTS, "tap")], topics=(MARKET_SNAPSHOTS,)
    )
    stale = datetime.now(UTC) - timedelta(minutes=10)
    outcome = poller.run("msg-1", published_at=stale)

    assert outcome.status == "duplicate" and outcome.published_messages >= 1
    envelopes = pull_envelopes(
        subscription_path(pubsub_project, "tap"), expect=outcome.published_messages
    )
    assert {e.type for e in envelopes} == {SNAPSHOT_BATCH_TYPE}
    assert sum(len(e.payload["markets"]) for e in envelopes) == outcome.markets == written
    # Announced once: a further redelivery publishes nothing.
    assert poller.run("msg-1", published_at=stale).published_messages == 0
    # New work that old is still refused.
    assert poller.run("msg-2", published_at=stale).status == "stale"
    kalshi.close()


class RecordingSink:
    """The real publisher, remembering what it was asked to announce (even if that failed)."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.attempts: list[list[Envelope]] = []

    def publish_many(self, topic: str, envelopes: Iterable[Envelope]) -> list[str]:
        batch = list(envelopes)
        self.attempts.append(batch)
        return self.publisher.publish_many(topic, batch)


def _items(envelopes: Iterable[Envelope]) -> dict[str, dict[str, object]]:
    return {m["ticker"]: m for e in envelopes for m in e.payload["markets"]}


def test_redelivery_after_a_later_poll_announces_the_polls_own_snapshots(
    engine: sa.Engine, pubsub_emulator, pubsub_project: str, simulator
) -> None:
    """Poll A is written but not announced, poll B completes, then A is redelivered: A's
    snapshots are announced with the content A's on-time announcement would have had, even
    though ``market_latest`` now carries B's prices and sequence."""
    kalshi = KalshiClient(base_url=simulator.base_url)
    sink = RecordingSink(Publisher(pubsub_project))
    poller = PollMarkets(engine, kalshi, sink, MarketDataSettings())

    with pytest.raises(Exception):  # noqa: B017 - the publish error is the emulator's own
        poller.run("poll-a", published_at=datetime.now(UTC))
    on_time_a = _items(sink.attempts[-1])
    assert on_time_a

    ensure_topology(
        pubsub_project, pull_subscriptions=[(MARKET_SNAPSHOTS, "tap")], topics=(MARKET_SNAPSHOTS,)
    )
    simulator.advance(30)  # B sees other prices than A
    b = poller.run("poll-b", published_at=datetime.now(UTC))
    assert b.status == "written" and b.published_messages >= 1
    tap = subscription_path(pubsub_project, "tap")
    announced_b = pull_envelopes(tap, expect=b.published_messages)
    assert {e.payload["poll"] for e in announced_b} == {b.write.sequence}
    with engine.connect() as c:
        a_sequence = c.execute(
            sa.text("SELECT id FROM market_polls WHERE message_id = 'poll-a'")
        ).scalar_one()
        assert not c.execute(
            sa.text("SELECT count(*) FROM market_latest WHERE sequence = :s"), {"s": a_sequence}
        ).scalar()

    outcome = poller.run("poll-a", published_at=datetime.now(UTC))

    assert outcome.status == "duplicate" and outcome.published_messages >= 1
    announced_a = pull_envelopes(tap, expect=outcome.published_messages)
    assert {e.payload["poll"] for e in announced_a} == {a_sequence}
    assert _items(announced_a) == on_time_a
    assert _items(announced_a) != _items(announced_b)
    with engine.connect() as c:
        assert c.execute(
            sa.text("SELECT published_at FROM market_polls WHERE id = :s"), {"s": a_sequence}
        ).scalar()
    kalshi.close()
