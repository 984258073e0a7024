"""``poll_markets`` end to end on the real Pub/Sub emulator, simulator and Postgres.

The local-stack service (devstack/services/marketdata.py) runs both functions with
functions-framework, creates the ``poll-trigger`` push subscription and fires the local
scheduler once; the test then publishes triggers itself, replays a delivery by hand, and
injects simulator 503s, checking Postgres and the ``market-snapshots`` messages each time.
"""

from __future__ import annotations

import argparse
import base64
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from devstack.pubsub_admin import ensure_topology
from devstack.services.base import StackContext
from devstack.services.marketdata import MarketDataService
from shared.kalshi.client import KalshiClient
from shared.marketdata.snapshot_messages import SNAPSHOT_BATCH_TYPE
from shared.messaging.envelope import encode
from shared.messaging.pubsub import Publisher
from shared.messaging.topics import MARKET_SNAPSHOTS, POLL_TRIGGER, subscription_path
from tests.plugins.gcp_emulators import pull_envelopes

pytestmark = pytest.mark.integration


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def scalar(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as c:
        return c.execute(sa.text(sql), params).scalar()


def poll_of(engine: sa.Engine, message_id: str) -> Any:
    """The poll of the Pub/Sub message ``message_id`` (keyed ``<id>@<publish time>``)."""
    with engine.connect() as c:
        return c.execute(
            sa.text("SELECT * FROM market_polls WHERE message_id LIKE :m"),
            {"m": f"{message_id}@%"},
        ).first()


def trigger_envelope(key: str):
    from devstack.scheduler import tick_envelope

    envelope = tick_envelope(datetime.now(UTC))
    return type(envelope)(
        type=envelope.type,
        version=1,
        idempotency_key=key,
        payload=envelope.payload,
        emitted_at=envelope.emitted_at,
    )


@pytest.fixture
def stack(tmp_path, migrated_url, pubsub_emulator, pubsub_project, simulator):
    from shared.db.roles import create_local_logins

    create_local_logins(migrated_url)  # the functions connect as fn_<deployable>, as in `up`
    ensure_topology(
        pubsub_project,
        pull_subscriptions=[(MARKET_SNAPSHOTS, "test-tap")],
        topics=(MARKET_SNAPSHOTS,),
    )
    ctx = StackContext(
        state_dir=tmp_path,
        options=argparse.Namespace(poll_every="1h"),
        env={
            "DATABASE_URL": migrated_url,
            **pubsub_emulator.env,
            "PUBSUB_PROJECT_ID": pubsub_project,
            "KALSHI_BASE_URL": simulator.base_url,
        },
    )
    service = MarketDataService()
    try:
        service.start(ctx)
        yield service, ctx
    finally:
        simulator.set_faults()
        service.stop()


def test_triggers_poll_publish_dedupe_and_survive_503s(stack, engine, simulator, pubsub_project):
    service, ctx = stack
    assert set(ctx.gateway_routes) >= {"/api/v1/markets", "/api/v1/health"}
    with KalshiClient(base_url=simulator.base_url) as kalshi:
        open_tickers = {m.ticker for m in kalshi.iter_markets(status="open", limit=1000)}
    assert open_tickers

    # 1. The scheduler fired once at start: its trigger went through the push subscription.
    first = wait_for(
        lambda: scalar(engine, "SELECT min(id) FROM market_polls"), 90, "the scheduled poll"
    )
    assert scalar(
        engine, "SELECT count(*) FROM market_snapshots WHERE sequence = :s", s=first
    ) == len(open_tickers)
    tap = subscription_path(pubsub_project, "test-tap")
    batches = wait_for(lambda: pull_envelopes(tap, expect=1, timeout=30), 35, "market-snapshots")
    chunks = batches[0].payload["chunks"]
    if chunks > len(batches):
        batches += pull_envelopes(tap, expect=chunks - len(batches), timeout=30)
    assert {b.type for b in batches} == {SNAPSHOT_BATCH_TYPE}
    published = {m["ticker"]: m for b in batches for m in b.payload["markets"]}
    assert set(published) == open_tickers
    with engine.connect() as c:
        latest = {
            r.ticker: r
            for r in c.execute(
                sa.text("SELECT * FROM market_latest WHERE sequence = :s"), {"s": first}
            )
        }
    for ticker, item in published.items():
        assert item["yes_bid_dollars"] == str(latest[ticker].yes_bid_dollars)
        assert item["last_price_dollars"] == str(latest[ticker].last_price_dollars)

    # 2. A trigger we publish ourselves.
    publisher = Publisher(pubsub_project)
    simulator.advance(20)
    message_id = publisher.publish(POLL_TRIGGER, trigger_envelope("test-tick-2"))
    poll = wait_for(lambda: poll_of(engine, message_id), 60, "the second poll")
    snapshots = scalar(engine, "SELECT count(*) FROM market_snapshots")

    # 3. The same delivery again (Pub/Sub redelivers with the same messageId and publish
    #    time, which the key was made of): no writes.
    publish_time = poll.message_id.split("@", 1)[1]
    push = {
        "message": {
            "data": base64.b64encode(encode(trigger_envelope("test-tick-2"))).decode(),
            "messageId": message_id,
            "publishTime": publish_time,
            "attributes": {},
        },
        "subscription": subscription_path(pubsub_project, "poll-trigger-push"),
    }
    url = f"{service.poller.url}/projects/{pubsub_project}/topics/{POLL_TRIGGER}"
    response = httpx.post(url, json=push, timeout=30)
    assert response.status_code == 200, response.text
    assert wait_for(
        lambda: any(
            '"outcome": "duplicate"' in line and message_id in line
            for line in service.poller.log_text().splitlines()
        ),
        10,
        "the duplicate to be recognised as such",
    )
    assert scalar(engine, "SELECT count(*) FROM market_snapshots") == snapshots
    assert scalar(engine, "SELECT count(*) FROM market_polls") == 2
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM processed_messages WHERE message_id LIKE :m",
            m=f"{message_id}@%",
        )
        == 1
    )
    assert poll_of(engine, message_id).id == poll.id

    # 3b. A trigger that waited too long is acknowledged, not run (the local stack's limit
    #     is two schedule intervals: 2 h here).
    three_hours_ago = datetime.fromtimestamp(time.time() - 3 * 3600, UTC)
    stale_message = dict(
        push["message"],
        messageId="stale-1",
        publishTime=three_hours_ago.isoformat().replace("+00:00", "Z"),
    )
    stale = dict(push, message=stale_message)
    assert httpx.post(url, json=stale, timeout=30).status_code == 200
    assert poll_of(engine, "stale-1") is None
    assert "older than the configured maximum age" in service.poller.log_text()

    # 4. Kalshi answers 503 to everything: the poll raises, Pub/Sub redelivers; once the
    #    exchange recovers the redelivery succeeds, with every market and nothing twice.
    simulator.set_faults(rest_503_rate=1.0)
    failing_id = publisher.publish(POLL_TRIGGER, trigger_envelope("test-tick-3"))
    wait_for(
        lambda: (
            service.poller.log_text().count(failing_id) >= 1
            and "raising for redelivery" in service.poller.log_text()
        ),
        60,
        "a failed delivery",
    )
    assert poll_of(engine, failing_id) is None
    simulator.set_faults()
    recovered = wait_for(lambda: poll_of(engine, failing_id), 60, "the redelivered poll")
    # Every market observed (change-only storage keeps only the changed snapshots, ADR
    # 0170, but every market's latest row is this poll's). The simulator's world follows
    # the clock, so a market may have opened or closed since the start; a closed one is
    # still followed (the poller's follow window), so every market open at the start is
    # among those observed.
    with engine.connect() as c:
        observed = set(
            c.execute(
                sa.text("SELECT ticker FROM market_latest WHERE sequence = :s"),
                {"s": recovered.id},
            ).scalars()
        )
    assert recovered.market_count == len(observed)
    assert open_tickers <= observed
    assert (
        scalar(
            engine,
            "SELECT count(*) FROM processed_messages WHERE message_id LIKE :m",
            m=f"{failing_id}@%",
        )
        == 1
    )
    failures = [
        json.loads(line)
        for line in service.poller.log_text().splitlines()
        if line.startswith("{") and failing_id in line and "redelivery" in line
    ]
    assert failures, "the failed attempts were logged with the message id"

    # 5. The markets function serves what the polls wrote, and the live order book.
    api = service.api.url
    health = httpx.get(f"{api}/api/v1/health", timeout=30).json()
    assert health["status"] == "ok" and health["last_poll"]["poll"] == recovered.id
    ticker = sorted(open_tickers)[0]
    body = httpx.get(f"{api}/api/v1/markets/{ticker}/orderbook", timeout=30).json()
    with KalshiClient(base_url=simulator.base_url) as kalshi:
        book = kalshi.get_orderbook(ticker)
    assert body["orderbook_fp"]["yes_dollars"] == [[str(p), str(c)] for p, c in book.yes_bids]
    assert body["orderbook_fp"]["no_dollars"] == [[str(p), str(c)] for p, c in book.no_bids]
    page = httpx.get(f"{api}/api/v1/markets", params={"limit": 5}, timeout=30).json()
    assert len(page["markets"]) == 5 and page["next_cursor"]
