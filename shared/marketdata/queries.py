"""Read side of market data: the market list, one market, price history as candles.

All reads go to the read models the ingest maintains (ADR 0050, 0051):

- the list and detail read ``market_latest`` joined to ``markets``: one row per market,
  never a DISTINCT ON over the snapshot history. Long-settled markets are pruned from
  ``market_latest`` (ADR 0226): the list shows only markets still in it, the detail (a
  LEFT JOIN) every market, a pruned one without prices;
- history reads the rollups in ``market_candles`` at the coarsest stored resolution that
  divides the interval (1m, 5m, 1h, 1d; 4h from the hourly ones), so an answer reads at
  most a few thousand rows and never the snapshots, which may be archived (ADR 0173).

Every function takes an open SQLAlchemy ``Connection`` and only reads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, text

from shared.db.models_marketdata import CANDLE_RESOLUTIONS_S
from shared.marketdata.sql import LAST_SQL, MID_SQL, POLL_SOURCE, bucket_start, first_sql

__all__ = [
    "HISTORY_INTERVALS",
    "MAX_CANDLES",
    "ROLLUP_RESOLUTION_S",
    "SORTS",
    "STATUS_ALIASES",
    "Candle",
    "History",
    "HistoryRequest",
    "ListPage",
    "MarketFilter",
    "choose_interval",
    "current_poll",
    "get_history",
    "get_market",
    "iso_z",
    "last_poll",
    "list_markets",
    "rollup_resolution",
]

MAX_CANDLES = 2000
ROLLUP_RESOLUTION_S = 3600
"""The resolution :func:`history_bounds` reads (any would do; hourly rows are few)."""
HISTORY_INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "1h": 3600, "4h": 14_400, "1d": 86_400}
"""Intervals the history endpoint offers, each read from the coarsest rollup dividing it."""


def rollup_resolution(interval_seconds: int) -> int:
    """The coarsest stored rollup resolution whose buckets tile ``interval_seconds``."""
    return max(r for r in CANDLE_RESOLUTIONS_S if interval_seconds % r == 0)


_INTERVAL_NAMES = {seconds: name for name, seconds in HISTORY_INTERVALS.items()}

STATUS_ALIASES: dict[str, tuple[str, ...]] = {
    # Kalshi's GET /markets?status= filter words ...
    "unopened": ("initialized",),
    "open": ("active",),
    "paused": ("inactive",),
    "closed": ("closed", "determined", "disputed", "amended"),
    "settled": ("finalized",),
    # ... and its response words, each meaning itself.
    "initialized": ("initialized",),
    "active": ("active",),
    "inactive": ("inactive",),
    "determined": ("determined",),
    "disputed": ("disputed",),
    "amended": ("amended",),
    "finalized": ("finalized",),
}


@dataclass(frozen=True)
class SortSpec:
    expression: str
    default_order: str
    # Stands in for NULL so keyset pagination compares plain values; sorts last both ways.
    null_last_desc: str | None = None
    null_last_asc: str | None = None

    def key(self, order: str) -> str:
        sentinel = self.null_last_desc if order == "desc" else self.null_last_asc
        return f"coalesce({self.expression}, {sentinel})" if sentinel else self.expression


SORTS: dict[str, SortSpec] = {
    "volume": SortSpec("l.volume_fp", "desc"),
    "close_time": SortSpec(
        "m.close_time",
        "asc",
        "CAST('-infinity' AS timestamptz)",
        "CAST('infinity' AS timestamptz)",
    ),
    "change_24h": SortSpec(
        "l.change_24h_dollars", "desc", "CAST(-1000 AS numeric)", "CAST(1000 AS numeric)"
    ),
}


@dataclass(frozen=True)
class MarketFilter:
    """Filters of the market list; empty means "everything"."""

    statuses: tuple[str, ...] = ()
    series_ticker: str | None = None
    event_ticker: str | None = None
    search: str | None = None
    close_after: datetime | None = None
    close_before: datetime | None = None

    def fingerprint(self) -> str:
        """Identifies the filter in a cursor, so a cursor cannot be reused across filters."""
        return "|".join(
            str(v)
            for v in (
                ",".join(self.statuses),
                self.series_ticker,
                self.event_ticker,
                self.search,
                self.close_after and self.close_after.isoformat(),
                self.close_before and self.close_before.isoformat(),
            )
        )


_MARKET_COLUMNS = """
    m.ticker, m.event_ticker, m.series_ticker, m.title, m.event_title, m.yes_sub_title,
    m.category, m.market_type, m.status, m.open_time, m.close_time, m.result,
    m.settlement_value_dollars, m.determined_at, m.settled_at,
    l.ts AS as_of, l.sequence AS poll, l.yes_bid_dollars, l.yes_ask_dollars,
    l.no_bid_dollars, l.no_ask_dollars, l.last_price_dollars, l.previous_price_dollars,
    l.change_24h_dollars, l.volume_fp, l.volume_24h_fp, l.open_interest_fp
