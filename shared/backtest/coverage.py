"""What data backed a backtest: its sources, the coverage per market, and the fallback.

A run replays the project's own snapshots (``poll``, ``websocket``). A market the project
never observed in the window may still have history from the backfill: Kalshi's 1-minute
candlesticks (``kalshi_candles`` in ``market_candles``) or the public trade tape
(``trades`` in ``market_trades``). :func:`fill_from_history` gives the engine those markets
as snapshots, one per candle (at the candle's end, the mid of its closing bid and ask as
both bid and ask, or its last trade price where it has no two-sided quote) or one per trade
(at the trade's price) where there is not even a candle, and says so: such prices carry
no spread, so a strategy's fills on them are optimistic by half a spread (ADR 0181).

Coverage is measured at the run's resolution (one minute, the poll cadence): for each
market, the share of the minutes of the window in which the market was listed (its open to
close time, within the run's start and end) that hold at least one data point, from any
source. Snapshots count as loaded, i.e. after the change-only storage was expanded back
onto the poll grid, so a quiet market the poller kept seeing counts as covered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.backtest.data import MarketInfo, SnapshotSet, to_micros
from shared.domain.units import MISSING_TICKS, PRICE_SCALE

__all__ = ["RESOLUTION_S", "DataReport", "fill_from_history"]

RESOLUTION_S = 60
"""The run's resolution for coverage: one minute, the poll cadence."""

_MINUTE_US = RESOLUTION_S * 1_000_000
_HOLD = timedelta(hours=2)
"""A change-only snapshot holds until the next one (heartbeat 1 h): one stored up to this
long before the window still backs it."""


@dataclass
class DataReport:
    """Stored with the run and returned with it (``data``)."""

    resolution_s: int = RESOLUTION_S
    sources: list[str] = field(default_factory=list)
    coverage: dict[str, float] = field(default_factory=dict)
    market_sources: dict[str, list[str]] = field(default_factory=dict)
    fallback: dict[str, str] = field(default_factory=dict)  # ticker -> source replayed

    def to_json(self) -> dict[str, Any]:
        covered = list(self.coverage.values())
        return {
            "resolution_s": self.resolution_s,
            "sources": self.sources,
            "coverage": {t: round(c, 6) for t, c in self.coverage.items()},
            "mean_coverage": round(sum(covered) / len(covered), 6) if covered else 0.0,
            "market_sources": self.market_sources,
            "fallback": self.fallback,
            "note": (
                "markets listed in 'fallback' replayed backfilled history without a spread"
                if self.fallback
                else None
            ),
        }


def _ticks(column: Sequence[Decimal | None]) -> npt.NDArray[np.int32]:
    """Exact dollars -> ticks; a mid of two prices can fall on half a tick, which rounds to
    the even tick (the engine's prices are whole ticks)."""
    out = np.full(len(column), MISSING_TICKS, dtype=np.int32)
    for i, value in enumerate(column):
        if value is not None:
            out[i] = int((Decimal(value) * PRICE_SCALE).to_integral_value(ROUND_HALF_EVEN))
    return out


def _history_rows(
    raw: Any, tickers: Sequence[str], start: datetime, end: datetime
) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
    """Backfilled 1-minute candles and trades of ``tickers`` in the window, per ticker."""
    cursor = raw.cursor()
    try:
        cursor.execute(
            "SELECT ticker, bucket_start, mid_close, last_close FROM market_candles "
            "WHERE ticker = ANY(%s::text[]) AND resolution_s = %s AND source IN "
            "('kalshi_candles', 'trades') AND bucket_start >= %s AND bucket_start < %s "
            "ORDER BY ticker, bucket_start",
            (list(tickers), RESOLUTION_S, start, end),
        )
        candles = cursor.fetchall()
        cursor.execute(
            "SELECT ticker, ts, yes_price_dollars FROM market_trades "
            "WHERE ticker = ANY(%s::text[]) AND ts >= %s AND ts <= %s ORDER BY ticker, ts",
            (list(tickers), start, end),
        )
        trades = cursor.fetchall()
    finally:
        raw.rollback()
    by_candle: dict[str, list[Any]] = {}
    for ticker, bucket, mid, last in candles:
        by_candle.setdefault(ticker, []).append((bucket, mid if mid is not None else last))
    by_trade: dict[str, list[Any]] = {}
    for ticker, ts, price in trades:
        by_trade.setdefault(ticker, []).append((ts, price))
    return (
        {t: tuple(zip(*rows, strict=True)) for t, rows in by_candle.items()},
        {t: tuple(zip(*rows, strict=True)) for t, rows in by_trade.items()},
    )


