"""The loader's poll-grid rebuild (ADR 0170) on hand-made rows: each stored poll snapshot
holds until the next one, its heartbeat, or the market's last poll; other sources don't."""

from __future__ import annotations

import numpy as np
import pytest

from shared.backtest import loader
from shared.backtest.loader import StoredRows, expand_to_polls

M = 60_000_000  # a minute in microseconds


def rows(*items: tuple[int, int, int, bool]) -> StoredRows:
    market, ts, sid, poll = zip(*items, strict=True)
    n = len(items)
    return StoredRows(
        market=np.array(market, np.int32),
        ts=np.array(ts, np.int64) * M,
        snapshot_id=np.array(sid, np.int64),
        yes_bid=np.arange(n, dtype=np.int32),
        yes_ask=np.arange(n, dtype=np.int32) + 100,
        poll=np.array(poll, np.bool_),
    )


POLLS = np.arange(0, 20, dtype=np.int64) * M  # a poll every minute, minutes 0..19


def expand(stored: StoredRows, seen: list[int], start: int = 0, end: int = 19, hb: int = 5):
    return expand_to_polls(stored, POLLS, np.array(seen, np.int64) * M, start * M, end * M, hb * M)


def test_a_snapshot_holds_until_the_next_one() -> None:
    out = expand(rows((0, 0, 10, True), (0, 3, 11, True)), seen=[5])
    assert (out.ts // M).tolist() == [0, 1, 2, 3, 4, 5]
    assert out.snapshot_id.tolist() == [10, 10, 10, 11, 11, 11]
    assert out.yes_bid.tolist() == [0, 0, 0, 1, 1, 1]


def test_the_heartbeat_and_the_last_poll_bound_a_hold() -> None:
    # No stored row after minute 2 and the market seen until 19: a hold lasts < 5 minutes.
    out = expand(rows((0, 2, 1, True)), seen=[19])
    assert (out.ts // M).tolist() == [2, 3, 4, 5, 6]
    out = expand(rows((0, 2, 1, True)), seen=[4])
    assert (out.ts // M).tolist() == [2, 3, 4]


def test_markets_stay_apart_and_other_sources_do_not_hold() -> None:
    stored = rows((0, 1, 1, True), (1, 1, 2, False), (1, 4, 3, True))
    out = expand(stored, seen=[2, 6])
    assert list(zip(out.market.tolist(), (out.ts // M).tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
        (1, 1),
        (1, 4),
        (1, 5),
        (1, 6),
    ]


def test_a_snapshot_from_before_the_window_holds_into_it() -> None:
    out = expand(rows((0, 0, 1, True), (0, 9, 2, True)), seen=[12], start=3, end=10)
    assert (out.ts // M).tolist() == [3, 4, 9, 10]


def reference_expand(
    rows: StoredRows,
    polls: np.ndarray,
    last_seen: np.ndarray,
    start_us: int,
    end_us: int,
    heartbeat_us: int,
) -> StoredRows:
    """The plain formulation (every row's bound searched directly), kept as the oracle
    for the optimised :func:`expand_to_polls`."""
    n = len(rows.ts)
    if n == 0:
        return rows
    same_next = np.zeros(n, dtype=np.bool_)
    same_next[:-1] = rows.market[1:] == rows.market[:-1]
    next_ts = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    next_ts[:-1] = np.where(same_next[:-1], rows.ts[1:], next_ts[:-1])
    bound = np.minimum(np.minimum(next_ts, rows.ts + heartbeat_us), last_seen[rows.market] + 1)
    first = np.searchsorted(polls, rows.ts, side="right")
    last = np.searchsorted(polls, bound, side="left")
    counts = 1 + np.where(rows.poll, np.maximum(last - first, 0), 0)
    source = np.repeat(np.arange(n), counts)
    k = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    ts = rows.ts[source].copy()
    held = k > 0
    ts[held] = polls[first[source[held]] + k[held] - 1]
    keep = (ts >= start_us) & (ts <= end_us)
    pick = source[keep]
    return StoredRows(
        rows.market[pick],
        ts[keep],
        rows.snapshot_id[pick],
        rows.yes_bid[pick],
        rows.yes_ask[pick],
        rows.poll[pick],
    )


@pytest.mark.parametrize("block_rows", [1 << 20, 7])
def test_matches_the_plain_formulation_on_random_histories(
    block_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Change-only and full histories, rows on and off the poll grid, repeated poll times,
    markets last seen early or never, in one block or in blocks of whole markets: the fast
    path and the plain one agree exactly."""
    monkeypatch.setattr(loader, "_EXPAND_BLOCK_ROWS", block_rows)
    rng = np.random.default_rng(7)
    for case in range(300):
        n_polls = int(rng.integers(0, 40))
        polls = np.sort(rng.choice(60, size=n_polls, replace=case % 5 == 0)).astype(np.int64) * M
        n_markets = int(rng.integers(1, 6))
        items = []
        for market in range(n_markets):
            count = int(rng.integers(0, 15))
            times = np.sort(rng.integers(-5, 65, size=count))
            for t in times:
                on_grid = n_polls and rng.random() < 0.7
                moment = int(rng.choice(polls)) if on_grid else int(t) * M
                items.append((market, moment, int(rng.integers(0, 1000)), rng.random() < 0.8))
        items.sort(key=lambda item: (item[0], item[1], item[2]))
        if not items:
            continue
        stored = StoredRows(
            market=np.array([i[0] for i in items], np.int32),
            ts=np.array([i[1] for i in items], np.int64),
            snapshot_id=np.array([i[2] for i in items], np.int64),
            yes_bid=np.arange(len(items), dtype=np.int32),
            yes_ask=np.arange(len(items), dtype=np.int32) + 7,
            poll=np.array([i[3] for i in items], np.bool_),
        )
        seen = rng.integers(-10, 70, size=n_markets).astype(np.int64) * M
        seen[rng.random(n_markets) < 0.2] = np.iinfo(np.int64).min // 2
        start, end = int(rng.integers(-5, 30)) * M, int(rng.integers(30, 70)) * M
        heartbeat = int(rng.integers(0, 20)) * M
        got = expand_to_polls(stored, polls, seen, start, end, heartbeat)
        want = reference_expand(stored, polls, seen, start, end, heartbeat)
        for name in StoredRows.__dataclass_fields__:
            assert getattr(got, name).tolist() == getattr(want, name).tolist(), (case, name)
