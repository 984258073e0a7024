"""The position tracker: exact state, P&L from shared.domain.pnl, sequences, reconciliation,
and the cache writer's batching and retries."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from decimal import Decimal

import msgspec

from shared.account.reads import money
from shared.domain.pnl import Holding, Quote, value_position
from shared.kalshi.ws.messages import FillPayload, MarketPositionPayload, TickerPayload
from shared.streaming.events import StreamEvent
from streamer.cache import PositionCacheWriter
from streamer.tracker import MarketState, PositionTracker

ALICE = uuid.UUID("00000000-0000-0000-0000-00000000000a")
BOB = uuid.UUID("00000000-0000-0000-0000-00000000000b")
D = Decimal


class Sink:
    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    def publish(self, event: StreamEvent) -> None:
        self.events.append(event)

    def of(self, user: uuid.UUID, kind: str | None = None) -> list[StreamEvent]:
        return [e for e in self.events if e.user_id == user and kind in (None, e.type)]


def position_msg(ticker: str, position: str, cost: str, realized: str = "0", fees: str = "0"):
    return msgspec.convert(
        {
            "market_ticker": ticker,
            "position_fp": position,
            "position_cost_dollars": cost,
            "realized_pnl_dollars": realized,
            "fees_paid_dollars": fees,
        },
        MarketPositionPayload,
        strict=False,
    )


def ticker_msg(ticker: str, bid: str, ask: str, last: str = "0.5000") -> TickerPayload:
    return msgspec.convert(
        {
            "market_ticker": ticker,
            "yes_bid_dollars": bid,
            "yes_ask_dollars": ask,
            "price_dollars": last,
        },
        TickerPayload,
        strict=False,
    )


def fill_msg(ticker: str, count: str, book_side: str, post: str) -> FillPayload:
    return msgspec.convert(
        {
            "trade_id": "t1",
            "order_id": "o1",
            "market_ticker": ticker,
            "yes_price_dollars": "0.4000",
            "count_fp": count,
            "book_side": book_side,
            "post_position_fp": post,
        },
        FillPayload,
        strict=False,
    )


def opened(*users: uuid.UUID) -> tuple[PositionTracker, Sink]:
    sink = Sink()
    tracker = PositionTracker(sink, epoch=7)
    for user in users:
        tracker.open(user)
    return tracker, sink


def test_every_account_sequence_opens_with_a_snapshot_and_counts_from_one() -> None:
    tracker, sink = opened(ALICE, BOB)
    tracker.on_market_position(ALICE, position_msg("T1", "10.00", "4.000000"))
    assert [(e.seq, e.type) for e in sink.of(ALICE)] == [
        (1, "snapshot"),
        (2, "position_update"),
        (3, "portfolio_update"),
    ]
    assert [e.seq for e in sink.of(BOB)] == [1]
    assert all(e.epoch == 7 for e in sink.events)


def test_a_ticker_revalues_holders_with_the_shared_pnl_definitions() -> None:
    tracker, sink = opened(ALICE, BOB)
    tracker.on_market_position(ALICE, position_msg("T1", "-10.00", "6.000000", "1.5", "0.12"))
    tracker.set_cash(ALICE, D("100.00"))
    before = len(sink.of(BOB))
    tracker.on_ticker(ticker_msg("T1", "0.3800", "0.4100"))
    update = sink.of(ALICE, "position_update")[-1].data
    expected = value_position(
        Holding("T1", D("-10.00"), D("6.000000"), D("1.5"), D("0.12")),
        Quote(D("0.3800"), D("0.4100"), D("0.5000")),
    )
    # A NO holder is marked at the NO bid, 1 - YES ask = 0.59: 10 x 0.59 - 6 = -0.1
    assert expected.unrealized_pnl == D("-0.1")
    assert update["side"] == "no" and update["mark"] == "0.5900"
    assert update["unrealized_pnl"] == money(expected.unrealized_pnl) == "-0.1000"
    assert update["market_value"] == "5.9000" and update["status"] == "open"
    portfolio = sink.of(ALICE, "portfolio_update")[-1].data
    assert portfolio["total_value"] == "105.9000" and portfolio["position_count"] == 1
    assert len(sink.of(BOB)) == before  # Bob holds nothing there
    tracker.on_ticker(ticker_msg("T1", "0.3800", "0.4100"))  # unchanged quote: no events
    assert sink.of(ALICE, "position_update")[-1].data is update


def test_a_fill_disagreeing_with_post_position_is_reported_with_its_size() -> None:
    tracker, sink = opened(ALICE)
    tracker.on_market_position(ALICE, position_msg("T1", "5.00", "2.000000"))
    assert tracker.on_fill(ALICE, fill_msg("T1", "3.00", "bid", "8.00")) is None
    tracker.on_market_position(ALICE, position_msg("T1", "8.00", "3.200000"))
    assert tracker.on_fill(ALICE, fill_msg("T1", "3.00", "bid", "8.00")) is None  # after
    # a lost fill of 4: Kalshi says 15 after a 3-lot, the tracker expected 11
    assert tracker.on_fill(ALICE, fill_msg("T1", "3.00", "bid", "15.00")) == D("4.00")
    assert [e.type for e in sink.of(ALICE, "fill")] == ["fill"] * 3


def test_reconcile_overwrites_with_kalshi_and_names_each_difference() -> None:
    tracker, sink = opened(ALICE)
    tracker.on_market_position(ALICE, position_msg("KEEP", "1.00", "0.500000"))
    tracker.on_market_position(ALICE, position_msg("WRONG", "2.00", "1.000000"))
    tracker.on_market_position(ALICE, position_msg("GONE", "3.00", "1.500000"))
    diffs = tracker.reconcile(
        ALICE,
        [
            MarketState("KEEP", D("1.00"), D("0.500000")),
            MarketState("WRONG", D("5.00"), D("2.500000")),
            MarketState("NEW", D("-1.00"), D("0.300000")),
        ],
        D("50"),
    )
    assert {(d.ticker, d.size) for d in diffs} == {
        ("WRONG", D("3.00")),
        ("NEW", D("1.00")),
        ("GONE", D("3.00")),
    }
    assert set(tracker.positions(ALICE)) == {"KEEP", "WRONG", "NEW"}
    assert tracker.held_tickers(ALICE) == {"KEEP", "WRONG", "NEW"}
    assert sink.of(ALICE)[-1].type == "portfolio_update"
    assert {"ticker": "GONE"} in [e.data for e in sink.of(ALICE, "position_removed")]
    assert tracker.reconcile(ALICE, list(tracker.positions(ALICE).values()), D("50")) == []


def test_restored_state_is_announced_by_the_opening_snapshot() -> None:
    sink = Sink()
    tracker = PositionTracker(sink, epoch=9)
    tracker.restore(ALICE, [MarketState("T1", D("4.00"), D("2.000000"))])
    assert sink.events == []
    snapshot = asyncio.run(tracker.snapshot(ALICE))
    assert snapshot is not None and snapshot.seq == 1 and snapshot.type == "snapshot"
    assert [p["ticker"] for p in snapshot.data["positions"]] == ["T1"]
    assert tracker.held_tickers(ALICE) == {"T1"}


class FlakyStore:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.rows: dict[uuid.UUID, list[MarketState]] = {}
        self.calls = 0

    def load_all(self) -> dict[uuid.UUID, list[MarketState]]:
        return self.rows

    def write(self, user_id: uuid.UUID, states: Sequence[MarketState]) -> None:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database down")
        self.rows[user_id] = list(states)


def test_cache_writes_are_batched_per_account_and_a_failed_write_is_retried() -> None:
    tracker, _ = opened(ALICE)
    store = FlakyStore(failures=1)
    writer = PositionCacheWriter(tracker, store)
    for n in range(1, 20):
        tracker.on_market_position(ALICE, position_msg("T1", f"{n}.00", "1.000000"))
    assert asyncio.run(writer.write_round()) == 1  # failed: kept, marked dirty again
    assert store.rows == {} and tracker.positions(ALICE)["T1"].position_fp == D("19.00")
    assert asyncio.run(writer.write_round()) == 0
    assert store.calls == 2  # nineteen changes, one write per round
    assert store.rows[ALICE][0].position_fp == D("19.00")
    assert asyncio.run(writer.write_round()) == 0 and store.calls == 2  # nothing dirty


def test_a_streamed_fill_is_named_as_the_rest_list_names_it() -> None:
    """Kalshi's WS ``fill`` carries ``trade_id`` (asyncapi: the fills' unique identifier);
    every recorded REST fill has ``fill_id == trade_id``: the stream's ``fill_id`` is it."""
    import json
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[2] / "fixtures"
    recorded = json.loads((root / "kalshi_recorded" / "fills__after_taker.json").read_text())
    assert recorded["fills"] and all(f["fill_id"] == f["trade_id"] for f in recorded["fills"])
    spec = yaml.safe_load((root / "kalshi_spec" / "asyncapi.yaml").read_text())
    example = spec["components"]["messages"]["fill"]["examples"][0]["payload"]["msg"]
    assert "trade_id" in example and "fill_id" not in example
    sink = Sink()
    tracker = PositionTracker(sink)
    tracker.on_fill(ALICE, msgspec.convert(example, FillPayload, strict=False))
    (fill,) = sink.of(ALICE, "fill")
    assert fill.data["fill_id"] == example["trade_id"]
    assert fill.data["created_at"] is None or fill.data["created_at"].endswith("Z")