def _listed_minutes(market: MarketInfo, open_ts: datetime | None, start: int, end: int) -> int:
    lo = start if open_ts is None else max(start, to_micros(open_ts))
    hi = end if market.close_time is None else min(end, to_micros(market.close_time))
    return max(0, (hi - lo) // _MINUTE_US)


def fill_from_history(
    raw: Any,
    markets: Sequence[MarketInfo],
    data: SnapshotSet,
    start: datetime,
    end: datetime,
) -> tuple[SnapshotSet, DataReport]:
    """``data`` plus backfilled history for the markets it has no snapshot of, and the
    report of what backed the run (see the module docstring)."""
    tickers = [m.ticker for m in markets]
    candles, trades = _history_rows(raw, tickers, start, end)
    opens = _open_times(raw, tickers)
    seg_start, seg_end = data.segments()
    start_us, end_us = to_micros(start), to_micros(end)
    report = DataReport()
    parts_market: list[npt.NDArray[np.int32]] = [data.market]
    parts_ts: list[npt.NDArray[np.int64]] = [data.ts]
    parts_id: list[npt.NDArray[np.int64]] = [data.snapshot_id]
    parts_bid: list[npt.NDArray[np.int32]] = [data.yes_bid]
    parts_ask: list[npt.NDArray[np.int32]] = [data.yes_ask]
    own = _own_sources(raw, tickers, start, end)
    all_sources: set[str] = set()
    next_id = -1
    for index, market in enumerate(markets):
        ticker = market.ticker
        buckets = [data.ts[seg_start[index] : seg_end[index]] // _MINUTE_US]
        sources = set(own.get(ticker, ())) if seg_end[index] > seg_start[index] else set()
        if ticker in candles:
            sources.add("kalshi_candles")
            buckets.append(
                np.array([to_micros(b) // _MINUTE_US for b in candles[ticker][0]], np.int64)
            )
        if ticker in trades:
            sources.add("trades")
            buckets.append(
                np.array([to_micros(t) // _MINUTE_US for t in trades[ticker][0]], np.int64)
            )
        if seg_end[index] == seg_start[index]:  # no snapshot: replay backfilled history
            if ticker in candles:
                stamps, prices = candles[ticker]
                ts = np.array([to_micros(b) + _MINUTE_US for b in stamps], dtype=np.int64)
                report.fallback[ticker] = "kalshi_candles"
            elif ticker in trades:
                stamps, prices = trades[ticker]
                ts = np.array([to_micros(t) for t in stamps], dtype=np.int64)
                report.fallback[ticker] = "trades"
            else:
                ts, prices = np.zeros(0, np.int64), ()
            keep = ts <= end_us
            ts = ts[keep]
            ticks = _ticks(prices)[keep]
            n = len(ts)
            parts_market.append(np.full(n, index, dtype=np.int32))
            parts_ts.append(ts)
            parts_id.append(np.arange(next_id, next_id - n, -1, dtype=np.int64))
            parts_bid.append(ticks)
            parts_ask.append(ticks.copy())
            next_id -= n
        listed = _listed_minutes(market, opens.get(ticker), start_us, end_us)
        distinct = np.unique(np.concatenate(buckets)) if buckets else np.zeros(0, np.int64)
        inside = distinct[(distinct >= start_us // _MINUTE_US) & (distinct < end_us // _MINUTE_US)]
        report.coverage[ticker] = min(1.0, len(inside) / listed) if listed else 0.0
        report.market_sources[ticker] = sorted(sources)
        all_sources |= sources
    report.sources = sorted(all_sources)
    if not report.fallback:
        return data, report
    market_col = np.concatenate(parts_market)
    ts_col = np.concatenate(parts_ts)
    order = np.lexsort((ts_col, market_col))
    merged = SnapshotSet(
        tickers=data.tickers,
        series=data.series,
        close_ts=data.close_ts,
        settlements=data.settlements,
        market=market_col[order],
        ts=ts_col[order],
        snapshot_id=np.concatenate(parts_id)[order],
        yes_bid=np.concatenate(parts_bid)[order],
        yes_ask=np.concatenate(parts_ask)[order],
    )
    return merged, report


def _open_times(raw: Any, tickers: Sequence[str]) -> dict[str, datetime | None]:
    cursor = raw.cursor()
    try:
        cursor.execute(
            "SELECT ticker, open_time FROM markets WHERE ticker = ANY(%s::text[])",
            (list(tickers),),
        )
        return {t: o for t, o in cursor.fetchall()}
    finally:
        raw.rollback()


def _own_sources(
    raw: Any, tickers: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[str]]:
    """The snapshot sources of each market in the window (one index range per market)."""
    cursor = raw.cursor()
    try:
        cursor.execute(
            "SELECT t.ticker, array(SELECT DISTINCT s.source FROM market_snapshots s "
            "WHERE s.ticker = t.ticker AND s.ts >= %s AND s.ts <= %s) "
            "FROM unnest(%s::text[]) AS t(ticker)",
            (start - _HOLD, end, list(tickers)),
        )
        return {t: list(s or ()) for t, s in cursor.fetchall()}
    finally:
        raw.rollback()
