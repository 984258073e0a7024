"""The engine against small scenarios computed by hand (fills, fees, settlement, equity)."""

from __future__ import annotations

import math
import statistics
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from shared.backtest.data import MarketInfo
from shared.backtest.engine import EngineConfig, run_backtest
from shared.backtest.metrics import sharpe_ratio, sortino_ratio
from shared.domain.fees import CENTI_CENT, FeeModel, FeeSchedule
from tests.unit.backtest.scripted import T0, Scripted, book

D = Decimal


def _money(trade: dict[str, object], key: str) -> Decimal:
    return D(str(trade[key]))


def two_trade_scenario(result: str = "yes") -> tuple[object, ...]:
    market = MarketInfo("KXA-1", series_ticker="KXA", result=result)
    data = book(
        [market],
        {
            "KXA-1": [
                (1, "0.40", "0.42"),
                (2, "0.45", "0.47"),
                (3, "0.50", "0.52"),
                (4, "0.48", "0.50"),
            ]
        },
    )
    strategy = Scripted(yes_at=(1,), no_at=(4,), exit_at=(3,), contracts=10)
    return data, strategy


def test_round_trip_and_settlement_match_hand_computation() -> None:
    data, strategy = two_trade_scenario()
    result = run_backtest(data, strategy)  # type: ignore[arg-type]
    trades = result.trades.rows(data)  # type: ignore[arg-type]
    assert len(trades) == 2

    first, second = trades
    # Buy 10 YES at the ask 0.42: fee ceil(0.07*10*0.42*0.58 = 0.17052) = 0.18.
    # Sell at the bid 0.50: fee ceil(0.07*10*0.25 = 0.175) = 0.18. P&L 0.80 - 0.36 = 0.44.
    assert first["side"] == "yes"
    assert first["entry_price_dollars"] == "0.4200"
    assert first["exit_price_dollars"] == "0.5000"
    assert (first["entry_snapshot_id"], first["exit_snapshot_id"]) == (1, 3)
    assert _money(first, "fees_dollars") == D("0.36")
    assert _money(first, "pnl_dollars") == D("0.44")
    assert first["exit_reason"] == "scripted exit"
    # Buy 10 NO at 1 - yes_bid = 0.52 (fee ceil(0.17472) = 0.18); settles YES: NO pays 0.
    assert second["side"] == "no"
    assert second["entry_price_dollars"] == "0.5200"
    assert second["exit_price_dollars"] == "0.0000"
    assert second["exit_snapshot_id"] is None
    assert _money(second, "fees_dollars") == D("0.18")
    assert _money(second, "pnl_dollars") == D("-5.38")
    assert second["exit_reason"] == "settled yes"

    m = result.metrics
    assert m.total_pnl_micro == -4_940_000
    assert m.fees_micro == 540_000
    assert m.gross_pnl_micro == -4_400_000
    assert m.trades == 2
    assert m.win_rate == 0.5
    assert m.profit_factor == pytest.approx(0.44 / 5.38)
    # Capital: the larger of the two positions' cost + entry fee (5.20 + 0.18).
    assert m.capital_micro == 5_380_000
    assert m.return_on_capital == pytest.approx(-4.94 / 5.38)
    # P&L at the end of each minute: fill marked at the bid, mark moves, sale, NO fill + settle.
    assert list(result.pnl_series_micro) == [-380_000, 120_000, 440_000, -4_940_000]
    # Drawdown: from the 0.44 peak to -4.94 = 5.38, never recovered; its duration is that
    # drawdown's (ADR 0063): from the peak (minute 3) to the last interval, 1 x 60 s (the
    # earlier, shallower dip from 0 lasted longer and does not count).
    assert m.max_drawdown_micro == 5_380_000
    assert m.max_drawdown_duration_s == 60.0
    # Four one-minute intervals cannot support annualised ratios: withheld, and said why.
    assert m.sharpe is None and m.sortino is None
    assert m.ratios_withheld and "4 sampling intervals" in m.ratios_withheld
    # The formulas themselves, from the per-minute returns, annualised with 525,960
    # minutes a year (what a long enough window reports).
    steps = [-0.38, 0.50, 0.32, -5.38]
    returns = [s / 5.38 for s in steps]
    per_year = 365.25 * 24 * 60
    expected_sharpe = statistics.mean(returns) / statistics.stdev(returns) * math.sqrt(per_year)
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    expected_sortino = statistics.mean(returns) / downside * math.sqrt(per_year)
    assert sharpe_ratio(np.array(returns), per_year) == pytest.approx(expected_sharpe)
    assert sortino_ratio(np.array(returns), per_year) == pytest.approx(expected_sortino)
    assert m.sampling_interval_s == 60.0
    # Exposure: open for 2 of the 3 minutes the window spans.
    assert m.exposure == pytest.approx(2 / 3)