def test_todays_pnl_follows_the_account_apis_definition() -> None:
    from shared.domain.pnl import BaselinePoint, today_pnl

    sink = Sink()
    tracker = PositionTracker(sink)
    tracker.open(ALICE)
    tracker.reconcile(ALICE, [MarketState("M", D("10"), D("4.20"))], D("100.00"))
    assert tracker.positions(ALICE)
    portfolio = sink.of(ALICE, "portfolio_update")[-1].data
    assert portfolio["today_pnl"] is None and portfolio["baseline_value"] is None
    baseline = BaselinePoint(value=D("90.00"), net_transfers=D("5.00"))
    tracker.set_day(ALICE, baseline, D("25.00"))  # 20.00 deposited since the baseline
    portfolio = sink.of(ALICE, "portfolio_update")[-1].data
    pnl, pct = today_pnl(D(portfolio["total_value"]), baseline, D("25.00"))
    assert portfolio["today_pnl"] == money(pnl)
    assert portfolio["today_pnl_pct"] == (None if pct is None else str(pct))
    assert portfolio["net_transfers_since_baseline"] == money(D("20.00"))
    assert portfolio["baseline_value"] == money(D("90.00"))
    count = len(sink.events)
    tracker.set_day(ALICE, baseline, D("25.00"))  # unchanged: no event
    assert len(sink.events) == count
