"""What data backed a backtest: its sources, the coverage per market, and the fallback.

A run replays the project's own snapshots (``poll``, ``websocket``). Where they leave a
minute of the window uncovered (a market the project never observed, the days a new
install backfilled before it started polling, a gap where no poll saw the market),
backfilled history fills it: Kalshi's 1-minute candlesticks (``kalshi_candles`` in
``market_candles``, or candles the backfill built from the trade tape, ``trades``) or,
for a minute without even a candle, the public trade tape itself (``market_trades``).
:func:`fill_from_history` merges those into the snapshots in time order (ADR 0235):

- a candle stands for its minute ``[b, b + 60 s)`` and is replayed at its end (when it is
  known), as one snapshot whose bid and ask are both the mid of its closing quote (to the
  nearest tick), or its last trade price where it has no two-sided quote;
- a trade stands for the minute it happened in and is replayed at its own time and price;
- snapshots always win: a candle whose minute holds a snapshot is dropped, and a trade
  whose minute holds a snapshot or a replayed candle is dropped. A candle replayed at the
  very instant of a snapshot comes first (it is the previous minute's close);
- replayed history has negative snapshot ids and carries no spread, so a strategy's fills
  on it are optimistic by half a spread: the report's ``fallback`` names those markets and
  ``fallback_detail`` says which minutes (and what share of the window) they cover.

Coverage is measured at the run's resolution (one minute, the poll cadence): for each
market, the share of the minutes of the window in which the market was listed (its open to
close time, within the run's start and end) that the replay holds data for: a snapshot
(counted as loaded, i.e. after the change-only storage was expanded back onto the poll
grid, so a quiet market the poller kept seeing counts as covered) or replayed history.

The merge copies the snapshot set once: the replayed rows' places follow from one
``searchsorted`` per market, and each column is written straight into its final array.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.backtest.data import MarketInfo, SnapshotSet, from_micros, to_micros

__all__ = [
    "HISTORY_SOURCES",
    "MAX_SPANS",
    "RESOLUTION_S",
    "DataReport",
    "HistoryContext",
    "HistoryRows",
    "fill_from_history",
    "fill_from_rows",
    "read_history_context",
]

RESOLUTION_S = 60
"""The run's resolution for coverage: one minute, the poll cadence."""

HISTORY_SOURCES: tuple[str, ...] = ("kalshi_candles", "trades")
"""Backfilled sources, by the code :class:`HistoryRows` keeps in ``source``."""

MAX_SPANS = 8
"""Fallback spans listed per market in the report (``spans_total`` counts them all), so a
gappy market cannot grow a stored report without bound (2,000 markets a run)."""

_MINUTE_US = RESOLUTION_S * 1_000_000
_CANDLE, _TRADE = 0, 1
_BLOCK_ROWS = 1 << 20
_HOLD = timedelta(hours=2)
"""A change-only snapshot holds until the next one (heartbeat 1 h): one stored up to this
long before the window still backs it."""

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]
Bools = npt.NDArray[np.bool_]


@dataclass
class DataReport:
    """Stored with the run and returned with it (``data``)."""

    resolution_s: int = RESOLUTION_S
    sources: list[str] = field(default_factory=list)
    coverage: dict[str, float] = field(default_factory=dict)
    market_sources: dict[str, list[str]] = field(default_factory=dict)
    fallback: dict[str, str] = field(default_factory=dict)  # ticker -> main source replayed
    fallback_detail: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        covered = list(self.coverage.values())
        return {
            "resolution_s": self.resolution_s,
            "sources": self.sources,
            "coverage": {t: round(c, 6) for t, c in self.coverage.items()},
            "mean_coverage": round(sum(covered) / len(covered), 6) if covered else 0.0,
            "market_sources": self.market_sources,
            "fallback": self.fallback,
            "fallback_detail": self.fallback_detail,
            "note": (
                "markets listed in 'fallback' replayed backfilled history without a spread "
                "for the minutes their snapshots do not cover; 'fallback_detail' says which"
                if self.fallback
                else None
            ),
        }


