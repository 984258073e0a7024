"""Backtest numbers a reader can check: the mid the strategies see is the stored mid, and
annualised ratios and drawdown durations mean what ADR 0063 says."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from shared.backtest.data import MarketInfo
from shared.backtest.engine import run_backtest
from shared.backtest.metrics import SECONDS_PER_YEAR, compute_metrics, max_drawdown, sharpe_ratio
from shared.backtest.strategies import StrategyView, create
from shared.domain.prices import mid_price, mid_price_ticks
from shared.domain.units import PRICE_SCALE
from tests.unit.backtest.scripted import book

# -- one mid rule -----------------------------------------------------------------------------


def _quiet_market_with_an_empty_first_book() -> tuple[MarketInfo, list[tuple[int, str, str]]]:
    """The first snapshot has no quote at all (Kalshi shows 0.0000/0.0000); afterwards the
    stored mid stays between 0.62 and 0.70."""
    quotes = [(1, "0.0000", "0.0000")]
    quotes += [(i + 2, f"0.{60 + i:02d}", f"0.{64 + i:02d}") for i in range(9)]
    quotes += [(11, "0.6600", "0.7000")]
    return MarketInfo("KXMID-1", result="no"), quotes


def test_momentum_does_not_see_a_move_the_stored_mid_never_made() -> None:
    market, quotes = _quiet_market_with_an_empty_first_book()
    data = book([market], {market.ticker: quotes})
    stored = [mid_price(Decimal(b), Decimal(a)) for _, b, a in quotes]
    assert stored[0] is None
    assert min(m for m in stored if m) >= Decimal("0.62")
    assert max(m for m in stored if m) <= Decimal("0.70")

    result = run_backtest(data, create("momentum", {"lookback": 10, "threshold": 0.05}))
    # Before: mid(0, 0) = 0 at the first row, so "mid moved +0.6800 over 10 snapshots".
    assert result.trades.rows(data) == []


def test_the_strategy_view_mid_is_the_shared_rule() -> None:
    quotes = [
        (1, "0.0000", "0.4000"),  # no bid: shown as 0
        (2, "0.6000", "1.0000"),  # no ask: shown as 1
        (3, "0.5000", "0.4000"),  # crossed
        (4, "0.4100", "0.4200"),
        (5, "0.0001", "0.9999"),
    ]
    data = book([MarketInfo("KXMID-2")], {"KXMID-2": quotes})
    mid = StrategyView(data).mid()
    expected = [mid_price(Decimal(b), Decimal(a)) for _, b, a in quotes]
    assert [None if math.isnan(v) else Decimal(str(v)) for v in mid] == expected
    assert mid_price(None, Decimal("0.5")) is None
    missing = mid_price_ticks(np.array([-1, 4100]), np.array([4200, -1]), PRICE_SCALE)
    assert np.isnan(missing).all()


# -- annualised ratios ------------------------------------------------------------------------


def test_five_minutes_of_five_second_data_gets_no_annualised_ratios() -> None:
    rng = np.random.default_rng(7)
    steps = rng.integers(-40_000, 20_000, size=60)  # 5 minutes of 5-second intervals
    pnl = np.cumsum(steps).astype(np.int64)
    m = compute_metrics(
        trade_pnl_micro=np.array([int(pnl[-1])], dtype=np.int64),
        trade_fees_micro=np.array([0], dtype=np.int64),
        pnl_series_micro=pnl,
        interval_s=5.0,
        capital_micro=1_000_000,
        exposure=1.0,
    )
    # Before: the per-interval ratio x sqrt(6.3 million intervals a year): a Sharpe in the
    # hundreds or thousands from five minutes of data.
    naive = sharpe_ratio(np.diff(np.concatenate(([0], pnl))) / 1e6, SECONDS_PER_YEAR / 5)
    assert naive is not None and abs(naive) > 100
    assert m.sharpe is None and m.sortino is None
    assert m.ratios_withheld and "days" in m.ratios_withheld
    assert m.to_json()["ratios_withheld"] == m.ratios_withheld


def test_a_long_enough_window_is_annualised() -> None:
    periods = 30 * 24 + 1  # hourly, just over the 30 days ratios need
    steps = np.tile(np.array([3_000, -1_000], dtype=np.int64), periods // 2 + 1)[:periods]
    pnl = np.cumsum(steps)
    m = compute_metrics(
        trade_pnl_micro=np.array([int(pnl[-1])], dtype=np.int64),
        trade_fees_micro=np.array([0], dtype=np.int64),
        pnl_series_micro=pnl,
        interval_s=3_600.0,
        capital_micro=1_000_000,
        exposure=1.0,
    )
    returns = steps / 1e6
    expected = returns.mean() / returns.std(ddof=1) * math.sqrt(SECONDS_PER_YEAR / 3_600)
    assert m.ratios_withheld is None
    assert m.sharpe == pytest.approx(expected)


# -- drawdown duration (ADR 0063: the duration of the max drawdown itself) --------------------


def test_drawdown_duration_belongs_to_the_deepest_drawdown() -> None:
    # A long shallow spell under water (0 -> -10 for three intervals, back at interval 4),
    # then the deepest fall: 100 -> 0 at the last interval, never recovered.
    dd = max_drawdown(np.array([-10, -10, -10, 0, 100, 0], dtype=np.int64))
    assert dd.amount_micro == 100
    assert dd.peak_index == 5  # the 100 (index 0 is the leading zero)
    # Before: 4 (the longest spell under water, which is not the max drawdown's).
    assert dd.duration_periods == 1


def test_drawdown_duration_runs_to_the_recovery() -> None:
    dd = max_drawdown(np.array([50, 20, 30, 50, 60], dtype=np.int64))
    assert (dd.amount_micro, dd.peak_index, dd.duration_periods) == (30, 1, 3)
