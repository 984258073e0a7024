"""Write one poll: snapshots, market upserts, the latest-price table and candle rollups.

Everything happens in ONE transaction, the caller's, that starts by claiming the
``processed_messages`` row for the triggering message: a redelivered trigger finds the row
taken and writes nothing, and a poll that fails half-way leaves nothing behind.

The bulk path (ADR 0051): rows go to Postgres with ``COPY``, never row by row, and every
other table is written by one set-based statement:

1. ``market_snapshots``: ``COPY`` straight into the table (one row per market per poll);
2. a temporary staging table: ``COPY`` of the prices, plus metadata for only the markets
   whose metadata fingerprint changed since the last poll (usually a handful);
3. ``markets``: upsert of those changed markets, recording results and settlement;
4. ``market_latest``: upsert of every market's newest prices (HOT updates, no index churn);
5. ``market_candles``: fold the new prices into each market's hourly OHLC bucket.

For 10,000 markets that is about 0.2 s of database time (docs/performance.md).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text

from shared.db.models_marketdata import CANDLE_RESOLUTIONS_S
from shared.marketdata.copy_text import copy_payload, encode_copy_rows
from shared.marketdata.observation import FINAL_STATUS, MarketObservation

__all__ = [
    "LAST_SQL",
    "MID_SQL",
    "POLL_SOURCE",
    "PollWrite",
    "WriteTimings",
    "claim_message",
    "metadata_hash",
    "rebuild_candles",
    "write_poll",
]

POLL_SOURCE = "poll"

# A midpoint only exists with a real two-sided quote: Kalshi shows an empty side as a
# 0.0000 bid or a 1.0000 ask (kalshi-api.md §4.3). Shared by the ingest, the rebuild and
# the history queries so all of them fold exactly the same numbers.
MID_SQL = (
    "CASE WHEN {p}yes_bid_dollars > 0 AND {p}yes_ask_dollars < 1 "
    "AND {p}yes_ask_dollars >= {p}yes_bid_dollars "
    "THEN CAST(({p}yes_bid_dollars + {p}yes_ask_dollars) / 2 AS numeric(11, 5)) END"
)
# 0.0000 means "never traded".
LAST_SQL = "NULLIF({p}last_price_dollars, 0)"

_SNAPSHOT_COLUMNS: tuple[str, ...] = (
    "ticker",
    "ts",
    "source",
    "sequence",
    "yes_bid_dollars",
    "yes_ask_dollars",
    "no_bid_dollars",
    "no_ask_dollars",
    "last_price_dollars",
    "volume_fp",
    "open_interest_fp",
    "raw",
)

_STAGING_COLUMNS: tuple[str, ...] = (
    "ticker",
    "yes_bid_dollars",
    "yes_ask_dollars",
    "no_bid_dollars",
    "no_ask_dollars",
    "last_price_dollars",
    "previous_price_dollars",
    "volume_fp",
    "volume_24h_fp",
    "open_interest_fp",
    "meta_hash",
    "status",
)
_META_COLUMNS: tuple[str, ...] = (
    "event_ticker",
    "series_ticker",
    "title",
    "event_title",
    "yes_sub_title",
    "category",
    "market_type",
    "status",
    "open_time",
    "close_time",
    "result",
    "settlement_value_dollars",
    "settlement_ts",
)

_CREATE_STAGING = """
CREATE TEMPORARY TABLE poll_staging (
    ticker varchar(128) NOT NULL,
    yes_bid_dollars numeric(10, 4),
    yes_ask_dollars numeric(10, 4),
    no_bid_dollars numeric(10, 4),
    no_ask_dollars numeric(10, 4),
    last_price_dollars numeric(10, 4),
    previous_price_dollars numeric(10, 4),
    volume_fp numeric(18, 2),
    volume_24h_fp numeric(18, 2),
    open_interest_fp numeric(18, 2),
    meta_hash bigint NOT NULL,
    status varchar(16) NOT NULL
) ON COMMIT DROP
"""

_CREATE_META_STAGING = """
CREATE TEMPORARY TABLE poll_meta_staging (
    ticker varchar(128) NOT NULL,
    event_ticker varchar(128) NOT NULL,
    series_ticker varchar(64),
    title text NOT NULL,
    event_title text,
    yes_sub_title text,
    category varchar(64),
    market_type varchar(16) NOT NULL,
    status varchar(16) NOT NULL,
    open_time timestamptz,
    close_time timestamptz,
    result varchar(16),
    settlement_value_dollars numeric(10, 4),
    settlement_ts timestamptz
) ON COMMIT DROP
"""

# Markets whose metadata differs from what the last poll wrote (or that are new): only
# these get their metadata sent and upserted.
_CHANGED = """
SELECT s.ticker FROM poll_staging s LEFT JOIN market_latest l ON l.ticker = s.ticker
WHERE l.meta_hash IS DISTINCT FROM s.meta_hash
"""

# Results newly known, counted before the upsert overwrites them.
_NEW_RESULTS = """
SELECT count(*) FROM poll_meta_staging s LEFT JOIN markets m ON m.ticker = s.ticker
WHERE s.result IS NOT NULL AND m.result IS DISTINCT FROM s.result
"""

# Metadata follows Kalshi; fields only the event carries (series, event title, category)
# keep their old value when this poll did not learn them. A result is recorded once known
# (and follows an amendment); determined_at / settled_at keep their first value.
_UPSERT_MARKETS = f"""
INSERT INTO markets AS m (
    ticker, event_ticker, series_ticker, title, event_title, yes_sub_title, category,
    market_type, status, open_time, close_time, result, settlement_value_dollars,
    determined_at, settled_at, updated_at
)
SELECT ticker, event_ticker, series_ticker, title, event_title, yes_sub_title, category,
       market_type, status, open_time, close_time, result, settlement_value_dollars,
       CASE WHEN result IS NOT NULL THEN CAST(:ts AS timestamptz) END,
       CASE WHEN status = '{FINAL_STATUS}' THEN coalesce(settlement_ts, :ts) END,
       :ts