@dataclass(frozen=True)
class HistoryRows:
    """Backfilled rows of one kind, grouped by market index and time-ordered within each:
    ``market``, ``ts`` (µs; a candle's bucket start, a trade's time), ``price`` (ticks;
    ``MISSING`` for a candle with neither a two-sided quote nor a trade) and ``source``
    (an index into :data:`HISTORY_SOURCES`)."""

    market: I32
    ts: I64
    price: I32
    source: I8

    @classmethod
    def empty(cls) -> HistoryRows:
        return cls(
            np.zeros(0, np.int32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int8),
        )

    def bounds(self, n_markets: int) -> I64:
        """Where each market's rows start (``n_markets + 1`` entries): one search for all
        of them, keyed in the column's own type (a Python int key would cast the whole
        column on every call, once per market)."""
        keys = np.arange(n_markets + 1, dtype=self.market.dtype)
        return np.searchsorted(self.market, keys, side="left").astype(np.int64)

    def slice(self, lo: int, hi: int) -> tuple[I64, I32, I8]:
        return self.ts[lo:hi], self.price[lo:hi], self.source[lo:hi]


_CANDLES_SQL = (
    "COPY (SELECT s.idx, (extract(epoch FROM c.bucket_start) * 1000000)::int8, "
    "COALESCE(round(COALESCE(c.mid_close, c.last_close) * 10000)::int4, -1), "
    "(c.source = 'trades')::int::int2 "
    "FROM bt_selected s JOIN market_candles c ON c.ticker = s.ticker "
    "WHERE c.resolution_s = 60 AND c.source IN ('kalshi_candles', 'trades') "
    "AND c.bucket_start >= {start} AND c.bucket_start < {end} "
    "ORDER BY s.idx, c.bucket_start) TO STDOUT (FORMAT binary)"
)
_TRADES_SQL = (
    "COPY (SELECT s.idx, (extract(epoch FROM t.ts) * 1000000)::int8, "
    "round(t.yes_price_dollars * 10000)::int4, 1::int2 "
    "FROM bt_selected s JOIN market_trades t ON t.ticker = s.ticker "
    "WHERE t.ts >= {start} AND t.ts <= {end} ORDER BY s.idx, t.ts) TO STDOUT (FORMAT binary)"
)
_FIELDS = (("market", ">i4"), ("ts", ">i8"), ("price", ">i4"), ("source", ">i2"))


def _history_rows(
    raw: Any, tickers: Sequence[str], start: datetime, end: datetime
) -> tuple[HistoryRows, HistoryRows]:
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

    def rows(records: npt.NDArray[Any]) -> HistoryRows:
        return HistoryRows(
            records["market"].astype(np.int32),
            records["ts"].astype(np.int64),
            records["price"].astype(np.int32),
            records["source"].astype(np.int8),
        )

    return rows(candles), rows(trades)


