"""Which snapshot sources the archived days held, per market (the run report's input)."""

from __future__ import annotations

import numpy as np

from shared.backtest.loader import StoredRows, _ArchivedSources


def _rows(market: list[int], poll: list[bool]) -> StoredRows:
    n = len(market)
    return StoredRows(
        market=np.array(market, dtype=np.int32),
        ts=np.arange(n, dtype=np.int64),
        snapshot_id=np.arange(n, dtype=np.int64),
        yes_bid=np.zeros(n, dtype=np.int32),
        yes_ask=np.zeros(n, dtype=np.int32),
        poll=np.array(poll, dtype=np.bool_),
    )


def test_poll_days_and_a_mixed_day_name_each_market_once_in_source_order() -> None:
    seen = _ArchivedSources(5)
    seen.add(_rows([0, 0, 2, 2, 2, 4], [True] * 6))
    seen.add(_rows([], []))
    seen.add(_rows([1, 1, 2, 3], [False, True, False, False]))
    assert seen.by_ticker(["a", "b", "c", "d", "e"]) == {
        "a": ("poll",),
        "b": ("poll", "websocket"),
        "c": ("poll", "websocket"),
        "d": ("websocket",),
        "e": ("poll",),
    }


def test_every_market_of_an_unordered_poll_day_is_found() -> None:
    market = np.random.default_rng(7).integers(0, 50, 2_000).tolist()
    seen = _ArchivedSources(60)
    seen.add(_rows(market, [True] * len(market)))
    tickers = [f"m{i}" for i in range(60)]
    assert set(seen.by_ticker(tickers)) == {f"m{i}" for i in set(market)}
