"""Loading snapshots into a :class:`SnapshotSet`: binary COPY straight into numpy.

Fetching a million rows as Python objects costs seconds in any driver. Postgres's fastest
hand-over is ``COPY (SELECT ...) TO STDOUT``; in binary format, when every column is a
fixed-width integer and never NULL, every row has the same byte layout, so the stream is
an array of records that :func:`numpy.frombuffer` reads without parsing. Prices are cast
to integer ticks (``-1`` for NULL), the ticker becomes a market index, and timestamps stay
Postgres's native int64 microseconds since 2000-01-01.

Row by row, pg8000 still handles one protocol message per snapshot (~1.6 µs each), so
:func:`load_snapshots` goes one step further: Postgres packs each market's snapshots into
one ``bytea`` of fixed-width records (``string_agg`` of the binary send functions) and the
driver sees one message per market. See docs/decisions/0062-backtest-loader-binary-copy.md.

:func:`copy_floor` is the benchmark's floor as the issue defines it (row-wise binary COPY of
ticker, time, bid and ask into numpy); :func:`copy_floor_packed` is the same four columns
packed per market, a stricter floor reported beside it.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from shared.backtest.data import MarketInfo, SnapshotSet, to_micros
from shared.backtest.errors import InvalidBacktestRequest
from shared.backtest.memory import release_freed_memory
from shared.history.sources import POLL, WEBSOCKET

if TYPE_CHECKING:
    from shared.history.stores import ArchiveStore

__all__ = [
    "DEFAULT_HEARTBEAT_SECONDS",
    "DataRange",
    "MarketFilter",
    "StoredRows",
    "copy_floor",
    "copy_floor_packed",
    "estimate_snapshots",
    "expand_to_polls",
    "load_snapshots",
    "resolve_markets",
]

PG_EPOCH_US = 946_684_800 * 1_000_000
"""Postgres timestamps count microseconds from 2000-01-01; ours from 1970-01-01."""
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
MAX_FILTER_ITEMS = 1_000


class Cursor(Protocol):
    """The DB-API cursor surface we use (pg8000's, which also takes ``stream``)."""

    def execute(self, operation: str, args: Any = ..., stream: Any = ...) -> Any: ...

    def fetchall(self) -> Sequence[Sequence[Any]]: ...

    def fetchone(self) -> Sequence[Any] | None: ...


class Connection(Protocol):
    def cursor(self) -> Any: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


@dataclass(frozen=True)
class MarketFilter:
    """Which markets a backtest covers: any of these tickers, series or events (OR)."""

    tickers: tuple[str, ...] = ()
    series: tuple[str, ...] = ()
    events: tuple[str, ...] = ()

    @property
    def is_all(self) -> bool:
        return not (self.tickers or self.series or self.events)

    @classmethod
    def from_json(cls, data: object) -> MarketFilter:
        """``{"tickers": [...], "series": [...] | "X", "event": "E" | "events": [...]}``."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidBacktestRequest("markets must be an object", code="invalid_markets")
        unknown = set(data) - {"tickers", "series", "event", "events"}
        if unknown:
            raise InvalidBacktestRequest(
                f"markets: unknown field(s) {', '.join(sorted(unknown))}; "
                "use tickers, series or event",
                code="invalid_markets",
            )
        events = [*_names(data, "events"), *_names(data, "event")]
        return cls(
            tickers=tuple(_names(data, "tickers")),
            series=tuple(_names(data, "series")),
            events=tuple(events),
        )

    def to_json(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if self.tickers:
            out["tickers"] = list(self.tickers)
        if self.series:
            out["series"] = list(self.series)
        if self.events:
            out["events"] = list(self.events)
        return out


def _names(data: Mapping[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise InvalidBacktestRequest(
            f"markets.{key} must be a string or a list of non-empty strings",
            code="invalid_markets",
        )
    if len(items) > MAX_FILTER_ITEMS:
        raise InvalidBacktestRequest(
            f"markets.{key} may list at most {MAX_FILTER_ITEMS} names", code="too_large"
        )
    return [v[:128] for v in items]


def resolve_markets(cursor: Any, market_filter: MarketFilter) -> list[MarketInfo]:
    """The markets a filter selects, ordered by ticker, with their recorded results."""
    sql = (
        "SELECT ticker, series_ticker, event_ticker, close_time, result, "
        "settlement_value_dollars, COALESCE(settled_at, determined_at) FROM markets"
    )
    args: tuple[Any, ...] = ()
    if not market_filter.is_all:
        sql += (
            " WHERE ticker = ANY(%s::text[]) OR series_ticker = ANY(%s::text[])"
            " OR event_ticker = ANY(%s::text[])"
        )
        args = (
            list(market_filter.tickers),
            list(market_filter.series),
            list(market_filter.events),
        )
    sql += " ORDER BY ticker"
    cursor.execute(sql, args)
    return [
        MarketInfo(
            ticker=row[0],
            series_ticker=row[1],
            event_ticker=row[2],
            close_time=row[3],
            result=(row[4] or None),
            settlement_value_dollars=None if row[5] is None else Decimal(row[5]),
            settled_at=row[6],
        )
        for row in cursor.fetchall()
    ]


@dataclass(frozen=True)
class DataRange:
    snapshots: int
    first: datetime | None
    last: datetime | None


def _select_markets(cursor: Cursor, tickers: Sequence[str]) -> None:
    """Put the selected tickers (with their index) in a transaction-scoped temp table."""
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS bt_selected (idx int4 PRIMARY KEY, ticker text) "
        "ON COMMIT DROP"
    )
    cursor.execute("TRUNCATE bt_selected")
    array, value = _tickers_param(tickers)
    cursor.execute(
        "INSERT INTO bt_selected (idx, ticker) "
        f"SELECT i - 1, t FROM unnest({array}) WITH ORDINALITY AS u(t, i)",
        (value,),
    )
    cursor.execute("ANALYZE bt_selected")


ROLLUP_RESOLUTION_S = 3_600
"""The ``market_candles`` resolution :func:`estimate_snapshots` reads (the hourly rollup)."""


def estimate_snapshots(
    connection: Connection,
    tickers: Sequence[str],
    start: datetime | None = None,
    end: datetime | None = None,
) -> DataRange:
    """How many snapshots of ``tickers`` lie in ``[start, end]``, from the hourly rollups.

    Counting ``market_snapshots`` costs a scan of every row in the range (seconds for a
    year of a busy series, on every POST); the ingest already keeps each hour's count of
    stored snapshots in ``market_candles``, so this reads one row per market-hour instead.
    Stored snapshots are change-only (ADR 0170) and the loader expands them onto the poll
    grid, so each market counts the larger of its stored snapshots and the polls between
    its first covered sample and when a poll last saw it (``market_polls`` in the window,
    one index range, counted per market in numpy). Every hour that overlaps the window
    counts whole, so the estimate is an upper bound (by at most two hours per market);
    ``first``/``last`` are the first and last covered samples. Snapshots written without
    their rollups (a backfill before ``rebuild_candles``) are not seen.
    """
    clauses = ["c.resolution_s = %s"]
    args: list[Any] = [ROLLUP_RESOLUTION_S]
    if start is not None:  # bucket_start bounds use the primary key; the *_ts bounds trim
        clauses.append("c.bucket_start > %s AND c.last_ts >= %s")
        args += [start - timedelta(seconds=ROLLUP_RESOLUTION_S), start]
    if end is not None:
        clauses.append("c.bucket_start <= %s AND c.first_ts <= %s")
        args += [end, end]
    # The rollups are summed per market before the joins (one probe of market_latest and
    # markets per market, not per market-hour), and the tickers go as one bound string.
    array, value = _tickers_param(tickers)
    cursor = connection.cursor()
    try:
        cursor.execute(
            "SELECT c.ticker, c.samples, c.first_ts, c.last_ts, "
            "coalesce(l.ts, m.last_polled_at) FROM (SELECT c.ticker, sum(c.samples) AS samples, "
            "min(c.first_ts) AS first_ts, max(c.last_ts) AS last_ts FROM market_candles c "
            f"WHERE c.ticker = ANY({array}) AND " + " AND ".join(clauses) + " GROUP BY c.ticker) c "
            "LEFT JOIN market_latest l ON l.ticker = c.ticker "
            "LEFT JOIN markets m ON m.ticker = c.ticker",
            (value, *args),
        )
        per_market = cursor.fetchall()
        polls = np.zeros(0, dtype=np.int64)
        if per_market:
            lo = min(r[2] for r in per_market)
            hi = max(r[4] or r[3] for r in per_market)
            if end is not None:
                hi = min(hi, end)
            polls = _micros_column(
                _copy_out(cursor, _POLLS_SQL.format(start=_literal_ts(lo), end=_literal_ts(hi)))
            )
    finally:
        connection.rollback()
    if not per_market:
        return DataRange(snapshots=0, first=None, last=None)
    lowers, uppers, stored = [], [], []
    for _ticker, samples, first, last, seen in per_market:
        lowers.append(to_micros(first if start is None else max(first, start)))
        upper_at = seen or last
        if end is not None:
            upper_at = min(upper_at, end)
        uppers.append(to_micros(upper_at))
        stored.append(int(samples))
    on_grid = np.searchsorted(polls, np.array(uppers, np.int64), "right") - np.searchsorted(
        polls, np.array(lowers, np.int64)
    )  # one search for every market
    total = int(np.maximum(np.array(stored, np.int64), on_grid).sum())
    return DataRange(
        snapshots=total,
        first=min(r[2] for r in per_market),
        last=max(r[3] for r in per_market),
    )


def _literal_ts(moment: datetime) -> str:
    """A timestamp literal for COPY (which takes no bind parameters); ours, never user text."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return "'" + moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00") + "'::timestamptz"


def _record_dtype(fields: Sequence[tuple[str, str]]) -> np.dtype[Any]:
    parts: list[tuple[str, str]] = [("nfields", ">i2")]
    for name, kind in fields:
        parts.append((f"{name}_len", ">i4"))
        parts.append((name, kind))
    return np.dtype(parts)


def _parse_binary_copy(raw: bytes, fields: Sequence[tuple[str, str]]) -> npt.NDArray[Any]:
    """Records of a binary COPY whose columns are all fixed-width and NOT NULL."""
    if not raw.startswith(_SIGNATURE):
        raise ValueError("not a binary COPY stream")
    extension = int.from_bytes(raw[15:19], "big")
    offset = 19 + extension
    dtype = _record_dtype(fields)
    body = len(raw) - offset - 2  # the trailer is int16 -1
    if body % dtype.itemsize:
        raise ValueError("binary COPY body is not a whole number of fixed-width records")
    records = np.frombuffer(raw, dtype=dtype, count=body // dtype.itemsize, offset=offset)
    if len(records):
        expected = np.dtype(dtype[f"{fields[0][0]}"]).itemsize
        if np.any(records["nfields"] != len(fields)) or np.any(
            records[f"{fields[0][0]}_len"] != expected
        ):
            raise ValueError("binary COPY rows have an unexpected layout (a NULL slipped in?)")
    return records


def _copy_out(cursor: Cursor, sql: str) -> bytes:
    sink = io.BytesIO()
    cursor.execute(sql, stream=sink)
    return sink.getvalue()


def _copy_sql(columns: str, start: datetime, end: datetime) -> str:
    return (
        f"COPY (SELECT {columns} FROM market_snapshots s "
        "JOIN bt_selected m ON m.ticker = s.ticker "
        f"WHERE s.ts >= {_literal_ts(start)} AND s.ts <= {_literal_ts(end)} "
        "ORDER BY m.idx, s.ts, s.id) TO STDOUT (FORMAT binary)"
    )


_TICKS = "COALESCE(round(s.{col} * 10000)::int4, -1)"

# One COPY row per market whose second column is a bytea of packed fixed-width records,
# built by Postgres with the types' own binary send functions (big-endian). ``poll`` is 1
# for the poller's snapshots, the ones that hold across polls that stored nothing.
_PACKED_RECORD = np.dtype(
    [("ts", ">i8"), ("id", ">i8"), ("bid", ">i4"), ("ask", ">i4"), ("poll", ">i2")]
)
_PACKED_SQL = (
    "COPY (SELECT m.idx, string_agg("
    "timestamptz_send(s.ts) || int8send(s.id) || "
    "int4send(COALESCE(round(s.yes_bid_dollars * 10000)::int4, -1)) || "
    "int4send(COALESCE(round(s.yes_ask_dollars * 10000)::int4, -1)) || "
    "int2send((s.source = 'poll')::int::int2), "
    "''::bytea ORDER BY s.ts, s.id) "
    "FROM market_snapshots s JOIN bt_selected m ON m.ticker = s.ticker "
    "WHERE s.ts >= {start} AND s.ts <= {end} "
    "GROUP BY m.idx ORDER BY m.idx) TO STDOUT (FORMAT binary)"
)
# The poll grid: every poll's time in the window (and a heartbeat before it), and when
# each selected market was last seen by a poll.
_POLLS_SQL = (
    "COPY (SELECT polled_at FROM market_polls WHERE polled_at >= {start} "
    "AND polled_at <= {end} ORDER BY polled_at) TO STDOUT (FORMAT binary)"
)

DEFAULT_HEARTBEAT_SECONDS = 3_600.0
"""How long a stored poll snapshot can hold at most (the poller's heartbeat, ADR 0170)."""


def _parse_packed(
    raw: bytes, record: np.dtype[Any]
) -> tuple[npt.NDArray[Any], list[int], list[int]]:
    """Records of every market and, per market, its index and record count."""
    if not raw.startswith(_SIGNATURE):
        raise ValueError("not a binary COPY stream")
    offset = 19 + int.from_bytes(raw[15:19], "big")
    parts: list[npt.NDArray[Any]] = []
    markets: list[int] = []
    counts: list[int] = []
    size = record.itemsize
    while True:
        nfields = int.from_bytes(raw[offset : offset + 2], "big", signed=True)
        offset += 2
        if nfields == -1:
            break
        if nfields != 2 or int.from_bytes(raw[offset : offset + 4], "big") != 4:
            raise ValueError("unexpected row layout in the packed COPY stream")
        market = int.from_bytes(raw[offset + 4 : offset + 8], "big", signed=True)
        length = int.from_bytes(raw[offset + 8 : offset + 12], "big", signed=True)
        offset += 12
        if length < 0 or length % size:
            raise ValueError("packed snapshots are not a whole number of records")
        parts.append(np.frombuffer(raw, dtype=record, count=length // size, offset=offset))
        markets.append(market)
        counts.append(length // size)
        offset += length
    records = np.concatenate(parts) if parts else np.zeros(0, dtype=record)
    return records, markets, counts


@dataclass(frozen=True)
class StoredRows:
    """Stored snapshots, grouped by market and time-ordered within each (as loaded)."""

    market: npt.NDArray[np.int32]
    ts: npt.NDArray[np.int64]  # microseconds since the Unix epoch
    snapshot_id: npt.NDArray[np.int64]
    yes_bid: npt.NDArray[np.int32]
    yes_ask: npt.NDArray[np.int32]
    poll: npt.NDArray[np.bool_]

    @classmethod
    def empty(cls) -> StoredRows:
        return cls(
            np.zeros(0, np.int32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int32),
            np.zeros(0, np.bool_),
        )

    @classmethod
    def concat(cls, parts: Sequence[StoredRows]) -> StoredRows:
        if not parts:
            return cls.empty()
        return cls(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__)
        )


def expand_to_polls(
    rows: StoredRows,
    polls: npt.NDArray[np.int64],
    last_seen: npt.NDArray[np.int64],
    start_us: int,
    end_us: int,
    heartbeat_us: int,
) -> StoredRows:
    """Rebuild the poll grid from change-only storage (ADR 0170).

    Each stored row stands for its own time; a poll row also holds at every later poll
    (``polls``, sorted) before the market's next stored row, within ``heartbeat_us`` of
    it and not after the market was last seen (``last_seen``, per market), exactly the
    snapshots a poll that stored every market would have written. Rows outside
    ``[start_us, end_us]`` are dropped after expanding (one held from before the window
    opens inside it).

    Vectorised, and cheap when little holds: one ``searchsorted`` of every row gives the
    first poll after it; the polls before the next row of the same market follow from the
    next row's own position, so only rows bounded by the heartbeat or the market's last
    poll (the last row of a market, a gap) are searched again. Rows that hold nothing (a
    full poll-by-poll history) skip the ``repeat`` entirely.
    """
    n = len(rows.ts)
    if n <= _EXPAND_BLOCK_ROWS:
        return _expand_block(rows, polls, last_seen, start_us, end_us, heartbeat_us)
    # Blocks of whole markets (a market's next row never crosses a block's end), so the
    # temporaries below are a block's size, not the whole set's: at 10,000,000 rows they
    # would add ~400 MB to the peak. A block that changes nothing is returned as is.
    cuts = [0]
    while cuts[-1] < n:
        at = cuts[-1] + _EXPAND_BLOCK_ROWS
        if at >= n:
            cuts.append(n)
            break
        market = rows.market[at - 1]
        cuts.append(int(np.searchsorted(rows.market, market, side="right")))
    blocks: list[StoredRows] = []
    unchanged = True
    for lo, hi in itertools.pairwise(cuts):
        view = StoredRows(*(getattr(rows, f)[lo:hi] for f in StoredRows.__dataclass_fields__))
        done = _expand_block(view, polls, last_seen, start_us, end_us, heartbeat_us)
        unchanged = unchanged and done is view
        blocks.append(done)
    if unchanged:
        return rows
    # Joined column by column, each block's column released as soon as it is copied: the
    # peak is the blocks plus one column, not the blocks twice over.
    columns: dict[str, npt.NDArray[Any]] = {}
    for name in StoredRows.__dataclass_fields__:
        parts = [getattr(block, name) for block in blocks]
        blocks = [replace(block, **{name: _EMPTY[name]}) for block in blocks]
        columns[name] = _join_released(parts, _EMPTY[name].dtype)
    return StoredRows(**columns)


# Each column's empty array (its dtype), from the one place StoredRows spells them.
_EMPTY: dict[str, npt.NDArray[Any]] = {
    name: getattr(StoredRows.empty(), name) for name in StoredRows.__dataclass_fields__
}
_EXPAND_BLOCK_ROWS = 1 << 20
"""Rows :func:`expand_to_polls` handles at once (rounded up to whole markets)."""


def _expand_block(
    rows: StoredRows,
    polls: npt.NDArray[np.int64],
    last_seen: npt.NDArray[np.int64],
    start_us: int,
    end_us: int,
    heartbeat_us: int,
) -> StoredRows:
    """:func:`expand_to_polls` on rows that hold whole markets."""
    n = len(rows.ts)
    if n == 0:
        return rows
    ts = rows.ts
    n_polls = len(polls)
    # Each step below writes into as few fresh arrays as it can: at a million rows the
    # page faults of a new 8 MB array cost as much as the arithmetic.
    first = _polls_through(polls, ts)  # polls strictly after the row
    same_next = rows.market[1:] == rows.market[:-1]
    other = ts + heartbeat_us
    seen = last_seen[rows.market]
    seen += 1
    np.minimum(other, seen, out=other)
    del seen
    again = np.ones(n, dtype=np.bool_)  # rows whose bound is not their market's next row
    np.less(other[:-1], ts[1:], out=again[:-1])
    again[:-1] |= ~same_next
    if n_polls >= 2 and not np.all(polls[1:] > polls[:-1]):
        # Repeated poll times: count directly (the shortcut below assumes distinct polls).
        bound = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        bound[:-1][same_next] = ts[1:][same_next]
        np.minimum(bound, other, out=bound)
        last = np.searchsorted(polls, bound, side="left")
    else:
        # polls < the next row's time = polls <= it, less one when it is a poll's time.
        last = np.empty(n, dtype=np.int64)
        if n_polls:
            at_poll = polls.take(first - 1, mode="clip") == ts
            at_poll &= first > 0
            np.subtract(first[1:], at_poll[1:], out=last[:-1])
            del at_poll
        else:
            last[:-1] = 0
        last[:-1][~same_next] = n_polls
        last[-1] = n_polls
        rows_again = np.flatnonzero(again)
        last[rows_again] = np.minimum(
            last[rows_again], np.searchsorted(polls, other[rows_again], side="left")
        )
    del other, again
    extra = last
    extra -= first
    np.maximum(extra, 0, out=extra)
    if not rows.poll.all():
        extra[~rows.poll] = 0
    if not extra.any():
        keep = ts >= start_us
        keep &= ts <= end_us
        if keep.all():
            return rows
        return StoredRows(*(getattr(rows, f)[keep] for f in StoredRows.__dataclass_fields__))
    counts = 1 + extra
    total = int(counts.sum())
    source = np.repeat(np.arange(n, dtype=np.int64), counts)
    # Position of each output row within its source row's run: 0 is the row itself,
    # k >= 1 the k-th poll after it.
    run_start = np.cumsum(counts) - counts
    k = np.arange(total, dtype=np.int64) - np.repeat(run_start, counts)
    out_ts = ts[source]
    held = k > 0
    out_ts[held] = polls[first[source[held]] + k[held] - 1]
    keep = (out_ts >= start_us) & (out_ts <= end_us)
    pick = source[keep]
    return StoredRows(
        market=rows.market[pick],
        ts=out_ts[keep],
        snapshot_id=rows.snapshot_id[pick],
        yes_bid=rows.yes_bid[pick],
        yes_ask=rows.yes_ask[pick],
        poll=rows.poll[pick],
    )


_BUCKETS_PER_POLL = 4
"""Buckets per poll of :func:`_polls_through`'s table (of int64: 32 bytes a poll)."""
_MAX_POLLS_PER_BUCKET = 3
"""More polls than this in one bucket (bursts) and :func:`_polls_through` searches instead."""


def _polls_through(polls: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
    """``np.searchsorted(polls, ts, side="right")`` (how many polls are at or before each
    row), read from a table instead of searched row by row.

    A binary search costs ~12 ns a row at 10,000 polls (14 dependent, mispredicted steps);
    the rebuild does it for every stored row (0.12 s of a 10,000,000-row archive load,
    ADR 0238). Polls come at a steady pace, so the time axis is cut into equal buckets
    (a few per poll, a power of two of microseconds wide), each bucket's count of earlier
    polls is searched once, and a row reads its bucket's count and then steps over the
    polls inside its bucket up to its time: a handful of whole-array passes. A burst that
    puts more than a few polls in one bucket, or too few rows to pay for the table,
    falls back to the search. Exact either way.
    """
    n = len(polls)
    if n < 2 or len(ts) < 8 * n:
        return np.searchsorted(polls, ts, side="right")
    lo = int(polls[0])
    span = int(polls[-1]) - lo
    shift = max(0, (span // (_BUCKETS_PER_POLL * n)).bit_length() - 1)
    buckets = (span >> shift) + 2  # the last bucket starts after the last poll
    edges = np.arange(buckets, dtype=np.int64)
    edges <<= shift
    edges += lo
    before = np.searchsorted(polls, edges, side="left")  # polls before each bucket
    del edges
    steps = int(np.max(before[1:] - before[:-1]))
    if steps > _MAX_POLLS_PER_BUCKET:
        return np.searchsorted(polls, ts, side="right")
    bucket = ts - lo
    np.clip(bucket, 0, None, out=bucket)  # rows before the first poll: bucket 0, count 0
    bucket >>= shift
    np.minimum(bucket, buckets - 1, out=bucket)
    count = before.take(bucket)
    del bucket
    padded = np.append(polls, np.iinfo(np.int64).max)  # count == n reads past the polls
    for _ in range(steps):
        count += padded.take(count) <= ts
    return count


def _micros_column(raw: bytes, name: str = "ts") -> npt.NDArray[np.int64]:
    records = _parse_binary_copy(raw, ((name, ">i8"),))
    return records[name].astype(np.int64) + PG_EPOCH_US


_NEVER_SEEN = np.iinfo(np.int64).min // 2
"""``last_seen`` of a market no poll saw (rows written by other means): it holds nowhere."""


def _tickers_param(tickers: Sequence[str]) -> tuple[str, str]:
    """SQL for ``tickers`` as a text array and its one bind value.

    pg8000 encodes a ``list`` parameter element by element in Python (~20 ms for 1,000
    tickers); one newline-joined string split by Postgres costs nothing. Tickers never
    hold a newline; a list that does goes as a quoted array literal instead.
    """
    if any("\n" in t for t in tickers):
        return "%s::text[]", "{" + ",".join(_array_item(t) for t in tickers) + "}"
    return "string_to_array(%s, E'\\n')", "\n".join(tickers)


def _array_item(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _last_seen(cursor: Cursor, tickers: Sequence[str]) -> npt.NDArray[np.int64]:
    """When a poll last saw each of ``tickers`` (µs since the epoch), in their order.

    One statement, the tickers bound as one string, the answer one comma-separated text
    that numpy parses (decoding an ``int8[]`` or 1,000 rows in the driver costs ~20 ms).
    """
    if not tickers:
        return np.zeros(0, dtype=np.int64)
    array, value = _tickers_param(tickers)
    cursor.execute(
        "SELECT string_agg(COALESCE((extract(epoch FROM coalesce(l.ts, m.last_polled_at)) "
        "* 1000000)::int8, %s)::text, "
        f"',' ORDER BY u.i) FROM unnest({array}) WITH ORDINALITY AS u(t, i) "
        "LEFT JOIN market_latest l ON l.ticker = u.t LEFT JOIN markets m ON m.ticker = u.t",
        (int(_NEVER_SEEN), value),
    )
    found = cursor.fetchone()
    text = found[0] if found else None
    if not text:
        return np.zeros(0, dtype=np.int64)
    return np.array(text.split(","), dtype=np.int64)


class _PackedSink:
    """The stream the packed snapshot COPY writes to: each market's records are decoded into
    native columns as its message arrives, so the COPY's bytes are never held whole.

    Holding the stream and then parsing it (``BytesIO.getvalue`` copies it once more) costs
    the records three times over before the first column exists (~80 bytes a stored row);
    here it is the columns' 25 bytes plus one market's message. pg8000 writes one COPY
    data message at a time (the header, one row per market, the trailer); a row split over
    two writes is kept until it is whole.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._header = False
        self.finished = False
        self.markets: list[int] = []
        self.counts: list[int] = []
        self.parts: dict[str, list[npt.NDArray[Any]]] = {
            "ts": [],
            "snapshot_id": [],
            "yes_bid": [],
            "yes_ask": [],
            "poll": [],
        }

    def write(self, data: bytes) -> int:
        if self._pending:
            self._pending += data
            used = self._consume(bytes(self._pending))
            del self._pending[:used]
        else:
            used = self._consume(data)
            if used < len(data):
                self._pending = bytearray(data[used:])
        return len(data)

    def _consume(self, buf: bytes) -> int:
        """Decode every whole row of ``buf``; how many bytes were used."""
        offset = 0
        size = _PACKED_RECORD.itemsize
        if not self._header:
            if len(buf) < 19:
                return 0
            if not buf.startswith(_SIGNATURE):
                raise ValueError("not a binary COPY stream")
            offset = 19 + int.from_bytes(buf[15:19], "big")
            if len(buf) < offset:
                return 0
            self._header = True
        while len(buf) - offset >= 2:
            nfields = int.from_bytes(buf[offset : offset + 2], "big", signed=True)
            if nfields == -1:
                self.finished = True
                return len(buf)
            if len(buf) - offset < 14:
                break
            if nfields != 2 or int.from_bytes(buf[offset + 2 : offset + 6], "big") != 4:
                raise ValueError("unexpected row layout in the packed COPY stream")
            market = int.from_bytes(buf[offset + 6 : offset + 10], "big", signed=True)
            length = int.from_bytes(buf[offset + 10 : offset + 14], "big", signed=True)
            if length < 0 or length % size:
                raise ValueError("packed snapshots are not a whole number of records")
            if len(buf) - offset - 14 < length:
                break
            records = np.frombuffer(buf, dtype=_PACKED_RECORD, count=length // size,
                                    offset=offset + 14)  # fmt: skip
            self.parts["ts"].append(records["ts"].astype(np.int64))
            self.parts["snapshot_id"].append(records["id"].astype(np.int64))
            self.parts["yes_bid"].append(records["bid"].astype(np.int32))
            self.parts["yes_ask"].append(records["ask"].astype(np.int32))
            self.parts["poll"].append(records["poll"] == 1)
            del records
            self.markets.append(market)
            self.counts.append(length // size)
            offset += 14 + length
        return offset

    def rows(self) -> StoredRows:
        """The decoded rows (the parts are released column by column as they are joined)."""
        if not self.finished:
            raise ValueError("the packed COPY stream ended early")
        counts = np.array(self.counts, dtype=np.int64)
        columns = {
            name: _join_released(parts, _EMPTY[name].dtype) for name, parts in self.parts.items()
        }
        columns["ts"] += PG_EPOCH_US
        market = np.repeat(np.array(self.markets, dtype=np.int32), counts)
        return StoredRows(market=market, **columns)


def _join_released(parts: list[npt.NDArray[Any]], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """``np.concatenate(parts)``, emptying ``parts`` so each piece goes once it is copied."""
    if not parts:
        return np.zeros(0, dtype=dtype)
    if len(parts) == 1:
        return parts.pop()
    out = np.concatenate(parts)
    parts.clear()
    return out


def _stored_rows(cursor: Cursor, sql: str) -> StoredRows:
    sink = _PackedSink()
    cursor.execute(sql, stream=sink)
    return sink.rows()


def _dictionary_chunks(column: Any) -> list[Any]:
    """The chunks of a string column as dictionary arrays (encoding any plain chunk)."""
    import pyarrow as pa

    chunks = []
    for chunk in column.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        chunks.append(chunk)
    return chunks


def _through_dictionary(column: Any, lookup: Any) -> npt.NDArray[Any]:
    """``lookup(dictionary)`` (a numpy array, one entry per dictionary value) taken at each
    row's index: a per-row mapping that touches only integers, never the strings."""
    out: npt.NDArray[Any] | None = None
    at = 0
    for chunk in _dictionary_chunks(column):
        values = lookup(chunk.dictionary)
        if out is None:  # each chunk's rows land in place: no per-chunk parts to join
            out = np.empty(len(column), dtype=values.dtype)
        indices = chunk.indices.to_numpy(zero_copy_only=False)
        np.take(values, indices, out=out[at : at + len(indices)], mode="clip")
        at += len(indices)
    return out if out is not None else np.zeros(0, dtype=np.int32)


def _archived_rows(
    archive: ArchiveStore,
    day: Any,
    tickers: Sequence[str],
    market_of: Any,
    start_us: int,
    end_us: int,
) -> StoredRows:
    """One archived day's rows of the selected markets in ``[start_us, end_us]``.

    ``ticker`` and ``source`` come out of Parquet as dictionaries (a day's few thousand
    distinct tickers, four sources), so the ticker-to-market mapping is one ``index_in``
    over the dictionary and a numpy ``take`` of its int32 indices; only the row groups
    holding a selected ticker are decoded (the file's statistics), and numeric columns go
    from Arrow buffers to numpy without a per-row step. ``market_of`` is the selection as
    an Arrow array (the value set of ``index_in``).
    """
    import pyarrow.compute as pc

    from shared.history.archive import read_day

    table = read_day(archive, day, tickers if len(tickers) <= _PUSHDOWN_TICKERS else None)
    if table.num_rows == 0:
        return StoredRows.empty()

    def market_index(dictionary: Any) -> npt.NDArray[np.int32]:
        found = pc.index_in(dictionary, value_set=market_of)
        return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), np.int32)

    def is_poll(dictionary: Any) -> npt.NDArray[np.bool_]:
        equal = pc.fill_null(pc.equal(dictionary, "poll"), False)
        return np.asarray(equal.to_numpy(zero_copy_only=False), np.bool_)

    def ints(name: str, dtype: Any, missing: int | None = None) -> npt.NDArray[Any]:
        column = table.column(name)
        if missing is not None and column.null_count:
            column = pc.fill_null(column, missing)
        values = column.to_numpy()
        if values.dtype.kind == "M":  # a timestamp's stored int64, viewed: no Arrow cast copy
            values = values.view(np.int64)
        return np.asarray(values, dtype=dtype)

    market = _through_dictionary(table.column("ticker"), market_index)
    ts = ints("ts", np.int64)
    keep = (market >= 0) & (ts >= start_us) & (ts <= end_us)
    rows = StoredRows(
        market=market,
        ts=ts,
        snapshot_id=ints("id", np.int64),
        yes_bid=ints("yes_bid", np.int32, -1),
        yes_ask=ints("yes_ask", np.int32, -1),
        poll=_through_dictionary(table.column("source"), is_poll),
    )
    if keep.all():
        return rows
    return StoredRows(*(getattr(rows, f)[keep] for f in StoredRows.__dataclass_fields__))


class _ArchivedSources:
    """Which markets had poll rows, and rows of another source, among archived days.

    Snapshots are the project's own observations: ``poll``, or the streamer's
    ``websocket`` (every other source lives in the candle and trade tables)."""

    def __init__(self, n_markets: int) -> None:
        self.poll = np.zeros(n_markets, dtype=np.bool_)
        self.other = np.zeros(n_markets, dtype=np.bool_)

    def add(self, rows: StoredRows) -> None:
        market = rows.market
        if not len(market):
            return
        if rows.poll.all():  # the usual day: its markets are where the index changes
            self.poll[market[0]] = True
            self.poll[market[1:][market[1:] != market[:-1]]] = True
            return
        self.poll[market[rows.poll]] = True
        self.other[market[~rows.poll]] = True

    def by_ticker(self, tickers: Sequence[str]) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {}
        for index in np.flatnonzero(self.poll | self.other).tolist():
            names = (POLL,) * bool(self.poll[index]) + (WEBSOCKET,) * bool(self.other[index])
            out[tickers[index]] = names
        return out


def _merge_by_market(parts: list[StoredRows], n_markets: int) -> StoredRows:
    """``parts`` (days, oldest first) as one set ordered by market, time and id.

    Each part is already in (market-run, time, id) order: an archived day's file is sorted
    by ticker then time (so a ticker's rows are one run, whatever its market index) and
    Postgres packs each market's rows in time order. When the parts' time ranges do not
    overlap, a market's rows are its runs in part order, so every row's place is known
    from per-market counts (a counting placement: ``bincount`` and one scatter per
    column, no sort and no concatenation). Parts of another shape (a day both archived
    and again in Postgres, a market split over two runs) fall back to a full ``lexsort``.

    ``parts`` is emptied as they are placed, so each part's memory (numpy arrays, and the
    Arrow buffers they view) goes as soon as it is copied: at 10,000,000 rows the peak is
    the parts plus the result once, not twice over through the expansion that follows.
    """
    parts[:] = [p for p in parts if len(p.ts)]
    if not parts:
        return StoredRows.empty()
    if len(parts) == 1:
        return _sorted_rows(parts.pop())
    spans = [(int(p.ts.min()), int(p.ts.max())) for p in parts]
    disjoint = all(prev[1] < nxt[0] for prev, nxt in itertools.pairwise(spans))
    counts = [np.bincount(p.market, minlength=n_markets) for p in parts]
    runs: list[npt.NDArray[np.int64]] = []
    for part, count in zip(parts, counts, strict=True):
        starts = np.flatnonzero(part.market[1:] != part.market[:-1]) + 1
        runs.append(np.concatenate(([0], starts)))
        disjoint = disjoint and len(runs[-1]) == int(np.count_nonzero(count))
    if not disjoint or len(counts[0]) != n_markets:
        merged = StoredRows.concat(parts)
        parts.clear()
        return _sorted_rows(merged)
    total = np.sum(counts, axis=0)
    placed = np.cumsum(total) - total  # where each market's next row goes
    n = int(total.sum())
    out = {
        name: np.empty(n, dtype=getattr(parts[0], name).dtype)
        for name in StoredRows.__dataclass_fields__
        if name != "market"
    }
    for index, (count, starts) in enumerate(zip(counts, runs, strict=True)):
        part = parts[index]
        run_first = np.zeros(n_markets, dtype=np.int64)
        run_first[part.market[starts]] = starts
        dest = (placed - run_first)[part.market] + np.arange(len(part.ts), dtype=np.int64)
        for name, column in out.items():
            column[dest] = getattr(part, name)
        placed += count
        parts[index] = StoredRows.empty()
        del part, dest
    parts.clear()
    market = np.repeat(np.arange(n_markets, dtype=np.int32), total)
    return StoredRows(market=market, **out)


def _sorted_rows(rows: StoredRows) -> StoredRows:
    """``rows`` by market, time and id (a no-op for rows already so)."""
    if len(rows.ts) < 2:
        return rows
    same = rows.market[1:] == rows.market[:-1]
    step = rows.ts[1:] - rows.ts[:-1]
    ordered = np.all(rows.market[1:] >= rows.market[:-1]) and not np.any(
        same & ((step < 0) | ((step == 0) & (rows.snapshot_id[1:] < rows.snapshot_id[:-1])))
    )
    if ordered:
        return rows
    order = np.lexsort((rows.snapshot_id, rows.ts, rows.market))
    return StoredRows(*(getattr(rows, f)[order] for f in StoredRows.__dataclass_fields__))


_PUSHDOWN_TICKERS = 200
"""Up to this many tickers select row groups by the file's ticker statistics; more read
every row group of the day (a broad selection touches nearly all of them anyway)."""


def load_snapshots(
    connection: Connection,
    markets: Sequence[MarketInfo],
    start: datetime,
    end: datetime,
    *,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
    archive: ArchiveStore | None = None,
) -> SnapshotSet:
    """Every snapshot of ``markets`` in ``[start, end]``, as a :class:`SnapshotSet`.

    Postgres packs each market's snapshots into one bytea of fixed-width big-endian records
    (``string_agg`` of the binary send functions), so the driver handles one message per
    market instead of one per snapshot; numpy reads the records without parsing. The
    change-only storage is then expanded back onto the poll grid (:func:`expand_to_polls`),
    so a strategy sees one snapshot per market per poll, as if every one had been stored.

    With an ``archive``, the days of the window whose partitions were archived and dropped
    (ADR 0174) are read from their Parquet file sets, one day at a time and only the
    selected tickers' row groups and the four columns the replay needs, so memory holds
    the result plus one day's slice; Postgres serves the rest.
    """
    heartbeat_us = int(max(heartbeat_seconds, 0.0) * 1_000_000)
    early = start - timedelta(microseconds=heartbeat_us)
    cursor = connection.cursor()
    archived: list[Any] = []
    archived_sources: dict[str, tuple[str, ...]] = {}
    try:
        if archive is not None:
            cursor.execute(
                "SELECT day FROM history_archives WHERE dropped_at IS NOT NULL "
                "AND verified_at IS NOT NULL AND day >= %s AND day <= %s ORDER BY day",
                (early.astimezone(UTC).date(), end.astimezone(UTC).date()),
            )
            archived = [row[0] for row in cursor.fetchall()]
        in_postgres = True
        if archived:
            # A window wholly archived has nothing left in Postgres: skip the selection
            # table and the snapshot COPY (a probe that prunes to the remaining partitions).
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM market_snapshots WHERE ts >= %s AND ts <= %s)",
                (early, end),
            )
            found = cursor.fetchone()
            in_postgres = bool(found and found[0])
        rows = StoredRows.empty()
        if in_postgres:
            _select_markets(cursor, [m.ticker for m in markets])
            sql = _PACKED_SQL.format(start=_literal_ts(early), end=_literal_ts(end))
            rows = _stored_rows(cursor, sql)
        polls = _micros_column(
            _copy_out(cursor, _POLLS_SQL.format(start=_literal_ts(early), end=_literal_ts(end)))
        )
        last_seen = _last_seen(cursor, [m.ticker for m in markets])
    finally:
        connection.rollback()
    if archived:
        assert archive is not None
        import pyarrow as pa

        tickers = [m.ticker for m in markets]
        market_of = pa.array(tickers, pa.string())
        parts = []
        seen = _ArchivedSources(len(markets))
        for day in archived:
            # Each day's Arrow table goes once its columns are numpy copies; Arrow's pool
            # keeps the pages and the next day's read reuses them (one day's worth, ~30 MB
            # at 10,000,000 snapshots). Handing them back after every day cost the load
            # ~50 ms of page walks and fresh faults for those 30 MB (ADR 0238); they go
            # back once, at the end of the load, with the C heap's.
            parts.append(
                _archived_rows(archive, day, tickers, market_of, to_micros(early), to_micros(end))
            )
            seen.add(parts[-1])
        archived_sources = seen.by_ticker(tickers)
        parts.append(rows)
        del rows
        rows = _merge_by_market(parts, len(markets))  # empties ``parts`` as it goes
    rows = expand_to_polls(rows, polls, last_seen, to_micros(start), to_micros(end), heartbeat_us)
    loaded = SnapshotSet.of_markets(
        markets,
        market=rows.market,
        ts=rows.ts,
        snapshot_id=rows.snapshot_id,
        yes_bid=rows.yes_bid,
        yes_ask=rows.yes_ask,
        archived_sources=archived_sources,
    )
    del rows
    release_freed_memory()  # once: the engine's arrays would not reuse what the load freed
    return loaded


def copy_floor(
    connection: Connection, tickers: Sequence[str], start: datetime, end: datetime
) -> dict[str, npt.NDArray[Any]]:
    """The benchmark floor: ticker (as index), time, bid and ask via the same binary COPY."""
    cursor = connection.cursor()
    try:
        _select_markets(cursor, tickers)
        columns = ", ".join(
            (
                "m.idx",
                "s.ts",
                _TICKS.format(col="yes_bid_dollars"),
                _TICKS.format(col="yes_ask_dollars"),
            )
        )
        fields = (("market", ">i4"), ("ts", ">i8"), ("bid", ">i4"), ("ask", ">i4"))
        raw = _copy_out(cursor, _copy_sql(columns, start, end))
    finally:
        connection.rollback()
    records = _parse_binary_copy(raw, fields)
    return {
        "market": records["market"].astype(np.int32),
        "ts": records["ts"].astype(np.int64) + PG_EPOCH_US,
        "bid": records["bid"].astype(np.int32),
        "ask": records["ask"].astype(np.int32),
    }


_FLOOR_PACKED_RECORD = np.dtype([("ts", ">i8"), ("bid", ">i4"), ("ask", ">i4")])


def copy_floor_packed(
    connection: Connection, tickers: Sequence[str], start: datetime, end: datetime
) -> dict[str, npt.NDArray[Any]]:
    """A stricter floor: the same four columns through the loader's per-market packing."""
    cursor = connection.cursor()
    try:
        _select_markets(cursor, tickers)
        sql = (
            "COPY (SELECT m.idx, string_agg(timestamptz_send(s.ts) || "
            "int4send(COALESCE(round(s.yes_bid_dollars * 10000)::int4, -1)) || "
            "int4send(COALESCE(round(s.yes_ask_dollars * 10000)::int4, -1)), "
            "''::bytea ORDER BY s.ts, s.id) "
            "FROM market_snapshots s JOIN bt_selected m ON m.ticker = s.ticker "
            f"WHERE s.ts >= {_literal_ts(start)} AND s.ts <= {_literal_ts(end)} "
            "GROUP BY m.idx ORDER BY m.idx) TO STDOUT (FORMAT binary)"
        )
        raw = _copy_out(cursor, sql)
    finally:
        connection.rollback()
    records, market_ids, counts = _parse_packed(raw, _FLOOR_PACKED_RECORD)
    return {
        "market": np.repeat(np.array(market_ids, dtype=np.int32), np.array(counts)),
        "ts": records["ts"].astype(np.int64) + PG_EPOCH_US,
        "bid": records["bid"].astype(np.int32),
        "ask": records["ask"].astype(np.int32),
    }
