"""The Pub/Sub inputs: market snapshots to quotes and market_update, backtest progress to
its owner only, account events in order, envelopes round-tripping position events."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec
import pytest

from shared.account.events import account_envelope
from shared.kalshi.ws.messages import MarketPositionPayload
from shared.marketdata.snapshot_messages import snapshot_envelopes
from shared.messaging.envelope import Envelope, InvalidMessage, decode, encode
from shared.streaming.events import StreamEvent, decode_position_event, position_event_envelope
from streamer.fanout import FanOut
from streamer.inputs import AccountLifecycle, BacktestRelay, MarketRelay
from streamer.tracker import PositionTracker
from tests.unit.streamer.test_fanout import ALICE, BOB, parse, take


class Forward:
    fanout: FanOut

    def publish(self, event: StreamEvent) -> None:
        self.fanout.publish(event)


def _wired() -> tuple[PositionTracker, FanOut]:
    forward = Forward()
    tracker = PositionTracker(forward, epoch=5)
    forward.fanout = FanOut(tracker)
    return tracker, forward.fanout


def test_a_snapshot_batch_revalues_holders_and_reaches_only_interested_clients() -> None:
    async def scenario() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        tracker, fan = _wired()
        tracker.open(ALICE)
        tracker.on_market_position(
            ALICE,
            msgspec.convert(
                {"market_ticker": "HELD", "position_fp": "2.00", "position_cost_dollars": "0.8"},
                MarketPositionPayload,
                strict=False,
            ),
        )
        alice = await fan.connect(ALICE)
        bob = await fan.connect(BOB, markets=["WANTED"])
        items = [
            {
                "ticker": t,
                "yes_bid_dollars": "0.5500",
                "yes_ask_dollars": "0.5700",
                "last_price_dollars": "0.5600",
                "volume_fp": "1.00",
                "open_interest_fp": "2.00",
            }
            for t in ("HELD", "WANTED", "OTHER")
        ]
        (envelope,) = snapshot_envelopes(3, datetime(2026, 11, 28, tzinfo=UTC), items, 100_000)
        await MarketRelay(fan, tracker).handle(decode(encode(envelope)))
        return parse(await take(fan, alice)), parse(await take(fan, bob))

    alice, bob = asyncio.run(scenario())
    kinds = [e["event"] for e in alice]
    assert "position_update" in kinds and "market_update" in kinds
    update = next(e for e in alice if e["event"] == "position_update")
    assert json.loads(update["data"])["market_value"] == "1.1000"  # 2 x 0.55 YES bid
    markets = [json.loads(e["data"]) for e in alice if e["event"] == "market_update"]
    assert [m["ticker"] for m in markets] == ["HELD"]
    bob_markets = [json.loads(e["data"]) for e in bob if e["event"] == "market_update"]
    assert [m["ticker"] for m in bob_markets] == ["WANTED"]


class Owners:
    def __init__(self, owners: dict[uuid.UUID, uuid.UUID | None]) -> None:
        self.owners = owners
        self.calls = 0

    async def owner_of(self, run_id: uuid.UUID) -> uuid.UUID | None:
        self.calls += 1
        return self.owners.get(run_id)


def test_backtest_progress_goes_to_the_runs_owner_only() -> None:
    run_id, anonymous = uuid.uuid4(), uuid.uuid4()

    async def scenario() -> tuple[bytes, bytes, int]:
        _, fan = _wired()
        alice = await fan.connect(ALICE)
        bob = await fan.connect(BOB)
        owners = Owners({run_id: ALICE, anonymous: None})
        relay = BacktestRelay(fan, owners)
        for progress in (0.1, 0.5):
            await relay.handle(
                Envelope(
                    "backtest.progress",
                    1,
                    payload={"run_id": str(run_id), "status": "running", "progress": progress},
                )
            )
        await relay.handle(Envelope("backtest.progress", 1, payload={"run_id": str(anonymous)}))
        with pytest.raises(InvalidMessage):
            await relay.handle(Envelope("backtest.progress", 1, payload={"run_id": "x"}))
        return await take(fan, alice), await take(fan, bob), owners.calls

    alice, bob, calls = asyncio.run(scenario())
    assert alice.count(b"event: backtest_progress") == 2
    assert b"backtest_progress" not in bob
    assert calls == 2  # one lookup per run, cached


def test_account_events_apply_in_order_and_redeliveries_change_nothing() -> None:
    started: list[uuid.UUID] = []
    stopped: list[uuid.UUID] = []

    async def stop(user_id: uuid.UUID) -> None:
        stopped.append(user_id)

    lifecycle = AccountLifecycle(started.append, stop)
    now = datetime.now(UTC)
    signed_in = account_envelope("connected", ALICE, "demo", "sign_in", now=now)
    signed_out = account_envelope(
        "disconnected", ALICE, "demo", "logout", now=now + timedelta(seconds=1)
    )

    async def scenario() -> None:
        await lifecycle.handle(signed_out)
        await lifecycle.handle(signed_in)  # older than what was applied: ignored
        await lifecycle.handle(signed_out)  # redelivered: ignored

    asyncio.run(scenario())
    assert started == [] and stopped == [ALICE]


def test_position_events_round_trip_through_their_envelope() -> None:
    event = StreamEvent(ALICE, 17, 3, "position_update", {"ticker": "T", "x": "1.50"})
    envelope = decode(encode(position_event_envelope(event)))
    assert envelope.idempotency_key == f"{ALICE}:17:3"
    assert decode_position_event(envelope) == event
    bad = Envelope("position_events.event", 1, payload={**envelope.payload, "event": "nope"})
    with pytest.raises(InvalidMessage):
        decode_position_event(bad)
    assert Decimal(decode_position_event(envelope).data["x"]) == Decimal("1.50")