FROM poll_meta_staging
ORDER BY ticker
ON CONFLICT (ticker) DO UPDATE SET
    event_ticker = excluded.event_ticker,
    series_ticker = coalesce(excluded.series_ticker, m.series_ticker),
    title = excluded.title,
    event_title = coalesce(excluded.event_title, m.event_title),
    yes_sub_title = excluded.yes_sub_title,
    category = coalesce(excluded.category, m.category),
    market_type = excluded.market_type,
    status = excluded.status,
    open_time = excluded.open_time,
    close_time = excluded.close_time,
    result = coalesce(excluded.result, m.result),
    settlement_value_dollars = coalesce(
        excluded.settlement_value_dollars, m.settlement_value_dollars
    ),
    determined_at = coalesce(m.determined_at, excluded.determined_at),
    settled_at = coalesce(m.settled_at, excluded.settled_at),
    updated_at = excluded.updated_at
"""

# Only a newer poll replaces a market's latest prices.
_UPSERT_LATEST = """
INSERT INTO market_latest AS l (
    ticker, ts, sequence, yes_bid_dollars, yes_ask_dollars, no_bid_dollars, no_ask_dollars,
    last_price_dollars, previous_price_dollars, volume_fp, volume_24h_fp, open_interest_fp,
    meta_hash, status
)
SELECT ticker, :ts, :sequence, yes_bid_dollars, yes_ask_dollars, no_bid_dollars,
       no_ask_dollars, last_price_dollars, previous_price_dollars, coalesce(volume_fp, 0),
       volume_24h_fp, open_interest_fp, meta_hash, status
FROM poll_staging
ORDER BY ticker
ON CONFLICT (ticker) DO UPDATE SET
    ts = excluded.ts,
    sequence = excluded.sequence,
    yes_bid_dollars = excluded.yes_bid_dollars,
    yes_ask_dollars = excluded.yes_ask_dollars,
    no_bid_dollars = excluded.no_bid_dollars,
    no_ask_dollars = excluded.no_ask_dollars,
    last_price_dollars = excluded.last_price_dollars,
    previous_price_dollars = excluded.previous_price_dollars,
    volume_fp = excluded.volume_fp,
    volume_24h_fp = excluded.volume_24h_fp,
    open_interest_fp = excluded.open_interest_fp,
    meta_hash = excluded.meta_hash,
    status = excluded.status
