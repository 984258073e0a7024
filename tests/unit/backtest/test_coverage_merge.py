"""``fill_from_rows``: backfilled candles (else trades) fill the minutes a market's snapshots
leave uncovered, merged in time order, snapshots winning every minute they hold (ADR 0235).

Synthetic rows, no database: the same function the worker runs after reading the rows."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from shared.backtest import coverage
from shared.backtest.coverage import HistoryRows, fill_from_rows
from shared.backtest.data import MarketInfo, SnapshotRow, SnapshotSet, to_micros
from shared.backtest.engine import run_backtest
from shared.backtest.strategies import create
from tests.unit.backtest.synthetic import random_walk_set

T0 = datetime(2026, 6, 1, tzinfo=UTC)
END = T0 + timedelta(minutes=60)
MINUTE = 60_000_000
T0_US = to_micros(T0)
KALSHI, TRADES = 0, 1


def _market(ticker: str = "KXM-A") -> MarketInfo:
    return MarketInfo(ticker=ticker, series_ticker="KXM", close_time=END)


def _snapshots(markets: list[MarketInfo], times: dict[str, list[timedelta]]) -> SnapshotSet:
    rows = [
        SnapshotRow(ticker, T0 + at, 1_000 * (i + 1) + j, Decimal("0.40"), Decimal("0.44"))
        for i, (ticker, ats) in enumerate(times.items())
        for j, at in enumerate(ats)
    ]
    return SnapshotSet.from_rows(markets, rows)


def _rows(items: list[tuple[int, int, int, int]]) -> HistoryRows:
    """``(market, µs, ticks, source)`` rows, in the order the database gives them."""
    items = sorted(items, key=lambda r: (r[0], r[1]))
    if not items:
        return HistoryRows.empty()
    market, ts, price, source = zip(*items, strict=True)
    return HistoryRows(
        np.array(market, np.int32),
        np.array(ts, np.int64),
        np.array(price, np.int32),
        np.array(source, np.int8),
    )


def _candles(market: int, minutes: range, price: int = 5_000) -> list[tuple[int, int, int, int]]:
    return [(market, T0_US + m * MINUTE, price + m, KALSHI) for m in minutes]


def _minutes(n: int) -> list[timedelta]:
    return [timedelta(minutes=m) for m in range(n)]


def _rows_of(data: SnapshotSet, index: int) -> list[tuple[int, int, int, int]]:
    """``(minute offset µs, id, bid, ask)`` of one market, in replay order."""
    start, end = data.segments()
    lo, hi = int(start[index]), int(end[index])
    return [
        (
            int(data.ts[i]) - T0_US,
            int(data.snapshot_id[i]),
            int(data.yes_bid[i]),
            int(data.yes_ask[i]),
        )
        for i in range(lo, hi)
    ]


def test_snapshot_only_changes_nothing_and_copies_nothing() -> None:
    markets = [_market()]
    data = _snapshots(markets, {"KXM-A": _minutes(30)})
    merged, report = fill_from_rows(
        markets, data, HistoryRows.empty(), HistoryRows.empty(), T0, END
    )
    assert merged is data
    assert report.coverage == {"KXM-A": 0.5}
    assert report.fallback == {} and report.fallback_detail == {}
    assert report.market_sources == {"KXM-A": ["poll"]}
    assert report.to_json()["note"] is None


def test_candle_only_market_replays_each_candle_at_its_end_without_a_spread() -> None:
    markets = [_market()]
    data = _snapshots(markets, {"KXM-A": []})
    merged, report = fill_from_rows(
        markets, data, _rows(_candles(0, range(60))), HistoryRows.empty(), T0, END
    )
    rows = _rows_of(merged, 0)
    assert [r[0] for r in rows] == [(m + 1) * MINUTE for m in range(60)]
    assert [r[1] for r in rows] == list(range(-1, -61, -1))
    assert all(r[2] == r[3] == 5_000 + m for m, r in enumerate(rows))
    assert report.coverage == {"KXM-A": 1.0}
    assert report.fallback == {"KXM-A": "kalshi_candles"}
    detail = report.fallback_detail["KXM-A"]
    assert detail["minutes"] == {"kalshi_candles": 60} and detail["share"] == 1.0
    assert detail["spans"] == [
        {"from": T0.isoformat(), "to": END.isoformat(), "source": "kalshi_candles"}
    ]
    assert report.market_sources == {"KXM-A": ["kalshi_candles"]}


def test_candles_fill_the_window_before_the_first_snapshot() -> None:
    """A new install: candles backfilled over the window, polls only at its end."""
    markets = [_market()]
    data = _snapshots(markets, {"KXM-A": [timedelta(minutes=m) for m in range(50, 60)]})
    merged, report = fill_from_rows(
        markets, data, _rows(_candles(0, range(60))), HistoryRows.empty(), T0, END
    )
    rows = _rows_of(merged, 0)
    fallback = [r for r in rows if r[1] < 0]
    # Candles of minutes 0..49 (not those of the polled minutes), each at its end.
    assert [r[0] for r in fallback] == [(m + 1) * MINUTE for m in range(50)]
    # The candle of minute 49 closes at 50:00, the instant of the first poll: it comes first.
    assert rows[49][1] == -50 and rows[50][1] == 1_000
    assert rows[50][0] == rows[49][0] == 50 * MINUTE
    assert [r[1] for r in rows[50:]] == list(range(1_000, 1_010))  # snapshots as they were
    assert report.coverage == {"KXM-A": 1.0}
    detail = report.fallback_detail["KXM-A"]
    assert detail["share"] == pytest.approx(50 / 60, abs=1e-6)
    assert detail["minutes"] == {"kalshi_candles": 50}
    assert detail["spans"] == [
        {
            "from": T0.isoformat(),
            "to": (T0 + timedelta(minutes=50)).isoformat(),
            "source": "kalshi_candles",
        }
    ]
    assert report.market_sources == {"KXM-A": ["kalshi_candles", "poll"]}


def test_candles_fill_a_gap_no_poll_saw() -> None:
    markets = [_market()]
    times = [timedelta(minutes=m) for m in [*range(20), *range(40, 60)]]
    data = _snapshots(markets, {"KXM-A": times})
    merged, report = fill_from_rows(
        markets, data, _rows(_candles(0, range(60))), HistoryRows.empty(), T0, END
    )
    rows = _rows_of(merged, 0)
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)
    fallback = [r for r in rows if r[1] < 0]
    assert [r[0] for r in fallback] == [(m + 1) * MINUTE for m in range(20, 40)]
    assert [r[2] for r in fallback] == [5_000 + m for m in range(20, 40)]
    assert report.coverage == {"KXM-A": 1.0}
    spans = report.fallback_detail["KXM-A"]["spans"]
    assert [(s["from"], s["to"]) for s in spans] == [
        ((T0 + timedelta(minutes=20)).isoformat(), (T0 + timedelta(minutes=40)).isoformat())
    ]


def test_a_candle_of_a_minute_that_holds_a_snapshot_is_dropped() -> None:
    """Snapshot at 10:30 (mid-minute): the candle of minute 10 goes, the one of minute 9
    (known at 10:00) stays and comes before the snapshot."""
    markets = [_market()]
    data = _snapshots(markets, {"KXM-A": [timedelta(minutes=10, seconds=30)]})
    merged, report = fill_from_rows(
        markets, data, _rows(_candles(0, range(9, 12))), HistoryRows.empty(), T0, END
    )
    rows = _rows_of(merged, 0)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (10 * MINUTE, -1, 5_009),
        (10 * MINUTE + 30_000_000, 1_000, 4_000),
        (12 * MINUTE, -2, 5_011),
    ]
    # Minutes 9, 10 (snapshot) and 11 of the 60.
    assert report.coverage["KXM-A"] == pytest.approx(3 / 60)
    assert report.fallback_detail["KXM-A"]["minutes"] == {"kalshi_candles": 2}


def test_trades_fill_only_minutes_with_neither_snapshot_nor_candle() -> None:
    markets = [_market()]
    data = _snapshots(markets, {"KXM-A": [timedelta(minutes=5)]})
    trades = _rows(
        [
            (0, T0_US + 5 * MINUTE + 10_000_000, 6_000, TRADES),  # minute 5: a snapshot
            (0, T0_US + 6 * MINUTE + 10_000_000, 6_100, TRADES),  # minute 6: a candle
            (0, T0_US + 7 * MINUTE + 10_000_000, 6_200, TRADES),  # minute 7: nothing else
            (0, T0_US + 7 * MINUTE + 50_000_000, 6_300, TRADES),
        ]
    )
    merged, report = fill_from_rows(markets, data, _rows(_candles(0, range(6, 7))), trades, T0, END)
    rows = _rows_of(merged, 0)
    assert [(r[0], r[2]) for r in rows] == [
        (5 * MINUTE, 4_000),
        (7 * MINUTE, 5_006),  # the candle of minute 6, at its end
        (7 * MINUTE + 10_000_000, 6_200),
        (7 * MINUTE + 50_000_000, 6_300),
    ]
    detail = report.fallback_detail["KXM-A"]
    assert detail["minutes"] == {"kalshi_candles": 1, "trades": 1}
    assert detail["source"] == "kalshi_candles"
    assert [s["source"] for s in detail["spans"]] == ["kalshi_candles", "trades"]
    assert report.coverage["KXM-A"] == pytest.approx(3 / 60)
    assert report.market_sources["KXM-A"] == ["kalshi_candles", "poll", "trades"]


def test_a_candle_not_known_by_the_window_end_is_not_replayed() -> None:
    markets = [_market()]
    data = _snapshots(markets, {"KXM-A": []})
    end = T0 + timedelta(minutes=10, seconds=30)
    merged, report = fill_from_rows(
        markets, data, _rows(_candles(0, range(11))), HistoryRows.empty(), T0, end
    )
    assert [r[0] for r in _rows_of(merged, 0)] == [(m + 1) * MINUTE for m in range(10)]
    assert report.fallback_detail["KXM-A"]["minutes"] == {"kalshi_candles": 10}


@pytest.mark.parametrize("block_rows", [1 << 20, 7])
def test_many_markets_stay_grouped_ordered_and_keep_every_snapshot(
    block_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small blocks take the blockwise paths (minute counts, placing the snapshots) that
    # only sets over a million rows reach otherwise.
    monkeypatch.setattr(coverage, "_BLOCK_ROWS", block_rows)
    markets = [_market(f"KXM-{c}") for c in "ABCD"]
    data = _snapshots(
        markets,
        {
            "KXM-A": [timedelta(minutes=m) for m in range(30, 60)],
            "KXM-B": _minutes(60),  # fully polled: its candles all go
            "KXM-C": [],  # candles only
            "KXM-D": [timedelta(minutes=m) for m in range(0, 60, 2)],  # every other minute
        },
    )
    candles = _rows([c for i in range(4) for c in _candles(i, range(60))])
    merged, report = fill_from_rows(markets, data, candles, HistoryRows.empty(), T0, END)
    assert np.all(np.diff(merged.market) >= 0)
    start, end = merged.segments()
    for index in range(4):
        ts = merged.ts[start[index] : end[index]]
        assert np.all(np.diff(ts) >= 0), markets[index].ticker
    own = merged.snapshot_id[merged.snapshot_id > 0]
    assert own.tolist() == data.snapshot_id.tolist()
    ids = merged.snapshot_id[merged.snapshot_id < 0]
    assert sorted(ids.tolist()) == list(range(-len(ids), 0))
    assert report.coverage == {t.ticker: 1.0 for t in markets}
    assert set(report.fallback) == {"KXM-A", "KXM-C", "KXM-D"}
    assert report.fallback_detail["KXM-D"]["minutes"] == {"kalshi_candles": 30}
    assert report.fallback_detail["KXM-D"]["spans_total"] == 30
    assert len(report.fallback_detail["KXM-D"]["spans"]) == 8
    assert report.market_sources["KXM-B"] == ["kalshi_candles", "poll"]


def test_the_engine_trades_on_the_merged_set() -> None:
    markets = [_market()]
    data = _snapshots(markets, {"KXM-A": [timedelta(minutes=m) for m in range(55, 60)]})
    zigzag = [(0, T0_US + m * MINUTE, 4_000 + (m % 2) * 1_500, KALSHI) for m in range(60)]
    merged, _ = fill_from_rows(markets, data, _rows(zigzag), HistoryRows.empty(), T0, END)
    strategy = create("fade_large_moves", {"lookback": 1, "threshold": 0.05, "contracts": 1})
    entries = run_backtest(merged, strategy).trades.rows(merged)
    assert entries and all(t["entry_snapshot_id"] < 0 for t in entries)


def test_the_merge_copies_the_snapshot_set_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memory: a 10,000,000-snapshot run must fit its worker, so the merge writes each
    column once into its final array (before: concatenate, sort, gather: three copies).
    Blocks of 65,536 rows stand for the million-row blocks of a 10,000,000-row set."""
    monkeypatch.setattr(coverage, "_BLOCK_ROWS", 1 << 16)
    data = random_walk_set(200, 2_000, seed=3)
    size = sum(
        getattr(data, c).nbytes for c in ("market", "ts", "snapshot_id", "yes_bid", "yes_ask")
    )
    markets = [MarketInfo(ticker=t) for t in data.tickers]
    start = datetime.fromtimestamp(int(data.ts.min()) // 1_000_000 - 60, tz=UTC)
    end = start + timedelta(days=2)
    # One candle per market in a minute after its polls: 200 replayed rows.
    last = data.ts[data.segments()[1] - 1]
    candles = HistoryRows(
        np.arange(200, dtype=np.int32),
        (last // MINUTE + 5) * MINUTE,
        np.full(200, 5_000, np.int32),
        np.zeros(200, np.int8),
    )
    tracemalloc.start()
    try:
        merged, report = fill_from_rows(markets, data, candles, HistoryRows.empty(), start, end)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert merged.n_rows == data.n_rows + 200
    assert len(report.fallback) == 200
    # One copy, its placement mask (a byte a row) and SnapshotSet's own check that rows
    # are grouped (np.diff of the market column): ~1.25; the old merge peaked at ~2.3.
    assert peak < 1.35 * size, (peak, size)


def test_candles_built_from_the_trade_tape_are_reported_as_trades() -> None:
    markets = [_market()]
    data = _snapshots(markets, {"KXM-A": []})
    built = _rows([(0, T0_US + m * MINUTE, 5_000, TRADES) for m in range(3)])
    merged, report = fill_from_rows(markets, data, built, HistoryRows.empty(), T0, END)
    assert merged.n_rows == 3
    assert report.fallback == {"KXM-A": "trades"}
    assert report.fallback_detail["KXM-A"]["minutes"] == {"trades": 3}
    assert report.market_sources == {"KXM-A": ["trades"]}
