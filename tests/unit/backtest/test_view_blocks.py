"""The strategy view's block-wise helpers (ADR 0225) give exactly what the whole-array
formulas gave, whatever the block size: the cached mid, each row's place in its market,
``lag`` (NaN fewer than ``k`` rows into a market) and ``change``."""

from __future__ import annotations

import numpy as np
import pytest

from shared.backtest.data import SnapshotSet
from shared.backtest.strategies import available, base, registry
from shared.backtest.strategies.base import StrategyView
from shared.domain.prices import mid_price_ticks
from shared.domain.units import PRICE_SCALE
from tests.unit.backtest.synthetic import random_walk_set
from tests.unit.backtest.test_engine_blocks import _ragged_quotes, _same


def _ragged_markets(seed: int) -> SnapshotSet:
    """Markets of very different lengths (1 to 60 rows, some empty), ragged quotes."""
    rng = np.random.default_rng(seed)
    data = _ragged_quotes(random_walk_set(9, 60, seed=seed), seed=seed)
    lengths = rng.integers(1, 61, 9)
    lengths[[2, 6]] = 0  # markets without rows
    keep = np.concatenate([np.arange(60) < length for length in lengths])
    return data.subset(keep)


def _old_lag(values: np.ndarray, data: SnapshotSet, k: int) -> np.ndarray:
    """The whole-array formula before ADR 0225."""
    seg_start, _ = data.segments()
    out = np.full(data.n_rows, np.nan)
    if k < data.n_rows:
        out[k:] = values[:-k]
    out[np.arange(data.n_rows) - seg_start[data.market] < k] = np.nan
    return out


@pytest.mark.parametrize("block", [1 << 20, 97, 7, 1])
def test_view_helpers_match_the_whole_array_formulas(
    block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "_BLOCK_ROWS", block)
    for seed in (1, 2, 3):
        data = _ragged_markets(seed)
        view = StrategyView(data)
        mid = view.mid()
        want_mid = mid_price_ticks(data.yes_bid, data.yes_ask, PRICE_SCALE)
        assert np.array_equal(mid, want_mid, equal_nan=True)
        assert not mid.flags.writeable
        seg_start, _ = data.segments()
        row = view.row_in_market()
        assert row.dtype == np.int64
        assert np.array_equal(row, np.arange(data.n_rows) - seg_start[data.market])
        for k in (1, 3, 59, 60, data.n_rows, data.n_rows + 5):
            want = _old_lag(want_mid, data, k)
            assert np.array_equal(view.lag(mid, k), want, equal_nan=True), k
            assert np.array_equal(view.change(mid, k), want_mid - want, equal_nan=True), k


def test_an_empty_view_lags_to_nothing() -> None:
    data = random_walk_set(2, 5).subset(np.zeros(10, dtype=bool))
    view = StrategyView(data)
    assert len(view.mid()) == 0
    assert len(view.change(view.mid(), 3)) == 0
    assert len(view.row_in_market()) == 0


@pytest.mark.parametrize("name", [cls.name for cls in available()])
def test_view_block_size_does_not_change_a_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.backtest.engine import EngineConfig, run_backtest

    data = _ragged_quotes(random_walk_set(12, 250, seed=8), seed=8)
    config = EngineConfig(slippage_ticks=50)
    whole = run_backtest(data, registry.create(name), config)
    for block in (97, 1_000):
        monkeypatch.setattr(base, "_BLOCK_ROWS", block)
        _same(whole, run_backtest(data, registry.create(name), config))
