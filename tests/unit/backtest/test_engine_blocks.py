"""The engine's block-wise passes (ADR 0229) give the same run whatever the block size:
the equity series' carries (open size and side, each side's last bid, the previous row's
mark), the audit's per-market cut and the median sampling interval cross block ends."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from shared.backtest import engine
from shared.backtest.data import SnapshotSet
from shared.backtest.engine import BacktestResult, EngineConfig, run_backtest
from shared.backtest.strategies import available, registry
from tests.unit.backtest.synthetic import random_walk_set


def _ragged_quotes(data: SnapshotSet, seed: int) -> SnapshotSet:
    """Missing bids and asks, and empty sides shown as 0 / 1.0000, here and there."""
    rng = np.random.default_rng(seed)
    bid, ask = data.yes_bid.copy(), data.yes_ask.copy()
    bid[rng.random(len(bid)) < 0.05] = -1
    ask[rng.random(len(ask)) < 0.05] = -1
    bid[rng.random(len(bid)) < 0.01] = 0
    ask[rng.random(len(ask)) < 0.01] = 10_000
    return replace(data, yes_bid=bid, yes_ask=ask)


def _same(a: BacktestResult, b: BacktestResult) -> None:
    for name in a.trades.__dataclass_fields__:
        left, right = getattr(a.trades, name), getattr(b.trades, name)
        if isinstance(left, list):
            assert left == right, name
        else:
            assert np.array_equal(left, right), name
    assert np.array_equal(a.pnl_series_micro, b.pnl_series_micro)
    assert (a.bin_start_us, a.interval_us, a.metrics) == (b.bin_start_us, b.interval_us, b.metrics)


def _variants(name: str) -> list[dict[str, Any]]:
    properties = registry.get(name).params_schema.get("properties", {})
    rules = {
        key: value
        for key, value in (
            ("stop_loss", 0.03),
            ("take_profit", 0.04),
            ("max_hold_minutes", 30),
            ("exit_before_close_minutes", 60),
        )
        if key in properties
    }
    return [{}, rules] if rules else [{}]


@pytest.mark.parametrize("name", [cls.name for cls in available()])
def test_block_size_does_not_change_a_run(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _ragged_quotes(random_walk_set(12, 250, seed=5), seed=5)
    config = EngineConfig(slippage_ticks=50, refund_fees_on_void=True)
    for params in _variants(name):
        whole = run_backtest(data, registry.create(name, params), config)
        for block in (97, 1_000):
            monkeypatch.setattr(engine, "_BLOCK_ROWS", block)
            _same(whole, run_backtest(data, registry.create(name, params), config))
        monkeypatch.setattr(engine, "_BLOCK_ROWS", 1 << 20)


def test_next_true_rows_match_a_plain_scan() -> None:
    rng = np.random.default_rng(3)
    for n in (0, 1, 2, 50, 333):
        mask = rng.random(n) < 0.1
        got = engine._next_true(mask, n)
        assert got.dtype == np.int32 and len(got) == n + 1
        want = [next((j for j in range(i, n) if mask[j]), n) for i in range(n + 1)]
        assert got.tolist() == want
        assert engine._next_true(None, n).tolist() == [n] * (n + 1)


@pytest.mark.parametrize("block", [1 << 20, 5])
def test_sampling_interval_is_the_median_gap(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "_BLOCK_ROWS", block)
    rng = np.random.default_rng(11)
    for per_market in (2, 3, 40, 41):
        data = random_walk_set(3, per_market, seed=int(rng.integers(1_000)))
        jitter = rng.integers(0, 5, data.n_rows).astype(np.int64) * 1_000_003
        data = replace(data, ts=np.sort(data.ts.reshape(3, -1) + jitter.reshape(3, -1)).ravel())
        same = data.market[1:] == data.market[:-1]
        gaps = (data.ts[1:] - data.ts[:-1])[same]
        gaps = gaps[gaps > 0]
        assert engine.sampling_interval_us(data) == max(1, int(np.median(gaps)))
