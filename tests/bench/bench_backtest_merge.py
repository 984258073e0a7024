"""Merging backfilled candles into a 10,000,000-snapshot run: time and peak memory.

Run: ``.venv/bin/python -m tests.bench.bench_backtest_merge [markets] [snapshots_per_market]``

A new install's run (ADR 0235): every market was polled for the last part of the window
(``snapshots_per_market`` one-minute snapshots, random-walk books) and has backfilled
1-minute candles for the window before its first poll (a fifth as many as its snapshots)
and in two gaps no poll saw. Each side runs in a fresh child process that builds the same
set, resets its high-water RSS and merges:

- baseline: the merge a competent engineer writes first (and this module had): append the
  candle rows to the columns, ``lexsort`` by market and time, gather every column;
- :func:`shared.backtest.coverage.fill_from_rows` (one ``searchsorted`` per market, each
  column written once into its final array).

Prints each side's seconds (best of 3, each in its own child) and its peak RSS above the
set as loaded, in MB and in copies of the set, and the ratios new / baseline.
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from tests.bench.rss import reset_peak, status_mib

MINUTE = 60_000_000


def _inputs(n_markets: int, per_market: int) -> tuple[Any, Any, Any, datetime, datetime]:
    """The snapshot set, its candles (grouped by market, time-ordered) and the window."""
    from shared.backtest.coverage import HistoryRows
    from shared.backtest.data import MarketInfo
    from tests.unit.backtest.synthetic import random_walk_set

    data = random_walk_set(n_markets, per_market, seed=5)
    first_poll = data.ts[data.segments()[0]] // MINUTE  # per market, its first minute
    before = per_market // 5
    gap = np.arange(before, dtype=np.int64) - before  # minutes before the first poll
    candle_minutes = first_poll[:, None] + gap[None, :]
    # Two 30-minute gaps inside the polled part: drop those snapshots, keep the candles.
    holes = [per_market // 3, 2 * per_market // 3]
    keep = np.ones(data.n_rows, dtype=np.bool_)
    within = np.tile(np.arange(per_market), n_markets)
    for h in holes:
        keep &= ~((within >= h) & (within < h + 30))
    hole_minutes = np.concatenate([np.arange(h, h + 30) for h in holes])
    minutes = np.concatenate(
        (candle_minutes, first_poll[:, None] + hole_minutes[None, :]), axis=1
    ).reshape(-1)
    market = np.repeat(np.arange(n_markets, dtype=np.int32), before + len(hole_minutes))
    candles = HistoryRows(
        market,
        minutes * MINUTE,
        np.full(len(market), 5_000, np.int32),
        np.zeros(len(market), np.int8),
    )
    data = data.subset(keep)
    start = datetime.fromtimestamp(int(minutes.min()) * 60 - 60, tz=UTC)
    end = datetime.fromtimestamp(int(data.ts.max()) // 1_000_000 + 120, tz=UTC)
    del market, minutes
    markets = [MarketInfo(ticker=t) for t in data.tickers]
    return data, candles, markets, start, end


def _baseline(data: Any, candles: Any) -> Any:
    """Append, lexsort, gather: the previous merge."""
    import dataclasses

    n_new = len(candles.ts)
    market = np.concatenate((data.market, candles.market))
    ts = np.concatenate((data.ts, candles.ts + MINUTE))
    order = np.lexsort((ts, market))
    return dataclasses.replace(
        data,
        market=market[order],
        ts=ts[order],
        snapshot_id=np.concatenate((data.snapshot_id, -np.arange(1, n_new + 1)))[order],
        yes_bid=np.concatenate((data.yes_bid, candles.price))[order],
        yes_ask=np.concatenate((data.yes_ask, candles.price))[order],
    )


def _child(kind: str, n_markets: int, per_market: int, out: Any) -> None:
    from shared.backtest.coverage import HistoryRows, fill_from_rows

    data, candles, markets, start, end = _inputs(n_markets, per_market)
    size_mb = sum(
        getattr(data, c).nbytes for c in ("market", "ts", "snapshot_id", "yes_bid", "yes_ask")
    ) / (1 << 20)
    reset_peak()
    base_mb = status_mib("VmRSS")
    began = time.perf_counter()
    if kind == "baseline":
        merged = _baseline(data, candles)
    else:
        merged, _ = fill_from_rows(markets, data, candles, HistoryRows.empty(), start, end)
    seconds = time.perf_counter() - began
    out.send(
        {
            "seconds": seconds,
            "peak_mb": status_mib("VmHWM") - base_mb,
            "size_mb": size_mb,
            "rows": int(merged.n_rows),
            "snapshots": int(data.n_rows),
        }
    )


def _run(kind: str, n_markets: int, per_market: int) -> dict[str, Any]:
    context = mp.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(kind, n_markets, per_market, send))
    child.start()
    figures: dict[str, Any] = receive.recv()
    child.join()
    return figures


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    n_markets = int(args[0]) if args else 2_000
    per_market = int(args[1]) if len(args) > 1 else 5_000
    results: dict[str, dict[str, Any]] = {}
    for kind in ("baseline", "merge"):
        runs = [_run(kind, n_markets, per_market) for _ in range(3)]
        best = min(runs, key=lambda r: r["seconds"])
        best["peak_mb"] = min(r["peak_mb"] for r in runs)
        results[kind] = best
        copies = best["peak_mb"] / best["size_mb"]
        print(
            f"{kind:>8}: {best['snapshots']:,} snapshots + {best['rows'] - best['snapshots']:,} "
            f"candles in {best['seconds']:.2f} s, peak +{best['peak_mb']:.0f} MB above the "
            f"{best['size_mb']:.0f} MB set ({copies:.2f} copies)",
            flush=True,
        )
    base, new = results["baseline"], results["merge"]
    print(
        f"merge / baseline: time {new['seconds'] / base['seconds']:.2f}, "
        f"peak memory {new['peak_mb'] / base['peak_mb']:.2f}"
    )


if __name__ == "__main__":
    main()
