"""The loader's poll-grid rebuild (ADR 0170) on hand-made rows: each stored poll snapshot
holds until the next one, its heartbeat, or the market's last poll; other sources don't."""

from __future__ import annotations

import numpy as np

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