"""


@dataclass(frozen=True)
class ListPage:
    rows: list[dict[str, Any]]
    # (sort value, ticker) of the last row when another page follows, else None.
    next_position: tuple[Any, str] | None


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_markets(
    connection: Connection,
    *,
    filters: MarketFilter,
    sort: str = "volume",
    order: str | None = None,
    limit: int = 100,
    after: tuple[Any, str] | None = None,
) -> ListPage:
    """One page of markets with their latest prices, keyset-paginated.

    ``after`` is the ``(sort value, ticker)`` of the previous page's last row. Ties on the
    sort value are broken by ticker, so pages never overlap or skip.
    """
    spec = SORTS[sort]
    order = order or spec.default_order
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be asc or desc, not {order!r}")
    key = spec.key(order)
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit + 1}
    if filters.statuses:
        where.append("l.status = ANY(:statuses)")
        params["statuses"] = list(filters.statuses)
    if filters.series_ticker:
        where.append("m.series_ticker = :series")
        params["series"] = filters.series_ticker
    if filters.event_ticker:
        where.append("m.event_ticker = :event")
        params["event"] = filters.event_ticker
    if filters.search:
        where.append("(m.ticker ILIKE :q OR m.title ILIKE :q OR m.event_title ILIKE :q)")
        params["q"] = f"%{_escape_like(filters.search)}%"
    if filters.close_after:
        where.append("m.close_time >= :close_after")
        params["close_after"] = filters.close_after
    if filters.close_before:
        where.append("m.close_time < :close_before")
        params["close_before"] = filters.close_before
    if after is not None:
        comparison = "<" if order == "desc" else ">"
        where.append(f"({key}, l.ticker) {comparison} (:after_value, :after_ticker)")
        params["after_value"], params["after_ticker"] = after
    direction = "DESC" if order == "desc" else "ASC"
    ordering = f"ORDER BY {key} {direction}, l.ticker {direction}"
    condition = f"WHERE {' AND '.join(where)} " if where else ""
    if "m." in key or "m." in condition:
        sql = (
            f"SELECT {_MARKET_COLUMNS}, {key} AS sort_value "
            f"FROM market_latest l JOIN markets m ON m.ticker = l.ticker {condition}"
            f"{ordering} LIMIT :limit"
        )
    else:
        # Everything the page depends on is in market_latest: pick the page there (a top-N
        # sort of narrow rows), then join only its rows to markets.
        sql = (
            f"SELECT {_MARKET_COLUMNS}, {key} AS sort_value FROM ("
            f"SELECT * FROM market_latest l {condition}{ordering} LIMIT :limit"
            f") l JOIN markets m ON m.ticker = l.ticker {ordering}"
        )
    rows = [dict(r) for r in connection.execute(text(sql), params).mappings()]
    next_position = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_position = (rows[-1]["sort_value"], rows[-1]["ticker"])
    for row in rows:
        row.pop("sort_value", None)
    return ListPage(rows, next_position)


def get_market(connection: Connection, ticker: str) -> dict[str, Any] | None:
    """One market's metadata and latest prices: every market ``markets`` knows, prices None
    before its first poll and once a long-settled market left ``market_latest`` (ADR 0226)."""
    row = (
        connection.execute(
            text(
                f"SELECT {_MARKET_COLUMNS} FROM markets m "
                "LEFT JOIN market_latest l ON l.ticker = m.ticker WHERE m.ticker = :t"
            ),
            {"t": ticker},
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


def current_poll(connection: Connection) -> int | None:
    """The newest poll's id (None before the first): what the list's cache is keyed by."""
    value = connection.execute(text("SELECT max(id) FROM market_polls")).scalar()
    return None if value is None else int(value)


def last_poll(connection: Connection) -> dict[str, Any] | None:
    row = (
        connection.execute(
            text(
                "SELECT id AS poll, polled_at, market_count, write_seconds, published_at "
                "FROM market_polls ORDER BY id DESC LIMIT 1"
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None


# ---------------------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryRequest:
    ticker: str
    start: datetime | None = None
    end: datetime | None = None
    interval: str | None = None
    price: str = "mid"  # "mid" (YES bid/ask midpoint) or "last" (last trade)


@dataclass(frozen=True)
class Candle:
    """One interval. Prices and volume are exact decimal strings straight from Postgres
    (no float, and no Decimal round trip: decoding 2,000 rows of Decimals and datetimes
    would cost more than the query), ``t`` the interval start as RFC 3339 UTC."""

    t: str
    open: str | None
    high: str | None
    low: str | None
    close: str | None
    volume: str | None
    samples: int


@dataclass(frozen=True)
class History:
    ticker: str
    price: str
    interval: str
    interval_seconds: int
    start: datetime
    end: datetime
    candles: list[Candle] = field(default_factory=list)


def choose_interval(start: datetime, end: datetime, requested: str | None) -> str:
    """The finest offered interval, at least ``requested``, giving at most MAX_CANDLES."""
    names = list(HISTORY_INTERVALS)
    first = names.index(requested) if requested else 0
    for name in names[first:]:
        seconds = HISTORY_INTERVALS[name]
        span = (end - bucket_start(start, seconds)).total_seconds()
        if math.ceil(span / seconds) <= MAX_CANDLES:
            return name
    return names[-1]


def _first(expr: str, descending: bool = False) -> str:
    return first_sql(expr, descending, time_column="t")


_AGGREGATE = f"""
, grouped AS (
    SELECT floor(extract(epoch FROM t) / :i)::bigint AS g,
           {_first("o")} AS open, max(h) AS high, min(lo) AS low, {_first("c", True)} AS close,
           {_first("vo")} AS vol_first, {_first("vc", True)} AS vol_last, sum(n) AS samples
    FROM src GROUP BY 1
)
SELECT to_char(to_timestamp(g * :i) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS bucket,
       open::text AS open, high::text AS high, low::text AS low, close::text AS close,
       greatest(vol_last - coalesce(lag(vol_last) OVER (ORDER BY g),
                                    CAST(:baseline AS numeric), vol_first), 0)::text AS volume,
       samples
FROM grouped ORDER BY g
"""


def _rollup_source(price: str, resolution: int = ROLLUP_RESOLUTION_S) -> str:
    return (
        f"WITH src AS (SELECT bucket_start AS t, {price}_open AS o, {price}_high AS h, "
        f"{price}_low AS lo, {price}_close AS c, volume_open_fp AS vo, "
        "volume_close_fp AS vc, samples AS n FROM market_candles "
        f"WHERE ticker = :ticker AND resolution_s = {int(resolution)} "
        "AND bucket_start >= :start AND bucket_start < :end)"
    )


def _snapshot_source(price: str) -> str:
    value = (MID_SQL if price == "mid" else LAST_SQL).format(p="")
    return (
        "WITH src AS (SELECT ts AS t, x AS o, x AS h, x AS lo, x AS c, volume_fp AS vo, "
        "volume_fp AS vc, 1 AS n FROM ("
        f"SELECT ts, {value} AS x, volume_fp FROM market_snapshots "
        f"WHERE ticker = :ticker AND source = '{POLL_SOURCE}' AND ts >= :start AND ts < :end"
        ") s)"
    )


_ROLLUP_AS_IS = """
SELECT to_char(bucket_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS bucket,
       {p}_open::text AS open, {p}_high::text AS high, {p}_low::text AS low,
       {p}_close::text AS close,
       greatest(volume_close_fp - coalesce(lag(volume_close_fp) OVER (ORDER BY bucket_start),
                                           CAST(:baseline AS numeric), volume_open_fp),
                0)::text AS volume,
       samples
FROM market_candles
WHERE ticker = :ticker AND resolution_s = {r} AND bucket_start >= :start AND bucket_start < :end
ORDER BY bucket_start
"""


def history_sql(price: str, from_rollups: bool, interval_seconds: int | None = None) -> str:
    """The candle query (exposed for the benchmark's naive baseline and for tests).

    From the rollups: the coarsest resolution dividing the interval; at that resolution's
    own width the rollup rows are the candles (no GROUP BY needed).
    """
    if price not in ("mid", "last"):
        raise ValueError("price must be mid or last")
    if from_rollups:
        resolution = rollup_resolution(interval_seconds or ROLLUP_RESOLUTION_S)
        if interval_seconds == resolution:
            return _ROLLUP_AS_IS.format(p=price, r=resolution)
        return _rollup_source(price, resolution) + _AGGREGATE
    return _snapshot_source(price) + _AGGREGATE


_BASELINE_ROLLUP = (
    "SELECT volume_close_fp FROM market_candles WHERE ticker = :ticker "
    "AND resolution_s = {r} AND bucket_start < :start "
    "ORDER BY bucket_start DESC LIMIT 1"
)
_BASELINE_SNAPSHOT = (
    "SELECT volume_fp FROM market_snapshots WHERE ticker = :ticker "
    f"AND source = '{POLL_SOURCE}' AND ts < :start ORDER BY ts DESC LIMIT 1"
)


def _with_inline_baseline(sql: str, interval_seconds: int) -> str:
    """``sql`` with the volume baseline (the last rollup before the range) as a scalar
    subquery instead of a bound value: one statement and one round trip instead of two
    (Postgres runs the uncorrelated subquery once, as an InitPlan)."""
    subquery = "(" + _BASELINE_ROLLUP.format(r=rollup_resolution(interval_seconds)) + ")"
    placeholder = "CAST(:baseline AS numeric)"
    if placeholder not in sql:
        raise ValueError("history SQL without a volume baseline")
    return sql.replace(placeholder, subquery)


def history_bounds(connection: Connection, ticker: str) -> tuple[datetime, datetime] | None:
    """First and last hour the rollups cover for ``ticker`` (None without any poll)."""
    row = connection.execute(
        text(
            "SELECT min(bucket_start), max(last_ts) FROM market_candles "
            f"WHERE ticker = :t AND resolution_s = {ROLLUP_RESOLUTION_S}"
        ),
        {"t": ticker},
    ).first()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def get_history(
    connection: Connection, request: HistoryRequest, *, now: datetime | None = None
) -> History:
    """Candles of ``request.ticker``: default range from its first poll to now.

    The interval is the requested one, coarsened when needed so the answer has at most
    :data:`MAX_CANDLES` candles; buckets without observations are omitted. A candle's
    volume is the contracts traded between the previous candle's last observation (or the
    last one before the range) and its own last observation.
    """
    now = now or datetime.now(UTC)
    end = request.end or now
    start = request.start
    if start is None:
        bounds = history_bounds(connection, request.ticker)
        start = bounds[0] if bounds is not None else end - timedelta(days=1)
        start = min(start, end - timedelta(minutes=1))
    name = choose_interval(start, end, request.interval)
    seconds = HISTORY_INTERVALS[name]
    aligned = bucket_start(start, seconds)
    params: dict[str, Any] = {"ticker": request.ticker, "start": aligned, "end": end}
    rows = connection.execute(
        text(_with_inline_baseline(history_sql(request.price, True, seconds), seconds)),
        {**params, "i": seconds},
    ).all()
    candles = [
        Candle(r.bucket, r.open, r.high, r.low, r.close, r.volume, int(r.samples)) for r in rows
    ]
    return History(request.ticker, request.price, name, seconds, aligned, end, candles)


def iso_z(moment: datetime) -> str:
    """``moment`` as RFC 3339 in UTC with a ``Z``, the one time format the API answers in."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def row_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A list/detail row with exact decimals as strings and times as ISO 8601."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Decimal):
            out[key] = str(value)
        elif isinstance(value, datetime):
            out[key] = iso_z(value)
        else:
            out[key] = value
    return out


def candles_json(candles: Sequence[Candle]) -> list[dict[str, Any]]:
    return [
        {
            "t": c.t,
            "open_dollars": c.open,
            "high_dollars": c.high,
            "low_dollars": c.low,
            "close_dollars": c.close,
            "volume_fp": c.volume,
            "samples": c.samples,
        }
        for c in candles
    ]
