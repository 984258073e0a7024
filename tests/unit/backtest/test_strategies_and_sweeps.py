"""Built-in strategies, parameter validation, the registry, sweeps and engine invariants."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
import pytest

from shared.backtest.data import MarketInfo
from shared.backtest.engine import run_backtest
from shared.backtest.errors import InvalidBacktestRequest
from shared.backtest.metrics import max_drawdown
from shared.backtest.strategies import (
    ENTER_YES,
    Signals,
    Strategy,
    StrategyView,
    available,
    create,
    get,
    register,
    unregister,
)
from shared.backtest.sweep import MAX_VARIANTS, expand_grid, rank, run_sweep
from tests.unit.backtest.scripted import T0, book
from tests.unit.backtest.synthetic import random_walk_set


def test_catalogue_has_four_documented_builtins() -> None:
    names = {cls.name for cls in available()}
    assert {"fade_large_moves", "momentum", "favourite_longshot", "passive_threshold"} <= names
    for cls in available():
        entry = cls.describe()
        assert entry["version"] and entry["description"]
        for spec in entry["params"]["properties"].values():
            assert "default" in spec and "description" in spec and "type" in spec


def test_params_defaults_ranges_and_unknown_names() -> None:
    strategy = create("momentum")
    assert strategy.params["lookback"] == 10
    with pytest.raises(InvalidBacktestRequest, match="lookback must be >= 1"):
        create("momentum", {"lookback": 0})
    with pytest.raises(InvalidBacktestRequest, match="unknown parameter"):
        create("momentum", {"bogus": 1})
    with pytest.raises(InvalidBacktestRequest, match="must be an integer"):
        create("momentum", {"lookback": 2.5})
    with pytest.raises(InvalidBacktestRequest, match="one of yes, no"):
        create("passive_threshold", {"side": "maybe"})
    with pytest.raises(InvalidBacktestRequest, match="unknown strategy") as caught:
        get("nope")
    assert caught.value.code == "unknown_strategy"


def test_fade_buys_against_a_jump() -> None:
    market = MarketInfo("KXF-1", result="no")
    quotes = [(1, "0.40", "0.42"), (2, "0.41", "0.43"), (3, "0.55", "0.57"), (4, "0.50", "0.52")]
    data = book([market], {"KXF-1": quotes})
    result = run_backtest(data, create("fade_large_moves", {"lookback": 1, "threshold": 0.1}))
    (trade,) = result.trades.rows(data)
    assert trade["side"] == "no" and trade["entry_snapshot_id"] == 3
    assert "moved +0.1400" in trade["entry_reason"]


def test_favourite_longshot_only_trades_near_the_close() -> None:
    market = MarketInfo("KXL-1", result="yes", close_time=T0 + timedelta(minutes=30))
    quotes = [(i, "0.88", "0.90") for i in range(1, 31)]
    data = book([market], {"KXL-1": quotes})
    result = run_backtest(data, create("favourite_longshot", {"window_minutes": 10}))
    (trade,) = result.trades.rows(data)
    assert trade["entry_snapshot_id"] == 21  # 10 minutes before the close at minute 30
    assert trade["side"] == "yes" and trade["exit_reason"] == "settled yes"


def test_sweep_expands_ranks_and_limits_the_grid() -> None:
    cls = get("momentum")
    variants = expand_grid(cls, {"contracts": 2}, {"lookback": [5, 10], "threshold": [0.03, 0.05]})
    assert len(variants) == 4 and all(v["contracts"] == 2 for v in variants)
    with pytest.raises(InvalidBacktestRequest, match="at most"):
        expand_grid(cls, None, {"lookback": list(range(1, 66))})
    assert MAX_VARIANTS == 64
    with pytest.raises(InvalidBacktestRequest, match="lookback must be <= 500"):
        expand_grid(cls, None, {"lookback": [5, 501]})
    data = random_walk_set(10, 300, seed=5)
    sweep = run_sweep(data, cls, variants, rank_by="total_pnl")
    pnls = [sweep.variants[i].metrics.total_pnl_micro for i in sweep.ranking]
    assert pnls == sorted(pnls, reverse=True)
    assert sweep.best is sweep.variants[sweep.ranking[0]]
    by_drawdown = rank(sweep.variants, "max_drawdown")
    dds = [sweep.variants[i].metrics.max_drawdown_micro for i in by_drawdown]
    assert dds == sorted(dds)
    with pytest.raises(InvalidBacktestRequest, match="rank_by"):
        rank(sweep.variants, "luck")


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("name", ["fade_large_moves", "momentum", "passive_threshold"])
def test_equity_series_always_ends_at_the_sum_of_trade_pnl(seed: int, name: str) -> None:
    data = random_walk_set(15, 150, seed=seed)
    params: dict[str, Any] = {"threshold": 0.02} if name != "passive_threshold" else {}
    result = run_backtest(data, create(name, params))
    assert len(result.trades) > 0
    assert int(result.pnl_series_micro[-1]) == int(result.trades.pnl_micro.sum())
    # Trades never overlap within a market and exits follow entries.
    t = result.trades
    for m in np.unique(t.market):
        rows = np.flatnonzero(t.market == m)
        entries = t.entry_row[rows]
        assert np.all(np.diff(entries) > 0)
        exits = np.where(t.exit_row[rows] >= 0, t.exit_row[rows], np.iinfo(np.int64).max)
        assert np.all(exits[:-1] < entries[1:])
        assert np.all(exits > entries)


def test_drawdown_duration_when_never_recovered_and_when_flat() -> None:
    dd = max_drawdown(np.array([100, 50, 80, 20], dtype=np.int64))
    assert dd.amount_micro == 80 and dd.duration_periods == 3
    assert max_drawdown(np.array([0, 10, 20], dtype=np.int64)).amount_micro == 0


def test_user_strategy_can_be_registered() -> None:
    @register
    class BuyFirst(Strategy):
        name = "buy_first_snapshot"
        version = "1"
        params_schema: ClassVar[dict[str, Any]] = {
            "type": "object",
            "properties": {"contracts": {"type": "integer", "minimum": 1, "default": 1}},
        }

        def signals(self, view: StrategyView) -> Signals:
            entry = np.where(view.first_of_market(), ENTER_YES, 0).astype(np.int8)
            return Signals(entry=entry, entry_reason="first snapshot")

    try:
        market = MarketInfo("KXB-1", result="yes")
        data = book([market], {"KXB-1": [(1, "0.40", "0.42"), (2, "0.45", "0.47")]})
        result = run_backtest(data, create("buy_first_snapshot"))
        (trade,) = result.trades.rows(data)
        assert trade["entry_reason"] == "first snapshot"
        assert Decimal(trade["pnl_dollars"]) == Decimal("0.56")  # 1 - 0.42 - 0.02
    finally:
        unregister("buy_first_snapshot")