def test_equity_curve_ends_at_total_pnl() -> None:
    data, strategy = two_trade_scenario()
    result = run_backtest(data, strategy)  # type: ignore[arg-type]
    curve = result.equity_curve()
    assert curve[-1]["pnl_dollars"] == "-4.940000"
    assert curve[-1]["equity_dollars"] == "0.440000"  # capital 5.38 + P&L
    assert curve[0]["ts"] == (T0 + timedelta(minutes=1)).isoformat()


def test_void_refunds_cost_but_not_fees_by_default() -> None:
    market = MarketInfo("KXV-1", result="void")
    data = book([market], {"KXV-1": [(1, "0.40", "0.42"), (2, "0.45", "0.47")]})
    result = run_backtest(data, Scripted(yes_at=(1,), contracts=10))
    (trade,) = result.trades.rows(data)
    assert trade["exit_price_dollars"] == "0.4200"  # the cost, per contract
    assert _money(trade, "pnl_dollars") == D("-0.18")
    assert trade["exit_reason"] == "void: cost refunded"
    refunded = run_backtest(data, Scripted(yes_at=(1,)), EngineConfig(refund_fees_on_void=True))
    assert refunded.metrics.total_pnl_micro == 0
    assert refunded.metrics.fees_micro == 0
    assert int(refunded.pnl_series_micro[-1]) == 0


def test_scalar_settlement_and_unsettled_mark() -> None:
    scalar = MarketInfo("KXS-1", result="scalar", settlement_value_dollars=D("0.3000"))
    open_market = MarketInfo("KXU-1")
    data = book(
        [scalar, open_market],
        {
            "KXS-1": [(1, "0.40", "0.42"), (2, "0.45", "0.47")],
            "KXU-1": [(11, "0.20", "0.25"), (12, "0.33", "0.35")],
        },
    )
    result = run_backtest(data, Scripted(yes_at=(1,), no_at=(11,), contracts=1))
    by_ticker = {t["ticker"]: t for t in result.trades.rows(data)}
    # YES at 0.42 settles at 0.30: -0.12 - fee ceil(0.07*.42*.58=0.017052)=0.02.
    assert _money(by_ticker["KXS-1"], "pnl_dollars") == D("-0.14")
    # NO at 1 - 0.20 = 0.80 (fee ceil(0.0112) = 0.02); no result: marked at the last NO bid
    # 1 - 0.35 = 0.65, no exit fee: -0.15 - 0.02.
    unsettled = by_ticker["KXU-1"]
    assert unsettled["exit_price_dollars"] == "0.6500"
    assert _money(unsettled, "pnl_dollars") == D("-0.17")
    assert unsettled["exit_reason"] == "no result yet: marked at last bid"


def test_fee_quantum_and_per_series_schedule_are_configurable() -> None:
    data, strategy = two_trade_scenario()
    fine = EngineConfig(fees=FeeModel(default=FeeSchedule(quantum=CENTI_CENT)))
    result = run_backtest(data, strategy, fine)  # type: ignore[arg-type]
    # 0.1706 + 0.1750 + 0.1748 to the next $0.0001
    assert result.metrics.fees_micro == 170_600 + 175_000 + 174_800
    free = EngineConfig(
        fees=FeeModel(per_series={"KXA": FeeSchedule(taker_rate=D(0), maker_rate=D(0))})
    )
    assert run_backtest(data, strategy, free).metrics.fees_micro == 0  # type: ignore[arg-type]


def test_slippage_worsens_both_fills() -> None:
    data, strategy = two_trade_scenario()
    result = run_backtest(data, strategy, EngineConfig(slippage_ticks=100))  # type: ignore[arg-type]
    first = result.trades.rows(data)[0]  # type: ignore[arg-type]
    assert first["entry_price_dollars"] == "0.4300"
    assert first["exit_price_dollars"] == "0.4900"


def test_missing_quotes_skip_entries_and_delay_exits() -> None:
    market = MarketInfo("KXM-1", result="no")
    data = book(
        [market],
        {"KXM-1": [(1, "0.40", None), (2, "0.40", "0.42"), (3, None, "0.60"), (4, "0.55", "0.60")]},
    )
    # Entry wanted at 1 (no ask: skipped) and 2 (filled); exit wanted at 3 (no bid) -> 4.
    result = run_backtest(data, Scripted(yes_at=(1, 2), exit_at=(3,), contracts=1))
    (trade,) = result.trades.rows(data)
    assert (trade["entry_snapshot_id"], trade["exit_snapshot_id"]) == (2, 4)
    assert trade["exit_price_dollars"] == "0.5500"


