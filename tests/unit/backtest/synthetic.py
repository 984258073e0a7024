"""Synthetic snapshot sets for tests and benchmarks: random-walk books, deterministic."""

from __future__ import annotations

import numpy as np

from shared.backtest.data import NO_TIME, Settlements, SnapshotSet

T0_US = 1_781_000_000 * 1_000_000  # mid-2026


def random_walk_set(
    n_markets: int, per_market: int, *, seed: int = 7, step_s: int = 60, spread_ticks: int = 200
) -> SnapshotSet:
    """``n_markets`` x ``per_market`` snapshots of random-walk YES books, half settled YES."""
    rng = np.random.default_rng(seed)
    n = n_markets * per_market
    market = np.repeat(np.arange(n_markets, dtype=np.int32), per_market)
    steps = rng.integers(-150, 151, size=n).astype(np.int64)
    steps[::per_market] = 0
    start = rng.integers(1500, 8500, size=n_markets)
    walk = np.cumsum(steps.reshape(n_markets, per_market), axis=1) + start[:, None]
    mid = np.clip(walk.reshape(-1), 300, 9700)
    bid = (mid - spread_ticks // 2).astype(np.int32)
    ask = (mid + spread_ticks // 2).astype(np.int32)
    gaps = rng.random(n) < 0.01
    bid[gaps] = -1
    ts = T0_US + np.tile(np.arange(per_market, dtype=np.int64) * step_s * 1_000_000, n_markets)
    ts += np.repeat(rng.integers(0, 30, n_markets).astype(np.int64) * 1_000_000, per_market)
    close = ts.reshape(n_markets, per_market)[:, -1] + 60_000_000
    final_mid = mid.reshape(n_markets, per_market)[:, -1]
    settlements = Settlements(
        result=np.where(rng.random(n_markets) * 10_000 < final_mid, 1, 2).astype(np.int8),
        value_ticks=np.full(n_markets, -1, dtype=np.int32),
        settle_ts=close + 600_000_000,
    )
    settlements.result[::17] = 0  # some never settled in the data
    settlements.settle_ts[::17] = NO_TIME
    return SnapshotSet(
        tickers=tuple(f"KXTEST-{i:05d}" for i in range(n_markets)),
        series=tuple("KXTEST" if i % 2 else "KXOTHER" for i in range(n_markets)),
        close_ts=close.astype(np.int64),
        settlements=settlements,
        market=market,
        ts=ts,
        snapshot_id=np.arange(1, n + 1, dtype=np.int64),
        yes_bid=bid,
        yes_ask=ask,
    )
