"""The poll-position table (ADR 0238) answers exactly as ``np.searchsorted(side="right")``."""

from __future__ import annotations

import numpy as np
import pytest

from shared.backtest.loader import _polls_through


def _polls(kind: int, k: int, rng: np.random.Generator) -> np.ndarray:
    if kind == 0:  # steady, like the poller
        return np.cumsum(rng.integers(50, 70, k))
    if kind == 1:  # random times, repeats included
        return np.sort(rng.integers(0, 1_000, k))
    if kind == 2:  # a burst at the start, then sparse
        return np.sort(np.concatenate([rng.integers(0, 10, k // 2), rng.integers(0, 10**6, k)]))
    return np.cumsum(rng.integers(0, 3, k)) * 1_000  # steps with repeated times


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_matches_searchsorted(kind: int) -> None:
    rng = np.random.default_rng(kind)
    for _ in range(300):
        polls = _polls(kind, int(rng.integers(0, 60)), rng).astype(np.int64)
        top = int(polls[-1]) + 100 if len(polls) else 100
        ts = rng.integers(-50, top + 50, int(rng.integers(0, 2_000))).astype(np.int64)
        if len(polls):  # rows at poll times, the common case
            ts[: len(ts) // 2] = rng.choice(polls, len(ts) // 2)
        got = _polls_through(polls, ts)
        np.testing.assert_array_equal(got, np.searchsorted(polls, ts, side="right"))


def test_rows_outside_the_polls_and_the_table_path() -> None:
    polls = np.arange(100, dtype=np.int64) * 60_000_000 + 7
    ts = np.concatenate([polls, polls + 1, polls - 1, [-(10**12), 10**15]]).astype(np.int64)
    ts = np.tile(ts, 3)  # enough rows for the table
    np.testing.assert_array_equal(
        _polls_through(polls, ts), np.searchsorted(polls, ts, side="right")
    )