def test_exit_rules_take_profit_stop_loss_and_max_hold() -> None:
    market = MarketInfo("KXR-1", result="yes")
    quotes = [(1, "0.40", "0.42"), (2, "0.44", "0.46"), (3, "0.49", "0.51"), (4, "0.30", "0.32")]
    data = book([market], {"KXR-1": quotes})
    tp = run_backtest(data, Scripted(yes_at=(1,), take_profit=0.05))
    assert tp.trades.rows(data)[0]["exit_snapshot_id"] == 3  # bid 0.49 >= 0.42 + 0.05
    assert tp.trades.rows(data)[0]["exit_reason"] == "take profit"
    sl = run_backtest(data, Scripted(yes_at=(2,), stop_loss=0.10))
    assert sl.trades.rows(data)[0]["exit_snapshot_id"] == 4  # 0.30 <= 0.46 - 0.10
    assert sl.trades.rows(data)[0]["exit_reason"] == "stop loss"
    held = run_backtest(data, Scripted(yes_at=(1,), max_hold_minutes=2))
    assert held.trades.rows(data)[0]["exit_snapshot_id"] == 3
    assert held.trades.rows(data)[0]["exit_reason"] == "max hold time"


def test_exit_before_close() -> None:
    market = MarketInfo("KXC-1", result="yes", close_time=T0 + timedelta(minutes=4))
    quotes = [(1, "0.40", "0.42"), (2, "0.44", "0.46"), (3, "0.49", "0.51"), (4, "0.30", "0.32")]
    data = book([market], {"KXC-1": quotes})
    result = run_backtest(data, Scripted(yes_at=(1,), exit_before_close_minutes=2))
    trade = result.trades.rows(data)[0]
    assert trade["exit_snapshot_id"] == 3 and trade["exit_reason"] == "before close"


def test_passive_entry_fills_as_maker_at_its_limit() -> None:
    market = MarketInfo("KXP-1", result="yes")
    quotes = [(1, "0.35", "0.40"), (2, "0.33", "0.36"), (3, "0.28", "0.30"), (4, "0.50", "0.52")]
    data = book([market], {"KXP-1": quotes})
    result = run_backtest(data, Scripted(yes_at=(1,), limit=3_000, contracts=100))
    (trade,) = result.trades.rows(data)
    assert trade["maker"] is True
    assert trade["entry_snapshot_id"] == 3  # first later ask at or below 0.30
    assert trade["entry_price_dollars"] == "0.3000"
    # Maker fee: ceil(0.0175 * 100 * 0.3 * 0.7 = 0.3675) = 0.37; settles YES: +70 - 0.37.
    assert _money(trade, "fees_dollars") == D("0.37")
    assert _money(trade, "pnl_dollars") == D("69.63")
    # A resting order expires after its time to live.
    expired = run_backtest(data, Scripted(yes_at=(1,), limit=3_000, ttl_minutes=1))
    assert len(expired.trades) == 0


def test_one_position_per_market_and_markets_are_independent() -> None:
    a, b = MarketInfo("KXA-1", result="yes"), MarketInfo("KXB-1", result="no")
    quotes = [(1, "0.40", "0.42"), (2, "0.45", "0.47")]
    data = book([a, b], {"KXA-1": quotes, "KXB-1": [(11, "0.60", "0.62"), (12, "0.58", "0.61")]})
    result = run_backtest(data, Scripted(yes_at=(1, 2, 11), contracts=1))
    rows = result.trades.rows(data)
    assert [(t["ticker"], t["entry_snapshot_id"]) for t in rows] == [("KXA-1", 1), ("KXB-1", 11)]
    # Both positions were open together: capital is the sum of both costs with fees.
    assert result.metrics.capital_micro == (4_200 + 200) * 100 + (6_200 + 200) * 100


def test_no_trades_gives_empty_metrics() -> None:
    data, _ = two_trade_scenario()
    result = run_backtest(data, Scripted())  # type: ignore[arg-type]
    m = result.metrics
    assert (m.trades, m.total_pnl_micro, m.capital_micro) == (0, 0, 0)
    assert m.sharpe is None and m.win_rate is None and m.return_on_capital is None
