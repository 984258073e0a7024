"""The loader's merge of archived days and Postgres rows into market order: the counting
placement gives exactly what a full sort by (market, time, id) gives, and parts that are
not in the shape it relies on (overlapping days, a market split into two runs) still come
out sorted."""

from __future__ import annotations

import numpy as np

from shared.backtest.loader import StoredRows, _merge_by_market

DAY = 86_400_000_000


def part(items: list[tuple[int, int, int]]) -> StoredRows:
    return StoredRows(
        market=np.array([i[0] for i in items], np.int32),
        ts=np.array([i[1] for i in items], np.int64),
        snapshot_id=np.array([i[2] for i in items], np.int64),
        yes_bid=np.array([i[2] % 97 for i in items], np.int32),
        yes_ask=np.array([i[2] % 89 for i in items], np.int32),
        poll=np.array([i[2] % 3 != 0 for i in items], np.bool_),
    )


def sorted_by_lexsort(parts: list[StoredRows]) -> StoredRows:
    rows = StoredRows.concat(parts)
    order = np.lexsort((rows.snapshot_id, rows.ts, rows.market))
    return StoredRows(*(getattr(rows, f)[order] for f in StoredRows.__dataclass_fields__))


def random_day(
    rng: np.random.Generator, day: int, n_markets: int, ticker_order: list[int]
) -> StoredRows:
    """One day as the archive stores it: ticker runs (in ticker order, whatever the market
    index), time then id within each run."""
    items = []
    for market in ticker_order:
        for t in np.sort(rng.integers(0, DAY, size=int(rng.integers(0, 6)))):
            items.append((market, day * DAY + int(t), int(rng.integers(0, 10**6))))
    runs: dict[int, list[tuple[int, int, int]]] = {}
    for item in items:
        runs.setdefault(item[0], []).append(item)
    ordered = [i for m in ticker_order for i in sorted(runs.get(m, []), key=lambda x: (x[1], x[2]))]
    return part(ordered)


def assert_same(got: StoredRows, want: StoredRows) -> None:
    for name in StoredRows.__dataclass_fields__:
        assert getattr(got, name).tolist() == getattr(want, name).tolist(), name


def test_days_in_ticker_order_are_placed_exactly_as_a_sort_places_them() -> None:
    rng = np.random.default_rng(5)
    for _ in range(100):
        n_markets = int(rng.integers(1, 8))
        ticker_order = [int(m) for m in rng.permutation(n_markets)]
        parts = [
            random_day(rng, day, n_markets, ticker_order) for day in range(int(rng.integers(1, 6)))
        ]
        want = sorted_by_lexsort(parts)
        assert_same(_merge_by_market(parts, n_markets), want)
        assert parts == []  # placed parts are let go


def test_overlapping_parts_and_split_runs_fall_back_to_a_sort() -> None:
    overlapping = [part([(0, 5, 1), (1, 9, 2)]), part([(0, 3, 3), (1, 7, 4)])]
    assert_same(_merge_by_market(list(overlapping), 2), sorted_by_lexsort(overlapping))
    split = [part([(0, 5, 1), (1, 6, 2), (0, 7, 3)]), part([(1, DAY, 4)])]
    assert_same(_merge_by_market(list(split), 2), sorted_by_lexsort(split))
    assert _merge_by_market([part([]), part([])], 3).ts.tolist() == []
