"""The P&L definitions of shared.domain.pnl, case by case (docs/pnl.md has the worked
examples; test_pnl_doc.py checks those)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Literal

import pytest

from shared.domain import pnl

T0 = datetime(2026, 6, 11, 13, 0, tzinfo=UTC)


def _fill(
    side: Literal["bid", "ask"],
    count: str,
    price: str,
    fee: str = "0",
    minute: int = 0,
    ticker: str = "A",
) -> pnl.FillRecord:
    return pnl.FillRecord(
        ticker,
        T0 + timedelta(minutes=minute),
        side,
        D(count),
        D(price),
        D(fee),
    )


# --------------------------------------------------------------------------- one position


@pytest.mark.parametrize(
    ("position", "side"), [(D("3.00"), "yes"), (D("-0.01"), "no"), (D("0.00"), None)]
)
def test_side_follows_the_sign(position: D, side: str | None) -> None:
    assert pnl.side_of(position) == side


def test_yes_position_valued_at_the_yes_bid() -> None:
    v = pnl.value_position(
        pnl.Holding("A", D("10.00"), D("4.000000"), D("0.25"), D("0.17")),
        pnl.Quote(D("0.4500"), D("0.4700"), D("0.4600")),
    )
    assert (v.side, v.contracts, v.mark, v.mark_source) == ("yes", D(10), D("0.45"), "bid")
    assert v.market_value == D("4.5") and v.unrealized_pnl == D("0.5")
    assert v.unrealized_pnl_pct == D("12.50")
    assert v.average_entry_price == D("0.4000")
    assert (v.realized_pnl, v.fees_paid) == (D("0.25"), D("0.17"))
    assert (v.best_bid, v.best_ask) == (D("0.45"), D("0.47"))


def test_no_position_valued_at_one_minus_the_yes_ask() -> None:
    v = pnl.value_position(
        pnl.Holding("A", D("-2.50"), D("1.500000")), pnl.Quote(D("0.3800"), D("0.4100"))
    )
    assert v.side == "no" and v.contracts == D("2.50")
    assert v.mark == D("0.59") and v.mark_source == "bid"
    assert v.best_bid == D("0.59") and v.best_ask == D("0.62")
    assert v.market_value == D("1.475")  # exact: 2.50 x 0.59
    assert v.unrealized_pnl == D("-0.025")
    assert v.average_entry_price == D("0.6000")


def test_no_position_on_a_determined_market_is_marked_at_one_minus_the_value() -> None:
    no = pnl.value_position(
        pnl.Holding("A", D("-4"), D("2.4")), pnl.Quote(None, None, D("0.97"), D("0"))
    )
    assert (no.mark, no.mark_source, no.market_value) == (D(1), "settlement", D(4))
    scalar = pnl.value_position(
        pnl.Holding("A", D("2"), D("1")), pnl.Quote(D(0), D(1), None, D("0.3000"))
    )
    assert scalar.mark == D("0.3") and scalar.market_value == D("0.6")


def test_no_bid_falls_back_to_the_last_price_for_either_side() -> None:
    quote = pnl.Quote(D("0"), D("1.0000"), D("0.2000"))
    yes = pnl.value_position(pnl.Holding("A", D("1"), D("0.1")), quote)
    no = pnl.value_position(pnl.Holding("A", D("-1"), D("0.5")), quote)
    assert (yes.mark, yes.mark_source, yes.best_bid) == (D("0.2"), "last_price", None)
    assert (no.mark, no.mark_source, no.best_bid) == (D("0.8"), "last_price", None)


def test_unknown_market_is_marked_at_zero_and_flagged() -> None:
    v = pnl.value_position(pnl.Holding("A", D("1"), D("0.40")), None)
    assert (v.mark, v.mark_source, v.market_value) == (D(0), "no_price", D(0))
    assert v.unrealized_pnl == D("-0.40") and v.unrealized_pnl_pct == D("-100.00")


def test_flat_position_keeps_realized_pnl_and_has_no_mark() -> None:
    v = pnl.value_position(
        pnl.Holding("A", D("0.00"), D("0"), D("-1.230000"), D("0.2")), pnl.Quote(D("0.5"), D("0.6"))
    )
    assert v.side is None and not v.is_open
    assert v.mark is None and v.mark_source is None and v.average_entry_price is None
    assert v.market_value == 0 and v.unrealized_pnl == 0 and v.unrealized_pnl_pct is None
    assert v.realized_pnl == D("-1.23") and v.fees_paid == D("0.2")


def test_percent_needs_a_positive_base() -> None:
    assert pnl.percent(D(1), D(0)) is None
    assert pnl.percent(D(1), D(-5)) is None
    assert pnl.percent(D(1), D(3)) == D("33.33")
    assert pnl.percent(D(2), D(3)) == D("66.67")


# --------------------------------------------------------------------------- portfolio


def test_portfolio_sums_positions_and_counts_only_open_ones() -> None:
    quote = pnl.Quote(D("0.5"), D("0.6"))
    valued = [
        pnl.value_position(pnl.Holding("A", D("2"), D("0.8"), D("0.1"), D("0.02")), quote),
        pnl.value_position(pnl.Holding("B", D("-1"), D("0.3"), D("0"), D("0.01")), quote),
        pnl.value_position(pnl.Holding("C", D("0"), D("0"), D("-0.5"), D("0.03")), quote),
    ]
    s = pnl.summarize_portfolio(D("98.0186"), valued)
    assert s.positions_value == D("1.4")  # 2 x 0.5 + 1 x 0.4
    assert s.total_value == D("99.4186")
    assert s.unrealized_pnl == D("0.3")  # (1.0 - 0.8) + (0.4 - 0.3)
    assert s.realized_pnl == D("-0.4") and s.fees_paid == D("0.06")
    assert s.position_count == 2
    assert s.today_pnl is None and s.today_pnl_pct is None and s.baseline_value is None


def test_today_pnl_discounts_withdrawals_too() -> None:
    baseline = pnl.BaselinePoint(value=D("500"), net_transfers=D("500"))
    dollars, pct = pnl.today_pnl(D("400"), baseline, D("350"))  # withdrew 150 today
    assert dollars == D("50") and pct == D("14.29")  # 50 / 350


def test_today_pnl_pct_is_none_when_everything_was_withdrawn() -> None:
    dollars, pct = pnl.today_pnl(D("0"), pnl.BaselinePoint(D("100"), D("0")), D("-100"))
    assert dollars == 0 and pct is None


def test_only_applied_transfers_count() -> None:
    transfers = [
        pnl.Transfer("deposit", status, D("10"), D("1"))
        for status in ("pending", "applied", "failed", "returned")
    ]
    assert pnl.net_transfers(transfers) == D("9")
    assert pnl.net_transfers([pnl.Transfer("withdrawal", "applied", D("10"), D("1"))]) == D("-11")


# --------------------------------------------------------------------------- replay


def test_no_position_partial_close_and_realized() -> None:
    # Buy 10 NO at 1 - 0.35 = 0.65 (ask side), sell 4 NO back when YES is 0.25 (NO 0.75).
    replay = pnl.replay_fills([_fill("ask", "10", "0.35"), _fill("bid", "4", "0.25", minute=1)])
    assert replay.positions["A"] == (D("-6"), D("3.9"))
    assert replay.realized_by_ticker["A"] == D("0.4")  # 4 x 0.75 - 4 x 0.65
    assert replay.trades == ()
    assert replay.opened_at["A"] == T0


def test_flip_from_no_to_yes() -> None:
    replay = pnl.replay_fills(
        [_fill("ask", "2", "0.30", "0.02"), _fill("bid", "5", "0.40", "0.05", minute=1)]
    )
    # Close 2 NO (cost 2 x 0.70 = 1.40) at 1 - 0.40 = 0.60: -0.20; open 3 YES at 0.40.
    assert replay.positions["A"] == (D("3"), D("1.2"))
    assert replay.realized_by_ticker["A"] == D("-0.2")
    (trade,) = replay.trades
    assert trade.how == "closed" and trade.realized_pnl == D("-0.2")
    assert trade.fees == D("0.04")  # 0.02 + 0.05 x 2/5
    assert replay.opened_at["A"] == T0 + timedelta(minutes=1)


def test_exact_flip_to_flat_closes_without_opening() -> None:
    replay = pnl.replay_fills([_fill("bid", "3", "0.5"), _fill("ask", "3", "0.6", minute=1)])
    assert "A" not in replay.positions and len(replay.trades) == 1


def test_settlement_of_a_no_position() -> None:
    settlement = pnl.SettlementRecord(
        "A", T0 + timedelta(hours=1), D("4.00"), no_count=D("4"), no_cost=D("2.6")
    )
    replay = pnl.replay_fills([_fill("ask", "4", "0.35", "0.06")], [settlement])
    assert replay.positions == {}
    assert replay.realized_by_ticker["A"] == D("1.4")
    (trade,) = replay.trades
    assert (trade.how, trade.net_pnl) == ("settled", D("1.34"))
    assert [p.cumulative_net for p in replay.curve] == [D("-0.06"), D("1.34")]


def test_settlement_without_fill_history_is_still_one_round_trip() -> None:
    settlement = pnl.SettlementRecord("A", T0, D("0"), yes_count=D("5"), yes_cost=D("2"))
    replay = pnl.replay_fills([], [settlement])
    (trade,) = replay.trades
    assert trade.realized_pnl == D("-2") and trade.how == "settled"


def test_settlement_of_an_already_flat_market_adds_no_round_trip() -> None:
    fills = [_fill("bid", "1", "0.4"), _fill("ask", "1", "0.5", minute=1)]
    settlement = pnl.SettlementRecord("A", T0 + timedelta(minutes=5), D("0"))
    replay = pnl.replay_fills(fills, [settlement])
    assert len(replay.trades) == 1 and replay.realized_by_ticker["A"] == D("0.1")


def test_events_replay_in_time_order_whatever_the_input_order() -> None:
    newest_first = [_fill("ask", "1", "0.5", minute=2), _fill("bid", "1", "0.4", minute=1)]
    replay = pnl.replay_fills(newest_first)
    assert replay.realized_by_ticker["A"] == D("0.1") and len(replay.trades) == 1


def test_a_fill_and_a_settlement_at_the_same_instant_fill_first() -> None:
    settlement = pnl.SettlementRecord("A", T0, D("1"), yes_count=D("1"), yes_cost=D("0.4"))
    replay = pnl.replay_fills([_fill("bid", "1", "0.4")], [settlement])
    assert [p.kind for p in replay.curve] == ["fill", "settlement"]
    assert replay.positions == {}


# --------------------------------------------------------------------------- performance


def test_win_rate_counts_net_of_fees_and_break_even_is_no_win() -> None:
    trades = [
        pnl.ClosedTrade("A", T0, T0, "closed", D("1"), D("0.1")),
        pnl.ClosedTrade("B", T0, T0, "closed", D("0.1"), D("0.1")),
        pnl.ClosedTrade("C", T0, T0, "settled", D("0.05"), D("0.1")),
    ]
    assert pnl.win_rate(trades) == D("33.33")
    assert pnl.win_rate([]) is None


def test_max_drawdown_of_a_rising_curve_is_zero() -> None:
    assert pnl.max_drawdown([D("0.1"), D("0.2"), D("0.2")]) == 0
    assert pnl.max_drawdown([]) == 0


def test_performance_groups_by_series_and_category() -> None:
    fills = [
        _fill("bid", "1", "0.40", "0.01", 0, "HIGH-1"),
        _fill("ask", "1", "0.60", "0.01", 1, "HIGH-1"),
        _fill("bid", "2", "0.50", "0.02", 2, "RAIN-1"),
        _fill("ask", "2", "0.30", "0.02", 3, "RAIN-1"),
        _fill("bid", "1", "0.50", "0.01", 4, "HIGH-2"),  # still open
    ]
    groups = {"HIGH-1": ("KXHIGH", "Climate"), "HIGH-2": ("KXHIGH", "Climate")}
    result = pnl.performance(fills, [], lambda t: groups.get(t, ("KXRAIN", "Climate")))
    assert result.realized_pnl == D("-0.2")  # +0.20 - 0.40
    assert result.fees == D("0.07") and result.net_pnl == D("-0.27")
    assert (len(result.trades), result.wins, result.win_rate) == (2, 1, D("50.00"))
    high, rain = result.by_series["KXHIGH"], result.by_series["KXRAIN"]
    assert (high.realized_pnl, high.fees, high.trades, high.wins) == (D("0.2"), D("0.03"), 1, 1)
    assert (rain.net_pnl, rain.trades, rain.win_rate) == (D("-0.44"), 1, D("0.00"))
    climate = result.by_category["Climate"]
    assert climate.trades == 2 and climate.net_pnl == result.net_pnl
    # curve: -0.01, +0.18, +0.16, -0.26, -0.27 -> peak 0.18 down to -0.27
    assert result.max_drawdown == D("0.45")