WHERE l.ts <= excluded.ts
"""

_RESOLUTIONS_VALUES = ", ".join(f"({r})" for r in CANDLE_RESOLUTIONS_S)


def bucket_sql(ts: str, seconds: str) -> str:
    """SQL for the start of the ``seconds``-wide epoch-aligned bucket holding ``ts``."""
    return f"to_timestamp(floor(extract(epoch FROM {ts}) / {seconds}) * {seconds})"


# Fold one observation per market into its bucket at every rollup resolution. Open and
# close are the first and last non-NULL values by observation time, so a late,
# out-of-order write still lands where it belongs; rebuild_candles computes the same thing
# from scratch (a test holds the two equal).
_UPSERT_CANDLES = f"""
INSERT INTO market_candles AS c (
    ticker, resolution_s, bucket_start, first_ts, last_ts,
    mid_open, mid_high, mid_low, mid_close,
    last_open, last_high, last_low, last_close,
    volume_open_fp, volume_close_fp, samples
)
SELECT s.ticker, r.res, {bucket_sql("CAST(:ts AS timestamptz)", "r.res")}, :ts, :ts,
       s.mid, s.mid, s.mid, s.mid, s.last, s.last, s.last, s.last,
       s.volume_fp, s.volume_fp, 1
FROM (
    SELECT ticker, {MID_SQL.format(p="")} AS mid, {LAST_SQL.format(p="")} AS last, volume_fp
    FROM poll_staging
) s CROSS JOIN (VALUES {_RESOLUTIONS_VALUES}) AS r(res)
ORDER BY s.ticker, r.res
ON CONFLICT (ticker, resolution_s, bucket_start) DO UPDATE SET
    first_ts = least(c.first_ts, excluded.first_ts),
    last_ts = greatest(c.last_ts, excluded.last_ts),
    mid_open = CASE WHEN excluded.first_ts < c.first_ts
        THEN coalesce(excluded.mid_open, c.mid_open) ELSE coalesce(c.mid_open, excluded.mid_open)
        END,
    mid_high = greatest(c.mid_high, excluded.mid_high),
    mid_low = least(c.mid_low, excluded.mid_low),
    mid_close = CASE WHEN excluded.last_ts >= c.last_ts
        THEN coalesce(excluded.mid_close, c.mid_close)
        ELSE coalesce(c.mid_close, excluded.mid_close) END,
    last_open = CASE WHEN excluded.first_ts < c.first_ts
        THEN coalesce(excluded.last_open, c.last_open)
        ELSE coalesce(c.last_open, excluded.last_open) END,
    last_high = greatest(c.last_high, excluded.last_high),
    last_low = least(c.last_low, excluded.last_low),
    last_close = CASE WHEN excluded.last_ts >= c.last_ts
        THEN coalesce(excluded.last_close, c.last_close)
        ELSE coalesce(c.last_close, excluded.last_close) END,
    volume_open_fp = CASE WHEN excluded.first_ts < c.first_ts
        THEN coalesce(excluded.volume_open_fp, c.volume_open_fp)
        ELSE coalesce(c.volume_open_fp, excluded.volume_open_fp) END,
    volume_close_fp = CASE WHEN excluded.last_ts >= c.last_ts
        THEN coalesce(excluded.volume_close_fp, c.volume_close_fp)
        ELSE coalesce(c.volume_close_fp, excluded.volume_close_fp) END,
    samples = c.samples + 1
