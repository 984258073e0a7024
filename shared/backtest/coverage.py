"""What data backed a backtest: its sources, the coverage per market, and the fallback.

A run replays the project's own snapshots (``poll``, ``websocket``). A market the project
never observed in the window may still have history from the backfill: Kalshi's 1-minute
candlesticks (``kalshi_candles`` in ``market_candles``) or the public trade tape
(``trades`` in ``market_trades``). :func:`fill_from_history` gives the engine those markets
as snapshots, one per candle (at the candle's end, the mid of its closing bid and ask, to the
nearest tick, as
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
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.backtest.data import MarketInfo, SnapshotSet, to_micros

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


_CANDLES_SQL = (
    "COPY (SELECT s.idx, (extract(epoch FROM c.bucket_start) * 1000000)::int8, "
    "COALESCE(round(COALESCE(c.mid_close, c.last_close) * 10000)::int4, -1) "
    "FROM bt_selected s JOIN market_candles c ON c.ticker = s.ticker "
    "WHERE c.resolution_s = 60 AND c.source IN ('kalshi_candles', 'trades') "
    "AND c.bucket_start >= {start} AND c.bucket_start < {end} "
    "ORDER BY s.idx, c.bucket_start) TO STDOUT (FORMAT binary)"
)
_TRADES_SQL = (
    "COPY (SELECT s.idx, (extract(epoch FROM t.ts) * 1000000)::int8, "
    "round(t.yes_price_dollars * 10000)::int4 "
    "FROM bt_selected s JOIN market_trades t ON t.ticker = s.ticker "
    "WHERE t.ts >= {start} AND t.ts <= {end} ORDER BY s.idx, t.ts) TO STDOUT (FORMAT binary)"
)
_FIELDS = (("market", ">i4"), ("ts", ">i8"), ("price", ">i4"))


@dataclass(frozen=True)
class _Rows:
    """Rows of one kind, grouped by market index: ``market``, ``ts`` (us), ``price``
    (ticks; the mid of a candle's closing quote to the nearest tick, else its last price)."""

    market: npt.NDArray[np.int32]
    ts: npt.NDArray[np.int64]
    price: npt.NDArray[np.int32]

    def of(self, index: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        lo = int(np.searchsorted(self.market, index, side="left"))
        hi = int(np.searchsorted(self.market, index, side="right"))
        return self.ts[lo:hi], self.price[lo:hi]


def _history_rows(
    raw: Any, tickers: Sequence[str], start: datetime, end: datetime
) -> tuple[_Rows, _Rows]:
    """Backfilled 1-minute candles and trades of ``tickers`` in the window: binary COPY
    into numpy, as the loader reads snapshots (a month of minutes for 200 markets is
    ~900,000 candles)."""
    from shared.backtest.loader import (
        _copy_out,
        _literal_ts,
        _parse_binary_copy,
        _select_markets,
    )

    cursor = raw.cursor()
    bounds = {"start": _literal_ts(start), "end": _literal_ts(end)}
    try:
        _select_markets(cursor, tickers)
        candles = _parse_binary_copy(_copy_out(cursor, _CANDLES_SQL.format(**bounds)), _FIELDS)
        trades = _parse_binary_copy(_copy_out(cursor, _TRADES_SQL.format(**bounds)), _FIELDS)
    finally:
        raw.rollback()

    def rows(records: npt.NDArray[Any]) -> _Rows:
        return _Rows(
            records["market"].astype(np.int32),
            records["ts"].astype(np.int64),
            records["price"].astype(np.int32),
        )

    return rows(candles), rows(trades)


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
        candle_ts, candle_price = candles.of(index)
        trade_ts, trade_price = trades.of(index)
        has_snapshots = seg_end[index] > seg_start[index]
        buckets = [data.ts[seg_start[index] : seg_end[index]] // _MINUTE_US]
        sources = set(own.get(ticker, ())) if has_snapshots else set()
        if len(candle_ts):
            sources.add("kalshi_candles")
            buckets.append(candle_ts // _MINUTE_US)
        if len(trade_ts):
            sources.add("trades")
            buckets.append(trade_ts // _MINUTE_US)
        if not has_snapshots:  # replay backfilled history
            if len(candle_ts):
                ts, ticks = candle_ts + _MINUTE_US, candle_price  # a candle is known at its end
                report.fallback[ticker] = "kalshi_candles"
            else:
                ts, ticks = trade_ts, trade_price
                if len(ts):
                    report.fallback[ticker] = "trades"
            keep = ts <= end_us
            ts, ticks = ts[keep], ticks[keep]
            n = len(ts)
            parts_market.append(np.full(n, index, dtype=np.int32))
            parts_ts.append(ts)
            parts_id.append(np.arange(next_id, next_id - n, -1, dtype=np.int64))
            parts_bid.append(ticks)
            parts_ask.append(ticks.copy())
            next_id -= n
        listed = _listed_minutes(market, opens.get(ticker), start_us, end_us)
        distinct = np.unique(np.concatenate(buckets))
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
