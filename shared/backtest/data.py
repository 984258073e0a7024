"""The in-memory columnar snapshot set every backtest replays.

Rows are grouped by market and ordered by time inside each market, so each market is one
contiguous segment ``[seg_start[m], seg_end[m])``. Everything is integers in fixed units:

* time: microseconds since the Unix epoch (UTC), ``int64``;
* prices: ticks of $0.0001 (``PRICE_SCALE`` per dollar), ``int32``; ``MISSING`` (-1) when the
  snapshot had no quote on that side.

Settlement results are kept apart from the prices (:class:`Settlements`) because strategies
must never see them: the engine hands strategies a :class:`StrategyView` built from the
prices and the public market facts only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.domain.units import MISSING_TICKS, price_ticks

__all__ = [
    "MISSING",
    "NO_TIME",
    "RESULT_CODES",
    "MarketInfo",
    "Settlements",
    "SnapshotRow",
    "SnapshotSet",
    "from_micros",
    "to_micros",
]

MISSING = MISSING_TICKS
NO_TIME = np.iinfo(np.int64).max
"""Sentinel for "no such time" (a market without a scheduled close)."""

RESULT_UNKNOWN, RESULT_YES, RESULT_NO, RESULT_VOID, RESULT_SCALAR = 0, 1, 2, 3, 4
RESULT_CODES = {"yes": RESULT_YES, "no": RESULT_NO, "void": RESULT_VOID, "scalar": RESULT_SCALAR}

I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
I8 = npt.NDArray[np.int8]


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    seconds, rest = divmod(int(micros), 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=rest)


@dataclass(frozen=True)
class MarketInfo:
    """What is known about a market before it settles, plus its (hidden) result."""

    ticker: str
    series_ticker: str | None = None
    event_ticker: str | None = None
    close_time: datetime | None = None
    result: str | None = None  # "yes", "no", "void", "scalar" or None (unknown)
    settlement_value_dollars: Decimal | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True)
class SnapshotRow:
    ticker: str
    ts: datetime
    snapshot_id: int
    yes_bid_dollars: Decimal | None
    yes_ask_dollars: Decimal | None


@dataclass(frozen=True)
class Settlements:
    """Per-market outcome, indexed like :attr:`SnapshotSet.tickers`; hidden from strategies."""

    result: I8  # RESULT_* codes
    value_ticks: I32  # YES settlement value for scalar results (ticks), else MISSING
    settle_ts: I64  # when the result became known (or NO_TIME)

    @classmethod
    def unknown(cls, n_markets: int) -> Settlements:
        return cls(
            result=np.zeros(n_markets, dtype=np.int8),
            value_ticks=np.full(n_markets, MISSING, dtype=np.int32),
            settle_ts=np.full(n_markets, NO_TIME, dtype=np.int64),
        )

    @classmethod
    def from_markets(cls, markets: Sequence[MarketInfo]) -> Settlements:
        out = cls.unknown(len(markets))
        for index, market in enumerate(markets):
            code = RESULT_CODES.get(market.result or "", 0)
            out.result[index] = code
            if market.settlement_value_dollars is not None:
                out.value_ticks[index] = price_ticks(market.settlement_value_dollars)
            if market.settled_at is not None:
                out.settle_ts[index] = to_micros(market.settled_at)
        return out

    def take(self, index: I64) -> Settlements:
        return Settlements(self.result[index], self.value_ticks[index], self.settle_ts[index])


@dataclass(frozen=True)
class SnapshotSet:
    """Snapshots of many markets, columnar, grouped by market and time-ordered within each."""

    tickers: tuple[str, ...]
    series: tuple[str | None, ...]
    close_ts: I64  # per market, NO_TIME when unknown
    settlements: Settlements
    market: I32  # per row: index into tickers
    ts: I64  # per row: microseconds since the epoch
    snapshot_id: I64
    yes_bid: I32  # ticks or MISSING
    yes_ask: I32
    # Per ticker, the snapshot sources of its rows read from the history archive: rows
    # carry no source, and a run's report (ADR 0235) reads the rest from Postgres.
    archived_sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.market)
        for name in ("ts", "snapshot_id", "yes_bid", "yes_ask"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"column {name} has {len(getattr(self, name))} rows, want {n}")
        if len(self.close_ts) != len(self.tickers) or len(self.series) != len(self.tickers):
            raise ValueError("per-market columns must have one entry per ticker")
        if n and np.any(self.market[1:] < self.market[:-1]):  # no int diff array
            raise ValueError("rows must be grouped by market (market index non-decreasing)")

    @property
    def n_rows(self) -> int:
        return len(self.market)

    @property
    def n_markets(self) -> int:
        return len(self.tickers)

    def segments(self) -> tuple[I64, I64]:
        """``(seg_start, seg_end)`` per market: each market's rows are a contiguous slice."""
        markets = np.arange(self.n_markets, dtype=np.int32)
        start = np.searchsorted(self.market, markets, side="left").astype(np.int64)
        end = np.searchsorted(self.market, markets, side="right").astype(np.int64)
        return start, end

    def subset(self, keep: npt.NDArray[np.bool_]) -> SnapshotSet:
        """The same markets with only the rows where ``keep`` is true (order preserved)."""
        return SnapshotSet(
            tickers=self.tickers,
            series=self.series,
            close_ts=self.close_ts,
            settlements=self.settlements,
            market=self.market[keep],
            ts=self.ts[keep],
            snapshot_id=self.snapshot_id[keep],
            yes_bid=self.yes_bid[keep],
            yes_ask=self.yes_ask[keep],
            archived_sources=self.archived_sources,
        )

    @classmethod
    def of_markets(
        cls,
        markets: Sequence[MarketInfo],
        *,
        market: I32,
        ts: I64,
        snapshot_id: I64,
        yes_bid: I32,
        yes_ask: I32,
        archived_sources: Mapping[str, tuple[str, ...]] | None = None,
    ) -> SnapshotSet:
        """A set whose per-market columns come from ``markets`` (in order) and whose per-row
        columns are given: the one way both :meth:`from_rows` and the database loader derive
        tickers, series, close times and settlements, so the two cannot drift apart."""
        return cls(
            tickers=tuple(m.ticker for m in markets),
            series=tuple(m.series_ticker for m in markets),
            close_ts=np.array(
                [NO_TIME if m.close_time is None else to_micros(m.close_time) for m in markets],
                dtype=np.int64,
            ),
            settlements=Settlements.from_markets(markets),
            market=market,
            ts=ts,
            snapshot_id=snapshot_id,
            yes_bid=yes_bid,
            yes_ask=yes_ask,
            archived_sources=archived_sources or {},
        )

    @classmethod
    def from_rows(cls, markets: Sequence[MarketInfo], rows: Iterable[SnapshotRow]) -> SnapshotSet:
        """Build a set from Python objects (tests, small imports); sorts by market and time."""
        index = {m.ticker: i for i, m in enumerate(markets)}
        items: list[tuple[int, int, int, int, int]] = []
        for row in rows:
            if row.ticker not in index:
                raise ValueError(f"snapshot for unknown market {row.ticker!r}")
            items.append(
                (
                    index[row.ticker],
                    to_micros(row.ts),
                    row.snapshot_id,
                    price_ticks(row.yes_bid_dollars),
                    price_ticks(row.yes_ask_dollars),
                )
            )
        items.sort(key=lambda item: (item[0], item[1], item[2]))
        columns: list[Any] = list(zip(*items, strict=True)) if items else [[], [], [], [], []]
        return cls.of_markets(
            markets,
            market=np.array(columns[0], dtype=np.int32),
            ts=np.array(columns[1], dtype=np.int64),
            snapshot_id=np.array(columns[2], dtype=np.int64),
            yes_bid=np.array(columns[3], dtype=np.int32),
            yes_ask=np.array(columns[4], dtype=np.int32),
        )