"""


@dataclass
class WriteTimings:
    """Where a poll's write spent its time: database round trips vs Python encoding."""

    database_seconds: float = 0.0
    encode_seconds: float = 0.0
    steps: dict[str, float] | None = None

    def measure(self, name: str, step: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return step()
        finally:
            elapsed = time.perf_counter() - started
            self.database_seconds += elapsed
            if self.steps is None:
                self.steps = {}
            self.steps[name] = self.steps.get(name, 0.0) + elapsed


@dataclass(frozen=True)
class PollWrite:
    """What one poll wrote. ``sequence`` is the poll number stamped on its snapshots."""

    sequence: int
    polled_at: datetime
    snapshots: int
    markets_changed: int
    newly_determined: int
    seconds: float
    timings: WriteTimings


def claim_message(connection: Connection, consumer: str, message_id: str) -> bool:
    """Insert the ``processed_messages`` row; False when another delivery already did.

    Must run first in the transaction that does the work: a concurrent duplicate blocks on
    the row until the first commits, then sees the conflict.
    """
    claimed = connection.execute(
        text(
            "INSERT INTO processed_messages (consumer, message_id) VALUES (:c, :m) "
            "ON CONFLICT DO NOTHING RETURNING 1"
        ),
        {"c": consumer, "m": message_id},
    ).first()
    return claimed is not None


def _text(value: object) -> str:
    return "" if value is None else str(value)


def metadata_hash(o: MarketObservation) -> int:
    """A stable signed 64-bit fingerprint of what ``markets`` stores for ``o``."""
    joined = "\x1f".join(
        [
            o.event_ticker,
            _text(o.series_ticker),
            o.title,
            _text(o.event_title),
            _text(o.yes_sub_title),
            _text(o.category),
            o.market_type,
            o.status,
            _text(o.open_time and o.open_time.isoformat()),
            _text(o.close_time and o.close_time.isoformat()),
            _text(o.result),
            _text(o.settlement_value_dollars),
            _text(o.settlement_ts and o.settlement_ts.isoformat()),
        ]
    )
    digest = hashlib.blake2b(joined.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


_NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _num(value: object) -> str:
    return _NULL if value is None else str(value)


def _escaped(value: str) -> str:
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _raw_text(raw: bytes | None) -> str:
    return _NULL if raw is None else _escaped(raw.decode("utf-8"))


def _snapshot_payload(
    observations: Sequence[MarketObservation], polled_at: datetime, sequence: int
) -> bytes:
    """COPY text for the snapshot rows, specialised for speed (10,000 rows in ~30 ms).

    Same format as :func:`encode_copy_rows`, which the tests compare it against.
    """
    middle = f"\t{polled_at.isoformat()}\t{POLL_SOURCE}\t{sequence}\t"
    return "".join(
        [
            f"{_escaped(o.ticker)}{middle}{_num(o.yes_bid_dollars)}\t{_num(o.yes_ask_dollars)}\t"
            f"{_num(o.no_bid_dollars)}\t{_num(o.no_ask_dollars)}\t{_num(o.last_price_dollars)}\t"
            f"{_num(o.volume_fp)}\t{_num(o.open_interest_fp)}\t{_raw_text(o.raw)}\n"
            for o in observations
        ]
    ).encode("utf-8")


def _staging_payload(observations: Sequence[MarketObservation]) -> bytes:
    return "".join(
        [
            f"{_escaped(o.ticker)}\t{_num(o.yes_bid_dollars)}\t{_num(o.yes_ask_dollars)}\t"
            f"{_num(o.no_bid_dollars)}\t{_num(o.no_ask_dollars)}\t{_num(o.last_price_dollars)}\t"
            f"{_num(o.previous_price_dollars)}\t{_num(o.volume_fp)}\t{_num(o.volume_24h_fp)}\t"
            f"{_num(o.open_interest_fp)}\t{metadata_hash(o)}\t{_escaped(o.status)}\n"
            for o in observations
        ]
    ).encode("utf-8")


def _meta(o: MarketObservation) -> tuple[object, ...]:
    return (
        o.event_ticker,
        o.series_ticker,
        o.title,
        o.event_title,
        o.yes_sub_title,
        o.category,
        o.market_type,
        o.status,
        o.open_time,
        o.close_time,
        o.result,
        o.settlement_value_dollars,
        o.settlement_ts,
    )


def write_poll(
    connection: Connection,
    *,
    message_id: str,
    polled_at: datetime,
    observations: Sequence[MarketObservation],
    consumer: str = "poll_markets",
    fetch_seconds: float | None = None,
) -> PollWrite | None:
    """Write one poll in ``connection``'s transaction; None if ``message_id`` was processed.

    The caller owns the transaction (``with engine.begin() as connection``) and commits it;
    nothing here commits. ``polled_at`` must be timezone-aware; it becomes every snapshot's
    ``ts``. Tickers must be unique within ``observations``.
    """
    if polled_at.tzinfo is None:
        raise ValueError("polled_at must be timezone-aware")
    if len({o.ticker for o in observations}) != len(observations):
        raise ValueError("observations contain the same ticker twice")
    started = time.perf_counter()
    t = WriteTimings()
    run = connection.execute

    if not t.measure("claim", lambda: claim_message(connection, consumer, message_id)):
        return None
    sequence = int(
        t.measure(
            "poll_row",
            lambda: run(
                text(
                    "INSERT INTO market_polls (message_id, polled_at, market_count, "
                    "fetch_seconds) VALUES (:m, :ts, :n, :f) RETURNING id"
                ),
                {"m": message_id, "ts": polled_at, "n": len(observations), "f": fetch_seconds},
            ).scalar_one(),
        )
    )
    snapshots = changed = newly_determined = 0
    if observations:
        encode_started = time.perf_counter()
        by_ticker = {o.ticker: o for o in observations}
        snapshot_payload = _snapshot_payload(observations, polled_at, sequence)
        staging_payload = _staging_payload(observations)
        t.encode_seconds += time.perf_counter() - encode_started

        snapshots = t.measure(
            "copy_snapshots",
            lambda: copy_payload(
                connection, "market_snapshots", _SNAPSHOT_COLUMNS, snapshot_payload
            ),
        )
        t.measure("create_staging", lambda: run(text(_CREATE_STAGING)))
        t.measure(
            "copy_staging",
            lambda: copy_payload(connection, "poll_staging", _STAGING_COLUMNS, staging_payload),
        )
        changed_tickers = [
            row[0] for row in t.measure("diff_metadata", lambda: run(text(_CHANGED)).all())
        ]
        changed = len(changed_tickers)
        if changed_tickers:
            encode_started = time.perf_counter()
            meta_payload = encode_copy_rows(
                (ticker, *_meta(by_ticker[ticker])) for ticker in changed_tickers
            )
            t.encode_seconds += time.perf_counter() - encode_started
            t.measure("create_meta_staging", lambda: run(text(_CREATE_META_STAGING)))
            t.measure(
                "copy_meta_staging",
                lambda: copy_payload(
                    connection, "poll_meta_staging", ("ticker", *_META_COLUMNS), meta_payload
                ),
            )
            newly_determined = int(
                t.measure("new_results", lambda: run(text(_NEW_RESULTS)).scalar_one())
            )
            t.measure("upsert_markets", lambda: run(text(_UPSERT_MARKETS), {"ts": polled_at}))
        t.measure(
            "upsert_latest",
            lambda: run(text(_UPSERT_LATEST), {"ts": polled_at, "sequence": sequence}),
        )

        t.measure("upsert_candles", lambda: run(text(_UPSERT_CANDLES), {"ts": polled_at}))
    seconds = time.perf_counter() - started
    t.measure(
        "finish_poll_row",
        lambda: run(
            text("UPDATE market_polls SET settled_count = :d, write_seconds = :w WHERE id = :id"),
            {"d": newly_determined, "w": seconds, "id": sequence},
        ),
    )
    return PollWrite(sequence, polled_at, snapshots, changed, newly_determined, seconds, t)


def _first_sql(expr: str, descending: bool = False) -> str:
    order = "ts DESC" if descending else "ts"
    return f"(array_agg({expr} ORDER BY {order}) FILTER (WHERE {expr} IS NOT NULL))[1]"


_REBUILD_CANDLES = f"""
INSERT INTO market_candles (
    ticker, resolution_s, bucket_start, first_ts, last_ts,
    mid_open, mid_high, mid_low, mid_close,
    last_open, last_high, last_low, last_close,
    volume_open_fp, volume_close_fp, samples
)
SELECT s.ticker, r.res, {bucket_sql("s.ts", "r.res")} AS bucket, min(s.ts), max(s.ts),
       {_first_sql("mid")}, max(mid), min(mid), {_first_sql("mid", True)},
       {_first_sql("last")}, max(last), min(last), {_first_sql("last", True)},
       {_first_sql("volume_fp")}, {_first_sql("volume_fp", True)}, count(*)
FROM (
    SELECT ticker, ts, {MID_SQL.format(p="")} AS mid, {LAST_SQL.format(p="")} AS last, volume_fp
    FROM market_snapshots
    WHERE source = :source AND (CAST(:tickers AS text[]) IS NULL OR ticker = ANY(:tickers))
) s CROSS JOIN (VALUES {_RESOLUTIONS_VALUES}) AS r(res)
GROUP BY s.ticker, r.res, bucket
"""


def rebuild_candles(connection: Connection, tickers: Sequence[str] | None = None) -> int:
    """Recompute ``market_candles`` from ``market_snapshots`` (all markets, or ``tickers``).

    For backfills (snapshots written by other means) and to check that the incremental
    fold at ingest agrees with a from-scratch computation. Returns the rows written.
    """
    ticker_list = list(tickers) if tickers is not None else None
    connection.execute(
        text(
            "DELETE FROM market_candles "
            "WHERE CAST(:tickers AS text[]) IS NULL OR ticker = ANY(:tickers)"
        ),
        {"tickers": ticker_list},
    )
    result = connection.execute(
        text(_REBUILD_CANDLES), {"tickers": ticker_list, "source": POLL_SOURCE}
    )
    return int(result.rowcount)
