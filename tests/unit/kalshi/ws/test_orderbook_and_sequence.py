"""Local order book application (exact, levels dropped at zero) and per-sid seq tracking."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.kalshi.ws import OrderBook, OrderBookError
from shared.kalshi.ws.messages import (
    OrderbookDelta,
    OrderbookDeltaPayload,
    OrderbookSnapshot,
    OrderbookSnapshotPayload,
    parse_frame,
)
from shared.kalshi.ws.sequence import Gap, SequenceTracker

RECORDING = (
    Path(__file__).resolve().parents[3]
    / "fixtures"
    / "kalshi_recorded"
    / "ws__orderbook_trade_noleg.jsonl"
)
D = Decimal


def delta(side: str, price: str, change: str, ticker: str = "M") -> OrderbookDeltaPayload:
    return OrderbookDeltaPayload(
        market_ticker=ticker,
        price_dollars=D(price),
        delta_fp=D(change),
        side=side,  # type: ignore[arg-type]
    )


def snapshot(yes: list[tuple[str, str]], no: list[tuple[str, str]]) -> OrderbookSnapshotPayload:
    return OrderbookSnapshotPayload(
        market_ticker="M",
        yes_dollars_fp=tuple((D(p), D(q)) for p, q in yes),
        no_dollars_fp=tuple((D(p), D(q)) for p, q in no),
    )


def test_recorded_session_replays_to_the_expected_book() -> None:
    frames = [parse_frame(line) for line in RECORDING.read_text().splitlines() if line.strip()]
    snap = next(f for f in frames if isinstance(f, OrderbookSnapshot))
    book = OrderBook.from_snapshot(snap.msg)
    assert book.to_rest_orderbook() == {
        "yes_dollars": [["0.4700", "3.00"]],
        "no_dollars": [["0.4800", "2.00"]],
    }
    deltas = [f for f in frames if isinstance(f, OrderbookDelta)]
    book.apply_delta(deltas[0].msg)  # yes 0.47 -3 -> level gone
    assert book.yes_levels() == [] and book.best_yes_bid() is None
    book.apply_delta(deltas[1].msg)  # no 0.48 -2 -> level gone
    assert book.to_rest_orderbook() == {}  # empty sides are absent, as on the wire
    book.apply_delta(deltas[2].msg)
    book.apply_delta(deltas[3].msg)
    assert book.yes_levels() == [(D("0.4700"), D("3.00"))]
    assert book.no_levels() == [(D("0.4800"), D("1.00"))]
    assert book.best_yes_ask() == (D("0.5200"), D("1.00"))
    assert book.valid


def test_levels_sorted_ascending_best_last() -> None:
    book = OrderBook.from_snapshot(snapshot([("0.40", "1"), ("0.45", "2")], [("0.50", "5")]))
    book.apply_delta(delta("yes", "0.42", "7"))
    book.apply_delta(delta("yes", "0.46", "1.5"))
    assert [p for p, _ in book.yes_levels()] == [D("0.40"), D("0.42"), D("0.45"), D("0.46")]
    assert book.best_yes_bid() == (D("0.46"), D("1.5"))
    assert book.best_no_bid() == (D("0.50"), D("5"))
    assert book.best_yes_ask() == (D("0.50"), D("5"))


def test_fractional_deltas_accumulate_exactly_and_drop_at_zero() -> None:
    book = OrderBook.from_snapshot(snapshot([("0.3000", "0.10")], []))
    for _ in range(3):
        book.apply_delta(delta("yes", "0.3000", "0.10"))
    assert book.yes == {D("0.3000"): D("0.40")}
    for _ in range(4):
        book.apply_delta(delta("yes", "0.3000", "-0.10"))
    assert book.yes == {}  # 0.1+0.1+0.1+0.1-0.1*4 is exactly zero with Decimal


def test_subpenny_price_keys_are_distinct_levels() -> None:
    book = OrderBook.from_snapshot(snapshot([], []))
    book.apply_delta(delta("no", "0.0010", "5"))
    book.apply_delta(delta("no", "0.001", "1"))  # same price written differently
    book.apply_delta(delta("no", "0.0015", "2"))
    assert book.no_levels() == [(D("0.0010"), D("6")), (D("0.0015"), D("2"))]


def test_negative_level_invalidates_and_refuses() -> None:
    book = OrderBook.from_snapshot(snapshot([("0.40", "1.00")], []))
    with pytest.raises(OrderBookError, match="negative"):
        book.apply_delta(delta("yes", "0.40", "-2.00"))
    assert not book.valid
    with pytest.raises(OrderBookError, match="no valid snapshot"):
        book.apply_delta(delta("yes", "0.40", "1.00"))
    book.apply_snapshot(snapshot([("0.41", "4")], []))
    assert book.valid and book.yes_levels() == [(D("0.41"), D("4"))]


def test_delta_for_another_market_is_refused() -> None:
    book = OrderBook.from_snapshot(snapshot([], []))
    with pytest.raises(OrderBookError, match="OTHER"):
        book.apply_delta(delta("yes", "0.40", "1", ticker="OTHER"))


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(OrderBookError):
        OrderBook.from_snapshot(snapshot([("NaN", "1")], []))
    book = OrderBook.from_snapshot(snapshot([], []))
    with pytest.raises(OrderBookError):
        book.apply_delta(delta("yes", "0.40", "Infinity"))
    assert not book.valid


def test_yes_price_subscription_derives_asks_and_rest_shape() -> None:
    # use_yes_price=true: the recorded NO bid at 0.48 (no-leg) arrives as 0.52 (yes-leg)
    book = OrderBook.from_snapshot(
        snapshot([("0.47", "3")], [("0.52", "1"), ("0.60", "2")]), use_yes_price=True
    )
    assert book.best_no_bid() == (D("0.48"), D("1"))
    assert book.best_yes_ask() == (D("0.52"), D("1"))
    assert book.to_rest_orderbook()["no_dollars"] == [["0.4000", "2.00"], ["0.4800", "1.00"]]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["yes", "no"]),
            st.integers(min_value=1, max_value=99),
            st.integers(min_value=-500, max_value=500),
        ),
        max_size=60,
    )
)
def test_book_matches_an_integer_hundredths_model(ops: list[tuple[str, int, int]]) -> None:
    """Apply random fractional deltas; the book must equal a model kept in integer
    hundredths, with no zero levels, and refuse exactly the deltas that go negative."""
    book = OrderBook.from_snapshot(snapshot([], []))
    model: dict[tuple[str, int], int] = {}
    for side, cents, hundredths in ops:
        key = (side, cents)
        after = model.get(key, 0) + hundredths
        payload = delta(side, f"{D(cents) / 100:.2f}", str(D(hundredths) / 100))
        if after < 0:
            with pytest.raises(OrderBookError):
                book.apply_delta(payload)
            book.apply_snapshot(
                snapshot(
                    [
                        (f"{D(c) / 100:.2f}", str(D(q) / 100))
                        for (s, c), q in model.items()
                        if s == "yes"
                    ],
                    [
                        (f"{D(c) / 100:.2f}", str(D(q) / 100))
                        for (s, c), q in model.items()
                        if s == "no"
                    ],
                )
            )
            continue
        book.apply_delta(payload)
        if after == 0:
            model.pop(key, None)
        else:
            model[key] = after
    expected_yes = sorted((D(c) / 100, D(q) / 100) for (s, c), q in model.items() if s == "yes")
    expected_no = sorted((D(c) / 100, D(q) / 100) for (s, c), q in model.items() if s == "no")
    assert book.yes_levels() == expected_yes
    assert book.no_levels() == expected_no
    assert all(size > 0 for _, size in book.yes_levels() + book.no_levels())


# ---- seq -----------------------------------------------------------------------------------


def test_consecutive_seq_is_quiet_and_a_skip_is_a_gap() -> None:
    tracker = SequenceTracker()
    tracker.reset(1, 1)
    assert tracker.observe(1, 2) is None
    assert tracker.observe(1, 3) is None
    assert tracker.observe(1, 5) == Gap(sid=1, expected=4, got=5)
    assert tracker.observe(1, 6) is None  # one loss is reported once
    assert tracker.last(1) == 6


def test_duplicates_and_reordering_are_gaps() -> None:
    tracker = SequenceTracker()
    tracker.reset(1, 1)
    assert tracker.observe(1, 2) is None
    assert tracker.observe(1, 2) == Gap(1, 3, 2)
    assert tracker.observe(1, 1) == Gap(1, 3, 1)


def test_seq_is_per_sid() -> None:
    tracker = SequenceTracker()
    tracker.reset(1, 1)
    tracker.reset(2, 1)
    assert tracker.observe(1, 2) is None
    assert tracker.observe(2, 2) is None
    assert tracker.observe(2, 3) is None
    assert tracker.observe(1, 3) is None
    assert tracker.observe(2, 5) == Gap(2, 4, 5)


def test_snapshot_resets_the_counter_to_its_seq() -> None:
    tracker = SequenceTracker()
    tracker.reset(1, 1)
    assert tracker.observe(1, 2) is None
    tracker.reset(1, 40)  # e.g. a get_snapshot reply numbered within the running sequence
    assert tracker.observe(1, 41) is None
    tracker.reset(1, 1)  # or a resubscription that restarts at 1
    assert tracker.observe(1, 2) is None


def test_first_message_without_snapshot_sets_the_baseline() -> None:
    tracker = SequenceTracker()
    assert tracker.observe(9, 17) is None
    assert tracker.observe(9, 18) is None


def test_reply_seq_may_or_may_not_consume_a_number() -> None:
    consuming = SequenceTracker()
    consuming.reset(1, 4)
    consuming.observe_reply(1, 5)
    assert consuming.observe(1, 6) is None
    not_consuming = SequenceTracker()
    not_consuming.reset(1, 4)
    not_consuming.observe_reply(1, 5)
    assert not_consuming.observe(1, 5) is None
    reporting = SequenceTracker()
    reporting.reset(1, 4)
    reporting.observe_reply(1, 4)  # a reply that just reports the current number
    assert reporting.observe(1, 5) is None
    assert reporting.observe(1, 7) == Gap(1, 6, 7)  # the tolerance is used up


def test_forget_drops_the_sid() -> None:
    tracker = SequenceTracker()
    tracker.reset(3, 1)
    tracker.forget(3)
    assert tracker.last(3) is None
    assert tracker.observe(3, 10) is None