def _listed_minutes(market: MarketInfo, open_ts: datetime | None, start: int, end: int) -> int:
    lo = start if open_ts is None else max(start, to_micros(open_ts))
    hi = end if market.close_time is None else min(end, to_micros(market.close_time))
    return max(0, (hi - lo) // _MINUTE_US)


def _snapshot_minutes(data: SnapshotSet, first: int, stop: int) -> I64:
    """Per market, the distinct minutes in ``[first, stop)`` holding a snapshot: one pass
    over the rows in blocks (the set is grouped by market and time-ordered within each, so
    a minute is new where the market or the minute changes), so the temporaries are a
    block's size, never the set's."""
    counts = np.zeros(data.n_markets, dtype=np.int64)
    previous = (-1, -1)
    for lo in range(0, data.n_rows, _BLOCK_ROWS):
        market = data.market[lo : lo + _BLOCK_ROWS]
        minute = data.ts[lo : lo + _BLOCK_ROWS] // _MINUTE_US
        new = np.empty(len(minute), dtype=np.bool_)
        new[0] = (int(market[0]), int(minute[0])) != previous
        np.not_equal(minute[1:], minute[:-1], out=new[1:])
        new[1:] |= market[1:] != market[:-1]
        new &= minute >= first
        new &= minute < stop
        counts += np.bincount(market[new], minlength=data.n_markets)
        previous = (int(market[-1]), int(minute[-1]))
    return counts


def _holds(sorted_values: I64, queries: I64) -> Bools:
    """Whether each of ``queries`` is in ``sorted_values``."""
    if not len(sorted_values):
        return np.zeros(len(queries), dtype=np.bool_)
    at = np.searchsorted(sorted_values, queries)
    found: Bools = sorted_values[np.minimum(at, len(sorted_values) - 1)] == queries
    return found


@dataclass(frozen=True)
class _Fill:
    """One market's replayed history: the rows (time-ordered) and where they go."""

    at: I64  # index in the snapshot set before which each row goes
    ts: I64
    price: I32
    minutes: I64  # the window minutes it covers, ascending
    minute_source: I8  # the source of each of those minutes


def _fill_market(
    snapshot_ts: I64,
    offset: int,
    candles: tuple[I64, I32, I8],
    trades: tuple[I64, I32, I8],
    start_us: int,
    end_us: int,
) -> _Fill | None:
    """The history replayed for one market whose snapshots (``snapshot_ts``, starting at
    row ``offset`` of the set) leave minutes uncovered: the module docstring's rules."""
    first, stop = start_us // _MINUTE_US, -(-end_us // _MINUTE_US)
    snapshot_minutes = snapshot_ts // _MINUTE_US
    candle_ts, candle_price, candle_source = candles
    keep = candle_ts >= start_us
    keep &= candle_ts + _MINUTE_US <= end_us  # known by the window's end
    keep &= ~_holds(snapshot_minutes, candle_ts // _MINUTE_US)
    candle_ts, candle_price, candle_source = (
        candle_ts[keep],
        candle_price[keep],
        candle_source[keep],
    )
    candle_minutes = candle_ts // _MINUTE_US
    trade_ts, trade_price, _ = trades
    trade_minutes = trade_ts // _MINUTE_US
    keep = (trade_ts >= start_us) & (trade_ts <= end_us)
    keep &= ~_holds(snapshot_minutes, trade_minutes)
    keep &= ~_holds(candle_minutes, trade_minutes)
    trade_ts, trade_price, trade_minutes = trade_ts[keep], trade_price[keep], trade_minutes[keep]
    if not len(candle_ts) and not len(trade_ts):
        return None
    if len(trade_ts):
        ts = np.concatenate((candle_ts + _MINUTE_US, trade_ts))
        price = np.concatenate((candle_price, trade_price))
        order = np.argsort(ts, kind="stable")
        ts, price = ts[order], price[order]
        trade_only = np.unique(trade_minutes)
        minutes = np.concatenate((candle_minutes, trade_only))
        sources = np.concatenate((candle_source, np.full(len(trade_only), _TRADE, np.int8)))
        order = np.argsort(minutes, kind="stable")
        minutes, sources = minutes[order], sources[order].astype(np.int8)
    else:  # candles alone: already in time order
        ts, price, minutes, sources = (
            candle_ts + _MINUTE_US,
            candle_price,
            candle_minutes,
            candle_source,
        )
    inside = (minutes >= first) & (minutes < stop)
    return _Fill(
        at=offset + np.searchsorted(snapshot_ts, ts, side="left").astype(np.int64),
        ts=ts,
        price=price,
        minutes=minutes[inside],
        minute_source=sources[inside],
    )


def _spans(fill: _Fill) -> list[dict[str, str]]:
    """Runs of consecutive fallback minutes of one source, as ``[from, to)`` times."""
    minutes, sources = fill.minutes, fill.minute_source
    if not len(minutes):
        return []
    breaks = np.flatnonzero((np.diff(minutes) != 1) | (sources[1:] != sources[:-1])) + 1
    starts = np.concatenate(([0], breaks))
    ends = np.concatenate((breaks, [len(minutes)]))
    return [
        {
            "from": from_micros(int(minutes[a]) * _MINUTE_US).isoformat(),
            "to": from_micros((int(minutes[b - 1]) + 1) * _MINUTE_US).isoformat(),
            "source": HISTORY_SOURCES[int(sources[a])],
        }
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True)
    ]


def _detail(fill: _Fill, listed: int) -> dict[str, Any]:
    """One market's ``fallback_detail`` (``source`` the one with the most minutes)."""
    per_source = np.bincount(fill.minute_source, minlength=len(HISTORY_SOURCES))
    spans = _spans(fill)
    return {
        "source": HISTORY_SOURCES[int(np.argmax(per_source))],
        "minutes": {
            s: int(c) for s, c in zip(HISTORY_SOURCES, per_source.tolist(), strict=True) if c
        },
        "share": round(min(1.0, len(fill.minutes) / listed), 6) if listed else 0.0,
        "spans": spans[:MAX_SPANS],
        "spans_total": len(spans),
    }


def _merge(data: SnapshotSet, fills: dict[int, _Fill]) -> SnapshotSet:
    """``data`` with the replayed rows in place: every column written once into its final
    array (the replayed rows at their places, the snapshots into the rest), so the set is
    copied once and no sort runs over it. Replayed rows get ids -1, -2, ... in order.
    ``fills`` is emptied as its rows are gathered."""
    if not fills:
        return data
    k, n = sum(len(f.at) for f in fills.values()), data.n_rows
    dest = np.empty(k, dtype=np.int64)
    ts = np.empty(k, dtype=data.ts.dtype)
    price = np.empty(k, dtype=np.int32)
    market = np.empty(k, dtype=data.market.dtype)
    placed_rows = 0
    for index in sorted(fills):  # market order, so the insertion points never go back
        fill = fills.pop(index)
        rows = slice(placed_rows, placed_rows + len(fill.at))
        dest[rows], ts[rows], price[rows], market[rows] = fill.at, fill.ts, fill.price, index
        placed_rows = rows.stop
        del fill
    dest += np.arange(k, dtype=np.int64)  # each earlier replayed row shifts the next one
    rest = np.ones(n + k, dtype=np.bool_)
    rest[dest] = False
    # Numpy turns a boolean mask into an index array (8 bytes a row) to assign through
    # it, so the snapshots go in block by block: that array is a block's, not the set's.
    blocks = range(0, n + k, _BLOCK_ROWS)
    taken = np.cumsum([0, *(int(np.count_nonzero(rest[b : b + _BLOCK_ROWS])) for b in blocks)])

    def placed(column: npt.NDArray[Any], values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        out = np.empty(n + k, dtype=column.dtype)
        out[dest] = values
        for i, b in enumerate(blocks):
            out[b : b + _BLOCK_ROWS][rest[b : b + _BLOCK_ROWS]] = column[taken[i] : taken[i + 1]]
        return out

    return dataclasses.replace(
        data,
        market=placed(data.market, market),
        ts=placed(data.ts, ts),
        snapshot_id=placed(data.snapshot_id, np.arange(-1, -k - 1, -1, dtype=np.int64)),
        yes_bid=placed(data.yes_bid, price),
        yes_ask=placed(data.yes_ask, price),
    )


def fill_from_rows(
    markets: Sequence[MarketInfo],
    data: SnapshotSet,
    candles: HistoryRows,
    trades: HistoryRows,
    start: datetime,
    end: datetime,
    *,
    opens: Mapping[str, datetime | None] | None = None,
    own_sources: Mapping[str, Sequence[str]] | None = None,
) -> tuple[SnapshotSet, DataReport]:
    """``data`` with ``candles`` and ``trades`` merged into the minutes its snapshots leave
    uncovered, and the report (see the module docstring). ``opens`` are the markets' open
    times (coverage counts listed minutes only), ``own_sources`` each market's snapshot
    sources in the window in Postgres (default ``poll``); the sources of rows the loader
    read from the archive come with ``data`` (``archived_sources``)."""
    opens = opens or {}
    start_us, end_us = to_micros(start), to_micros(end)
    first, stop = start_us // _MINUTE_US, -(-end_us // _MINUTE_US)
    n_markets = len(markets)
    seg_start, seg_end = data.segments()
    covered = _snapshot_minutes(data, first, stop)
    listed = [_listed_minutes(m, opens.get(m.ticker), start_us, end_us) for m in markets]
    candle_at, trade_at = candles.bounds(n_markets), trades.bounds(n_markets)
    with_history = np.flatnonzero((candle_at[1:] > candle_at[:-1]) | (trade_at[1:] > trade_at[:-1]))
    report = DataReport()
    fills: dict[int, _Fill] = {}
    for index in with_history.tolist():
        lo, hi = int(seg_start[index]), int(seg_end[index])
        fill = _fill_market(
            data.ts[lo:hi],
            lo,
            candles.slice(int(candle_at[index]), int(candle_at[index + 1])),
            trades.slice(int(trade_at[index]), int(trade_at[index + 1])),
            start_us,
            end_us,
        )
        if fill is None:
            continue
        if len(fill.minutes):
            ticker = markets[index].ticker
            covered[index] += len(fill.minutes)
            detail = _detail(fill, listed[index])
            report.fallback[ticker] = detail["source"]
            report.fallback_detail[ticker] = detail
        fills[index] = dataclasses.replace(fill, minutes=_NO_MINUTES, minute_source=_NO_SOURCES)
    candle_sources: dict[int, set[str]] = {}
    pairs = np.unique(candles.market.astype(np.int64) * len(HISTORY_SOURCES) + candles.source)
    for pair in pairs.tolist():  # (market, source) pairs: a few per market, not per candle
        market_index, source = divmod(pair, len(HISTORY_SOURCES))
        candle_sources.setdefault(market_index, set()).add(HISTORY_SOURCES[source])
    all_sources: set[str] = set()
    for index, market in enumerate(markets):
        ticker = market.ticker
        sources: set[str] = set(candle_sources.get(index, ()))
        if seg_end[index] > seg_start[index]:
            sources |= set(("poll",) if own_sources is None else own_sources.get(ticker, ()))
            sources |= set(data.archived_sources.get(ticker, ()))
        if trade_at[index + 1] > trade_at[index]:
            sources.add("trades")
        n_listed = listed[index]
        report.coverage[ticker] = min(1.0, int(covered[index]) / n_listed) if n_listed else 0.0
        report.market_sources[ticker] = sorted(sources)
        all_sources |= sources
    report.sources = sorted(all_sources)
    return _merge(data, fills), report


_NO_MINUTES = np.zeros(0, dtype=np.int64)
_NO_SOURCES = np.zeros(0, dtype=np.int8)


def fill_from_history(
    raw: Any,
    markets: Sequence[MarketInfo],
    data: SnapshotSet,
    start: datetime,
    end: datetime,
    *,
    context: HistoryContext | None = None,
) -> tuple[SnapshotSet, DataReport]:
    """``data`` with backfilled history merged into the minutes its snapshots leave
    uncovered, and the report of what backed the run (see the module docstring).

    ``context`` is :func:`read_history_context` for the same markets and window, read
    beforehand (the worker reads it on a second connection while the loader's COPY runs,
    ADR 0240); without it, it is read here. The candle and trade COPY runs only when the
    context found a backfilled row in the window."""
    tickers = [m.ticker for m in markets]
    if context is None:
        context = read_history_context(raw, tickers, start, end)
    candles, trades = HistoryRows.empty(), HistoryRows.empty()
    if context.candles or context.trades:
        candles, trades = _history_rows(raw, tickers, start, end)
    return fill_from_rows(
        markets,
        data,
        candles,
        trades,
        start,
        end,
        opens=context.opens,
        own_sources=context.own_sources,
    )


@dataclass(frozen=True)
class HistoryContext:
    """What :func:`fill_from_history` reads besides the backfilled rows themselves: the
    markets' open times, their own snapshot sources in the window, and whether any
    backfilled candle or trade lies in it."""

    opens: dict[str, datetime | None]
    own_sources: dict[str, list[str]]
    candles: bool  # a backfilled 1-minute candle of the selection lies in the window
    trades: bool  # so does a trade


_POLL = "poll"

# Per market: its open time and whether a poll snapshot and any other snapshot lie in the
# window. The poll probe stops at the market's first entry of the (ticker, ts, source)
# index; the other one reads the market's entries of the window without aggregating them
# (the DISTINCT it replaces sorted every one), and finds nothing unless the streamer wrote.
_CONTEXT_SQL = (
    "SELECT u.t, m.open_time, "
    "EXISTS (SELECT 1 FROM market_snapshots s WHERE s.ticker = u.t AND s.ts >= %s "
    f"AND s.ts <= %s AND s.source = '{_POLL}'), "
    "EXISTS (SELECT 1 FROM market_snapshots s WHERE s.ticker = u.t AND s.ts >= %s "
    f"AND s.ts <= %s AND s.source <> '{_POLL}') "
    "FROM {array_sql} AS u(t) LEFT JOIN markets m ON m.ticker = u.t"
)
_HISTORY_EXISTS_SQL = (
    "SELECT EXISTS (SELECT 1 FROM market_candles c WHERE c.ticker = ANY({array_sql}) "
    "AND c.resolution_s = 60 AND c.source IN ('kalshi_candles', 'trades') "
    "AND c.bucket_start >= %s AND c.bucket_start < %s), "
    "EXISTS (SELECT 1 FROM market_trades t WHERE t.ticker = ANY({array_sql}) "
    "AND t.ts >= %s AND t.ts <= %s)"
)


def read_history_context(
    raw: Any, tickers: Sequence[str], start: datetime, end: datetime
) -> HistoryContext:
    """Open times, each market's own snapshot sources in the window (from ``_HOLD``
    before it), and whether any backfilled candle or trade of ``tickers`` lies in it.

    Two statements, whatever the window holds: per market its open time and two probes
    of the (ticker, ts, source) index (a poll snapshot: its first entry; another source:
    its entries of the window, without the sort the DISTINCT it replaces ran over every
    one), then one probe for backfilled rows. Only a market with another source reads
    the full list of its sources."""
    from shared.backtest.loader import _tickers_param

    opens: dict[str, datetime | None] = {}
    own: dict[str, list[str]] = {}
    if not tickers:
        return HistoryContext(opens, own, candles=False, trades=False)
    array_sql, value = _tickers_param(tickers)
    low = start - _HOLD
    cursor = raw.cursor()
    try:
        cursor.execute(
            _CONTEXT_SQL.replace("{array_sql}", f"unnest({array_sql})"),
            (low, end, low, end, value),
        )
        mixed: list[str] = []
        for ticker, open_time, polled, other in cursor.fetchall():
            opens[ticker] = open_time
            own[ticker] = [_POLL] if polled else []
            if other:
                mixed.append(ticker)
        if mixed:  # rare: a market with snapshots of another source lists them all
            own.update(_own_sources_now(cursor, mixed, start, end))
        cursor.execute(
            _HISTORY_EXISTS_SQL.replace("{array_sql}", array_sql),
            (value, start, end, value, start, end),
        )
        found = cursor.fetchone()
    finally:
        raw.rollback()
    return HistoryContext(
        opens, own, candles=bool(found and found[0]), trades=bool(found and found[1])
    )


def _own_sources_now(
    cursor: Any, tickers: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[str]]:
    cursor.execute(
        "SELECT t.ticker, array(SELECT DISTINCT s.source FROM market_snapshots s "
        "WHERE s.ticker = t.ticker AND s.ts >= %s AND s.ts <= %s ORDER BY 1) "
        "FROM unnest(%s::text[]) AS t(ticker)",
        (start - _HOLD, end, list(tickers)),
    )
    return {t: list(s or ()) for t, s in cursor.fetchall()}
