"""Write one poll: snapshots, market upserts, the latest-price table and candle rollups.

Everything happens in ONE transaction, the caller's, that starts by claiming the
``processed_messages`` row for the triggering message
(:func:`~shared.marketdata.poll_state.claim_message`): a redelivered trigger finds the row
taken and writes nothing, and a poll that fails half-way leaves nothing behind. The next
statement takes the market-data write lock (:func:`lock_market_data`), so polls write one
at a time: no deadlocks whatever order rows are visited in, and what a statement finds
missing cannot be inserted by anybody else before it does (ADR 0055).

The bulk path (ADR 0051, 0055): rows go to Postgres with ``COPY``, never row by row, and
every other table is written by set-based statements:

1. a temporary staging table: ``COPY`` of the prices and two fingerprints (metadata, and
   what a snapshot carries);
2. one visit of each market's ``market_latest`` row: which snapshots to store (change-only,
   ADR 0170), which markets lack a latest row or changed metadata (ADR 0223);
3. ``market_snapshots``: ``COPY`` of the stored rows straight into the table;
4. ``markets``, only when some metadata is new or changed: new markets ``COPY``-ed straight
   in; the (usually few) changed ones go through a second staging table and an upsert
   that records results and settlement;
5. ``market_latest``: ``UPDATE ... FROM`` the staging table (HOT updates, no index churn,
   no row-lock WAL record as ``ON CONFLICT`` writes), ``INSERT`` of missing rows only;
6. ``market_candles``: the same ``UPDATE`` for each stored market's bucket at every
   resolution, then ``INSERT ... ON CONFLICT`` of the buckets it did not find (no
   anti-join, so no plan that stale statistics can turn quadratic: ADR 0091); a late poll
   that lands inside a candle's span has that candle's open and close recomputed
   (ADR 0092).

Every join of the staged markets to a table of every market ever seen probes its primary
key (hash and merge joins off, ADR 0223): the work follows the markets polled, not the
markets known.

Text Postgres refuses (NUL, lone surrogates) is removed before anything is encoded
(ADR 0093).

For the measured figures (a steady poll of 10,000 and of 100,000 markets beside 100,000
known ones) see docs/performance.md and ``tests/bench/bench_history.py``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection, text

from shared.db.copy_text import (
    COPY_NULL,
    copy_payload,
    copy_text,
    copy_time,
    encode_copy_rows,
)
from shared.db.models_marketdata import CANDLE_RESOLUTIONS_S
from shared.history.partitions import ensure_partition
from shared.history.sources import OWN_SOURCES_SQL
from shared.marketdata.observation import FINAL_STATUS, MarketObservation, clean_observations
from shared.marketdata.poll_state import claim_message
from shared.marketdata.sql import (
    LAST_SQL,
    MID_SQL,
    POLL_SOURCE,
    bucket_sql,
    bucket_start,
    first_sql,
)

__all__ = [
    "MARKET_DATA_LOCK_KEY",
    "PollWrite",
    "WriteTimings",
    "fold_candles",
    "lock_market_data",
    "metadata_hash",
    "planner_settings",
    "rebuild_candles",
    "write_poll",
]

log = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_SECONDS = 3_600.0
"""A market's snapshot is stored at least this often even when nothing changed (ADR 0170)."""

MARKET_DATA_LOCK_KEY = int.from_bytes(b"KImktdat", "big", signed=True)
"""The transaction-scoped advisory lock every writer of the market-data tables takes."""

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
    "ord",
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
    "snapshot_hash",
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
# A new market's row as the upsert below would insert it: settlement_ts becomes settled_at.
_NEW_MARKET_COLUMNS: tuple[str, ...] = (
    "ticker",
    *_META_COLUMNS[:-1],
    "determined_at",
    "settled_at",
    "updated_at",
)

# ``ord`` is the market's position in the ticker-sorted poll, so the diff can answer with
# a few integers instead of 10,000 tickers.
_CREATE_STAGING = """
CREATE TEMPORARY TABLE poll_staging (
    ord integer NOT NULL,
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
    status varchar(16) NOT NULL,
    snapshot_hash bigint NOT NULL,
    store boolean NOT NULL DEFAULT true,
    has_latest boolean NOT NULL DEFAULT false,
    meta_stale boolean NOT NULL DEFAULT true,
    seen_ts timestamptz,
    held_stored_ts timestamptz,
    held_yes_bid_dollars numeric(10, 4),
    held_yes_ask_dollars numeric(10, 4),
    held_last_price_dollars numeric(10, 4),
    held_volume_fp numeric(18, 2)
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

# A candle the fold must find: the market's last stored snapshot (before this poll) lies
# earlier in this poll's bucket, and every stored snapshot is folded into its buckets.
# The candle insert skips these rows (they would only conflict) once the fold has found
# every one of them; otherwise it tries every row, as ON CONFLICT keeps it right.
_EXPECTED = (
    "coalesce(s.held_stored_ts >= s.bucket AND s.held_stored_ts < CAST(:ts AS timestamptz), false)"
)
_EXPECTED_COUNT = " + ".join(
    f"coalesce((held_stored_ts >= CAST(:bucket_{r} AS timestamptz) "
    "AND held_stored_ts < CAST(:ts AS timestamptz))::int, 0)"
    for r in CANDLE_RESOLUTIONS_S
)

# Change-only snapshots (ADR 0170). A market's snapshot is stored when it is new, when
# what it carries changed since its last stored snapshot (the fingerprint in
# market_latest), when its heartbeat is due, when it was missing from the previous poll
# (so a stored snapshot never holds across polls that did not see the market), and when
# this poll is late (market_latest already holds a newer observation). :full stores
# every one (heartbeat 0). The values the market's last stored snapshot carried, which
# market_latest holds until this poll rewrites it, are kept for the candle fold.
#
# The same visit of each market's latest row compares its metadata fingerprint
# (meta_stale stays true for a market without one) and marks the row found (has_latest),
# so no later statement joins market_latest to learn either (ADR 0223). Under
# _PROBE_SETTINGS each market costs one probe of market_latest's primary key, whatever
# the table holds.
# Answers, in one row: how many markets have a latest row, the positions of those NOT
# stored (integers decode in microseconds), how many have changed metadata, and how many
# candles the fold must find (_EXPECTED).
_CHOOSE_STORED = f"""
WITH held AS (
    UPDATE poll_staging s SET
        store = (CAST(:full AS boolean) OR l.stored_ts IS NULL
                 OR l.snapshot_hash IS DISTINCT FROM s.snapshot_hash
                 OR l.stored_ts <= CAST(:heartbeat_due AS timestamptz)
                 OR l.ts >= CAST(:ts AS timestamptz)
                 OR l.ts < coalesce((SELECT max(p.polled_at) FROM market_polls p
                                     WHERE p.polled_at < CAST(:ts AS timestamptz)), l.ts)),
        has_latest = true,
        meta_stale = l.meta_hash IS DISTINCT FROM s.meta_hash,
        seen_ts = l.ts,
        held_stored_ts = l.stored_ts,
        held_yes_bid_dollars = l.yes_bid_dollars,
        held_yes_ask_dollars = l.yes_ask_dollars,
        held_last_price_dollars = l.last_price_dollars,
        held_volume_fp = l.volume_fp
    FROM market_latest l
    WHERE l.ticker = s.ticker
    RETURNING s.ord, s.store, s.meta_stale, s.held_stored_ts
)
SELECT count(*), coalesce(string_agg(ord::text, ',') FILTER (WHERE NOT store), ''),
       count(*) FILTER (WHERE meta_stale),
       coalesce(sum({_EXPECTED_COUNT}) FILTER (WHERE store), 0)
FROM held
"""

# Only when some market lacks a latest row or changed metadata (a first poll, new
# markets, a status change): the positions of the markets whose metadata must be written,
# split into unknown to ``markets`` (COPY-ed in) and known (upserted). A LEFT JOIN, not
# EXISTS: Postgres may answer an EXISTS by hashing all of ``markets``, where the join
# under _PROBE_SETTINGS probes its key once per market to write.
_DIFF = """
SELECT coalesce(string_agg(s.ord::text, ',') FILTER (WHERE m.ticker IS NULL), ''),
       coalesce(string_agg(s.ord::text, ',') FILTER (WHERE m.ticker IS NOT NULL), '')
FROM poll_staging s LEFT JOIN markets m ON m.ticker = s.ticker
WHERE s.meta_stale
"""

# Every statement from the choice of stored snapshots on joins the poll's staged markets
# to a table that holds every market ever seen (market_latest, markets, market_candles).
# The planner does not know how many rows the temporary staging table holds (it is never
# analyzed: ANALYZE of 10,000 rows costs ~30 ms) and, facing 100,000 latest rows, hashed
# or merged all of them (~40 ms per statement at 100,000 markets, growing with the
# markets known). With hash and merge joins off, each staged market probes the big
# table's primary key: the cost follows the markets polled (ADR 0223). JIT off: the
# priced-out plans' costs would otherwise trigger JIT compilation (15-200 ms measured)
# for statements that run in milliseconds.
_PROBE_SETTINGS: dict[str, str] = {
    "enable_hashjoin": "off",
    "enable_mergejoin": "off",
    "jit": "off",
}

# Results newly known, counted before the upsert overwrites them.
_NEW_RESULTS = """
SELECT count(*) FROM poll_meta_staging s LEFT JOIN markets m ON m.ticker = s.ticker
WHERE s.result IS NOT NULL AND m.result IS DISTINCT FROM s.result
"""

# Metadata follows Kalshi; fields only the event carries (series, event title, category)
# keep their old value when this poll did not learn them. A result is recorded once known
# (and follows an amendment); determined_at / settled_at keep their first value. New
# markets are COPY-ed in with what the INSERT branch would write (_new_markets_payload);
# ON CONFLICT stays so this statement is right whatever it meets.
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

# Only a newer poll replaces a market's latest prices. A plain UPDATE: ON CONFLICT DO
# UPDATE would lock each row first (one more WAL record per row), ~35 % slower here.
_UPDATE_LATEST = """
UPDATE market_latest AS l SET
    ts = CAST(:ts AS timestamptz),
    sequence = :sequence,
    yes_bid_dollars = s.yes_bid_dollars,
    yes_ask_dollars = s.yes_ask_dollars,
    no_bid_dollars = s.no_bid_dollars,
    no_ask_dollars = s.no_ask_dollars,
    last_price_dollars = s.last_price_dollars,
    previous_price_dollars = s.previous_price_dollars,
    volume_fp = coalesce(s.volume_fp, 0),
    volume_24h_fp = s.volume_24h_fp,
    open_interest_fp = s.open_interest_fp,
    meta_hash = s.meta_hash,
    status = s.status,
    snapshot_hash = s.snapshot_hash,
    stored_ts = CASE WHEN s.store THEN CAST(:ts AS timestamptz) ELSE l.stored_ts END
FROM poll_staging s
WHERE s.has_latest AND l.ticker = s.ticker AND l.ts <= CAST(:ts AS timestamptz)
"""

# Markets seen for the first time (or again after pruning: shared.history.pruning), as
# the choice of stored snapshots found them. Under the write lock nobody else can insert
# them.
_INSERT_LATEST = """
INSERT INTO market_latest (
    ticker, ts, sequence, yes_bid_dollars, yes_ask_dollars, no_bid_dollars, no_ask_dollars,
    last_price_dollars, previous_price_dollars, volume_fp, volume_24h_fp, open_interest_fp,
    meta_hash, status, snapshot_hash, stored_ts
)
SELECT s.ticker, :ts, :sequence, s.yes_bid_dollars, s.yes_ask_dollars, s.no_bid_dollars,
       s.no_ask_dollars, s.last_price_dollars, s.previous_price_dollars,
       coalesce(s.volume_fp, 0), s.volume_24h_fp, s.open_interest_fp, s.meta_hash, s.status,
       s.snapshot_hash, :ts
FROM poll_staging s
WHERE NOT s.has_latest
"""

# Every column of a candle, in the order both inserters (a poll's new buckets, a rebuild)
# select them.
_INSERT_INTO_CANDLES = """INSERT INTO market_candles (
    ticker, resolution_s, bucket_start, first_ts, last_ts,
    mid_open, mid_high, mid_low, mid_close,
    last_open, last_high, last_low, last_close,
    volume_open_fp, volume_close_fp, samples
)"""

_RESOLUTIONS_VALUES = ", ".join(f"({r})" for r in CANDLE_RESOLUTIONS_S)
# Each resolution with this poll's bucket start, computed once in Python (bucket_start).
_BUCKETS_VALUES = ", ".join(
    f"({r}, CAST(:bucket_{r} AS timestamptz))" for r in CANDLE_RESOLUTIONS_S
)


# This poll's observation of each market in its bucket at every resolution, as the
# candles fold it. OFFSET 0 keeps the planner from inlining the subquery, which would
# compute mid and last once per reference (up to eight times a row) instead of once.
# Only the snapshots this poll stores are folded (ADR 0170): a rollup is the rollup of the
# stored snapshots, each holding until the next.
# The resolutions are unnested side by side in the select list (one row per resolution,
# no join), each with this poll's bucket start.
_CANDLE_ROWS = f"""
    SELECT o.*, unnest(ARRAY[{", ".join(str(r) for r in CANDLE_RESOLUTIONS_S)}]) AS res,
           unnest(ARRAY[{
    ", ".join(f"CAST(:bucket_{r} AS timestamptz)" for r in CANDLE_RESOLUTIONS_S)
}]) AS bucket
    FROM (
        SELECT ticker, {MID_SQL.format(p="")} AS mid, {LAST_SQL.format(p="")} AS last,
               volume_fp, seen_ts, held_stored_ts, {MID_SQL.format(p="held_")} AS held_mid,
               {LAST_SQL.format(p="held_")} AS held_last, held_volume_fp
        FROM poll_staging WHERE store OFFSET 0
    ) o"""
_CANDLE_SOURCE = f"({_CANDLE_ROWS}\n) s"


# Fold one observation per market into its existing bucket at every rollup resolution.
# Open and close are the first and last non-NULL values by observation time, so a late,
# out-of-order write still lands where it belongs; rebuild_candles computes the same thing
# from scratch (a test holds the two equal). Every SET expression reads the row as it was.
def _fold_open(column: str, value: str) -> tuple[str, str]:
    """An opening value: this observation's when it is earlier than the candle's first."""
    return (
        f"CASE WHEN CAST(:ts AS timestamptz) < c.first_ts "
        f"THEN coalesce({value}, c.{column}) ELSE coalesce(c.{column}, {value}) END",
        value,
    )


def _fold_close(column: str, value: str) -> tuple[str, str]:
    """A closing value: this observation's when it is not earlier than the candle's last."""
    return (
        f"CASE WHEN CAST(:ts AS timestamptz) >= c.last_ts "
        f"THEN coalesce({value}, c.{column}) ELSE coalesce(c.{column}, {value}) END",
        value,
    )


_FOLD_SETS: dict[str, tuple[str, str]] = {
    # column: (the fold into an own candle, a fresh candle from this observation alone)
    "first_ts": ("least(c.first_ts, CAST(:ts AS timestamptz))", "CAST(:ts AS timestamptz)"),
    "last_ts": ("greatest(c.last_ts, CAST(:ts AS timestamptz))", "CAST(:ts AS timestamptz)"),
    "mid_open": _fold_open("mid_open", "s.mid"),
    "mid_high": ("greatest(c.mid_high, s.mid)", "s.mid"),
    "mid_low": ("least(c.mid_low, s.mid)", "s.mid"),
    "mid_close": _fold_close("mid_close", "s.mid"),
    "last_open": _fold_open("last_open", "s.last"),
    "last_high": ("greatest(c.last_high, s.last)", "s.last"),
    "last_low": ("least(c.last_low, s.last)", "s.last"),
    "last_close": _fold_close("last_close", "s.last"),
    "volume_open_fp": _fold_open("volume_open_fp", "s.volume_fp"),
    "volume_close_fp": _fold_close("volume_close_fp", "s.volume_fp"),
    "samples": ("c.samples + 1", "1"),
    "source": ("c.source", f"'{POLL_SOURCE}'"),
}
_OWN_CANDLE = f"c.source IN {OWN_SOURCES_SQL}"

# A candle another source wrote (Kalshi's, the trade tape's) is replaced by this poll's
# observation rather than folded into (ADR 0172). The choice is made per column in SET,
# never as a filter on c.source in WHERE: Postgres estimates an equality on an unanalyzed
# column at 0.5 % of the rows, and with that estimate it planned a nested loop that
# rescanned the staging table once per candle (minutes at 10,000 markets).
#
# The rows are one materialized set, so the only join is with market_candles on its whole
# primary key: under _PROBE_SETTINGS (and the scans fold_candles prices out) one key probe
# per stored market and resolution. Joined as two relations, the planner probed by
# ticker alone and filtered every candle the ticker has (ADR 0223).
_UPDATE_CANDLES = f"""
WITH s AS MATERIALIZED ({_CANDLE_ROWS}
)
UPDATE market_candles AS c SET
    {
    ", ".join(
        f"{col} = CASE WHEN {_OWN_CANDLE} THEN {fold} ELSE {fresh} END"
        for col, (fold, fresh) in _FOLD_SETS.items()
    )
}
FROM s
WHERE c.ticker = s.ticker AND c.resolution_s = s.res AND c.bucket_start = s.bucket
"""

# Buckets this poll opens (a new bucket, a new market): every row the UPDATE above did not
# fold. ON CONFLICT on the primary key, not an anti-join against market_candles: that
# join's plan hung on the table's statistics, and once they were older than the current
# bucket the planner expected one candle in it and chose a nested loop, rescanning the
# bucket once per market (2 s at 10,000 markets of which a few were new, 7.5 s at 20,000).
# A conflict is one probe of the primary key per market whatever the statistics say
# (ADR 0091). A conflicting candle from another source (Kalshi's candles, the trade tape)
# is replaced: the project's own observations win (ADR 0172).
#
# When the market was seen earlier in this bucket (``seen_ts``) but nothing was stored
# then, its held snapshot (the values market_latest kept) was the bucket's opening
# observation: the candle opens from it, as it would have with every poll stored.
_HELD = "CASE WHEN s.seen_ts >= s.bucket AND s.seen_ts < CAST(:ts AS timestamptz) THEN {x} END"
_INSERT_CANDLES = f"""
{_INSERT_INTO_CANDLES[:-1]}, source)
SELECT ticker, res, bucket, first_ts, :ts,
       coalesce(h_mid, mid), greatest(h_mid, mid), least(h_mid, mid), coalesce(mid, h_mid),
       coalesce(h_last, last), greatest(h_last, last), least(h_last, last),
       coalesce(last, h_last),
       coalesce(h_vol, volume_fp), coalesce(volume_fp, h_vol), 1, '{POLL_SOURCE}'
FROM (
    SELECT s.ticker, s.res, s.bucket, s.mid, s.last, s.volume_fp,
           coalesce({_HELD.format(x="greatest(s.bucket, s.held_stored_ts)")},
                    CAST(:ts AS timestamptz)) AS first_ts,
           {_HELD.format(x="s.held_mid")} AS h_mid, {_HELD.format(x="s.held_last")} AS h_last,
           {_HELD.format(x="s.held_volume_fp")} AS h_vol
    FROM {_CANDLE_SOURCE}
) n
ON CONFLICT (ticker, resolution_s, bucket_start) DO UPDATE SET
    first_ts = excluded.first_ts, last_ts = excluded.last_ts,
    mid_open = excluded.mid_open, mid_high = excluded.mid_high,
    mid_low = excluded.mid_low, mid_close = excluded.mid_close,
    last_open = excluded.last_open, last_high = excluded.last_high,
    last_low = excluded.last_low, last_close = excluded.last_close,
    volume_open_fp = excluded.volume_open_fp, volume_close_fp = excluded.volume_close_fp,
    samples = excluded.samples, source = excluded.source
WHERE market_candles.source NOT IN {OWN_SOURCES_SQL}
"""
# The rows of _INSERT_CANDLES the fold did not certainly find (_EXPECTED).
_INSERT_OPENED_CANDLES = _INSERT_CANDLES.replace(
    f"FROM {_CANDLE_SOURCE}\n", f"FROM {_CANDLE_SOURCE}\n    WHERE NOT {_EXPECTED}\n"
)
assert _INSERT_OPENED_CANDLES != _INSERT_CANDLES


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
    """What one poll wrote. ``sequence`` is the poll number stamped on its snapshots.

    ``cleaned`` and ``skipped`` are the tickers of markets stored with characters Postgres
    refuses removed, and of markets left out because their ticker itself was unusable.
    """

    sequence: int
    polled_at: datetime
    snapshots: int
    markets_changed: int
    newly_determined: int
    seconds: float
    timings: WriteTimings
    cleaned: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def lock_market_data(connection: Connection) -> None:
    """Take the market-data write lock until ``connection``'s transaction ends.

    Every writer of ``markets``, ``market_latest`` and ``market_candles`` takes it (the
    poll, :func:`rebuild_candles`), so they write one at a time: a statement that finds a
    row missing can insert it without ``ON CONFLICT``, and concurrent writers never
    deadlock whatever order their joins visit rows in. That reasoning needs each statement
    to see what the previous lock holder committed, i.e. READ COMMITTED (the default);
    anything else is refused.
    """
    isolation = connection.execute(
        text(
            "SELECT current_setting('transaction_isolation') "
            "FROM (SELECT pg_advisory_xact_lock(:key)) AS locked"
        ),
        {"key": MARKET_DATA_LOCK_KEY},
    ).scalar_one()
    if isolation != "read committed":
        raise ValueError(f"market-data writes need READ COMMITTED, not {isolation}")


def _instant(moment: datetime | None) -> str:
    # The POSIX time's shortest repr: exact to the microsecond, a third of isoformat()'s cost.
    return "" if moment is None else repr(moment.timestamp())


def metadata_hash(o: MarketObservation) -> int:
    """A stable signed 64-bit fingerprint of what ``markets`` stores for ``o``.

    The fields joined by U+001F (None as "", times as POSIX seconds), BLAKE2b-64: stable
    across processes and releases, unlike :func:`hash`. One f-string: this runs 10,000
    times a poll.
    """
    settlement = o.settlement_value_dollars
    joined = (
        f"{o.event_ticker}\x1f{o.series_ticker or ''}\x1f{o.title}\x1f{o.event_title or ''}\x1f"
        f"{o.yes_sub_title or ''}\x1f{o.category or ''}\x1f{o.market_type}\x1f{o.status}\x1f"
        f"{_instant(o.open_time)}\x1f{_instant(o.close_time)}\x1f{o.result or ''}\x1f"
        f"{'' if settlement is None else settlement}\x1f{_instant(o.settlement_ts)}"
    )
    digest = hashlib.blake2b(joined.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# The COPY text helpers under short local names, so each row's f-string below stays readable.
_NULL = COPY_NULL
_escaped = copy_text
_time = copy_time


def _num(value: object) -> str:
    return _NULL if value is None else str(value)


def _opt_text(value: str | None) -> str:
    return _NULL if value is None else _escaped(value)


def _raw_text(raw: bytes | None) -> str:
    return _NULL if raw is None else _escaped(raw.decode("utf-8"))


def _snapshot_bodies(observations: Sequence[MarketObservation]) -> list[str]:
    """What each snapshot row carries after its ticker, time, source and sequence, as COPY
    text: both the row's tail and what :func:`snapshot_hash` fingerprints."""
    return [
        f"{_num(o.yes_bid_dollars)}\t{_num(o.yes_ask_dollars)}\t"
        f"{_num(o.no_bid_dollars)}\t{_num(o.no_ask_dollars)}\t{_num(o.last_price_dollars)}\t"
        f"{_num(o.volume_fp)}\t{_num(o.open_interest_fp)}\t{_raw_text(o.raw)}"
        for o in observations
    ]


def snapshot_hash(body: str) -> int:
    """A stable signed 64-bit fingerprint of one snapshot's carried fields (BLAKE2b-64 of
    their COPY text): equal fingerprints mean nothing the snapshot stores changed."""
    digest = hashlib.blake2b(body.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _snapshot_payload(
    observations: Sequence[MarketObservation],
    polled_at: datetime,
    sequence: int,
    bodies: Sequence[str] | None = None,
) -> bytes:
    """COPY text for the snapshot rows, specialised for speed (10,000 rows in ~30 ms).

    Same format as :func:`encode_copy_rows`, which the tests compare it against.
    """
    if bodies is None:
        bodies = _snapshot_bodies(observations)
    middle = f"\t{polled_at.isoformat()}\t{POLL_SOURCE}\t{sequence}\t"
    return "".join(
        [f"{_escaped(o.ticker)}{middle}{b}\n" for o, b in zip(observations, bodies, strict=True)]
    ).encode("utf-8")


def _staging_payload(
    observations: Sequence[MarketObservation], bodies: Sequence[str] | None = None
) -> bytes:
    """The staging rows; ``ord`` is each observation's position in ``observations``."""
    if bodies is None:
        bodies = _snapshot_bodies(observations)
    return "".join(
        [
            f"{i}\t{_escaped(o.ticker)}\t{_num(o.yes_bid_dollars)}\t{_num(o.yes_ask_dollars)}\t"
            f"{_num(o.no_bid_dollars)}\t{_num(o.no_ask_dollars)}\t{_num(o.last_price_dollars)}\t"
            f"{_num(o.previous_price_dollars)}\t{_num(o.volume_fp)}\t{_num(o.volume_24h_fp)}\t"
            f"{_num(o.open_interest_fp)}\t{metadata_hash(o)}\t{_escaped(o.status)}\t"
            f"{snapshot_hash(b)}\n"
            for i, (o, b) in enumerate(zip(observations, bodies, strict=True))
        ]
    ).encode("utf-8")


def _settled_at(o: MarketObservation, now: str) -> str:
    if o.status != FINAL_STATUS:
        return _NULL
    return now if o.settlement_ts is None else _time(o.settlement_ts)


def _new_markets_payload(observations: Sequence[MarketObservation], polled_at: datetime) -> bytes:
    """``markets`` rows (:data:`_NEW_MARKET_COLUMNS`) exactly as :data:`_UPSERT_MARKETS`
    inserts a market it has never seen: determined now if the result is known, settled at
    Kalshi's settlement time (or now) if finalized, updated now."""
    now = polled_at.isoformat()
    return "".join(
        [
            f"{_escaped(o.ticker)}\t{_escaped(o.event_ticker)}\t{_opt_text(o.series_ticker)}\t"
            f"{_escaped(o.title)}\t{_opt_text(o.event_title)}\t{_opt_text(o.yes_sub_title)}\t"
            f"{_opt_text(o.category)}\t{_escaped(o.market_type)}\t{_escaped(o.status)}\t"
            f"{_time(o.open_time)}\t{_time(o.close_time)}\t{_opt_text(o.result)}\t"
            f"{_num(o.settlement_value_dollars)}\t{_NULL if o.result is None else now}\t"
            f"{_settled_at(o, now)}\t{now}\n"
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


def _positions(csv: str) -> list[int]:
    return [int(p) for p in csv.split(",")] if csv else []


def write_poll(
    connection: Connection,
    *,
    message_id: str,
    polled_at: datetime,
    observations: Sequence[MarketObservation],
    consumer: str = "poll_markets",
    fetch_seconds: float | None = None,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
) -> PollWrite | None:
    """Write one poll in ``connection``'s transaction; None if ``message_id`` was processed.

    The caller owns the transaction (``with engine.begin() as connection``, READ COMMITTED)
    and commits it; nothing here commits, and this must be the transaction's first work.
    ``polled_at`` must be timezone-aware; it becomes every snapshot's ``ts``. Tickers must
    be unique within ``observations``. Text Postgres refuses (NUL, lone surrogates) is
    removed first, and a market whose ticker carries it is left out and logged
    (:func:`~shared.marketdata.observation.clean_observations`): one bad market must not
    fail the poll, since a failed poll is acknowledged and would fail the same way again.

    Change-only (ADR 0170): a market's snapshot is stored only when what it carries
    changed since its last stored snapshot, or ``heartbeat_seconds`` passed since then
    (plus the cases :data:`_CHOOSE_STORED` lists); ``heartbeat_seconds <= 0`` stores every
    one. ``PollWrite.snapshots`` counts the rows stored; ``market_count`` on the poll row
    the markets observed.
    """
    if polled_at.tzinfo is None:
        raise ValueError("polled_at must be timezone-aware")
    clean = clean_observations(observations)
    observations = clean.observations
    for ticker in clean.skipped:
        log.warning("market %r has a ticker Postgres cannot store; left out of the poll", ticker)
    if clean.cleaned:
        log.warning(
            "%d markets carried text Postgres refuses (NUL, lone surrogates); stored cleaned: %s",
            len(clean.cleaned),
            ", ".join(clean.cleaned[:20]),
        )
    if len({o.ticker for o in observations}) != len(observations):
        raise ValueError("observations contain the same ticker twice")
    started = time.perf_counter()
    t = WriteTimings()
    run = connection.execute

    if not t.measure("claim", lambda: claim_message(connection, consumer, message_id)):
        return None
    t.measure("lock", lambda: lock_market_data(connection))
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
        # Ticker order: index insertions walk the B-trees in order, and the diff's
        # positions refer to this list.
        ordered = sorted(observations, key=attrgetter("ticker"))
        bodies = _snapshot_bodies(ordered)
        staging_payload = _staging_payload(ordered, bodies)
        t.encode_seconds += time.perf_counter() - encode_started
        ts_params: dict[str, Any] = {"ts": polled_at, "sequence": sequence}
        for resolution in CANDLE_RESOLUTIONS_S:
            ts_params[f"bucket_{resolution}"] = bucket_start(polled_at, resolution)

        t.measure("create_staging", lambda: run(text(_CREATE_STAGING)))
        t.measure(
            "copy_staging",
            lambda: copy_payload(connection, "poll_staging", _STAGING_COLUMNS, staging_payload),
        )
        full = heartbeat_seconds <= 0
        # Put back before returning; when a statement fails, the aborted transaction's
        # rollback undoes them.
        planner_before = t.measure(
            "planner_settings", lambda: _apply_settings(connection, _PROBE_SETTINGS)
        )
        with_latest, unchanged_csv, meta_changed, expected = t.measure(
            "choose_stored",
            lambda: run(
                text(_CHOOSE_STORED),
                {
                    **ts_params,
                    "full": full,
                    "heartbeat_due": polled_at - timedelta(seconds=max(heartbeat_seconds, 0)),
                },
            ).one(),
        )
        without_latest = len(ordered) - int(with_latest)
        unchanged = set(_positions(unchanged_csv))
        stored = [i for i in range(len(ordered)) if i not in unchanged]
        t.measure(
            "partition", lambda: ensure_partition(connection, polled_at.astimezone(UTC).date())
        )
        encode_started = time.perf_counter()
        snapshot_payload = _snapshot_payload(
            [ordered[i] for i in stored], polled_at, sequence, [bodies[i] for i in stored]
        )
        t.encode_seconds += time.perf_counter() - encode_started
        snapshots = (
            t.measure(
                "copy_snapshots",
                lambda: copy_payload(
                    connection, "market_snapshots", _SNAPSHOT_COLUMNS, snapshot_payload
                ),
            )
            if stored
            else 0
        )
        new_csv, known_csv = (
            t.measure("diff_metadata", lambda: run(text(_DIFF)).one())
            if without_latest or meta_changed
            else ("", "")
        )
        new_markets = [ordered[i] for i in _positions(new_csv)]
        known_changed = [ordered[i] for i in _positions(known_csv)]
        changed = len(new_markets) + len(known_changed)
        if new_markets:
            encode_started = time.perf_counter()
            new_payload = _new_markets_payload(new_markets, polled_at)
            t.encode_seconds += time.perf_counter() - encode_started
            t.measure(
                "copy_new_markets",
                lambda: copy_payload(connection, "markets", _NEW_MARKET_COLUMNS, new_payload),
            )
            newly_determined += sum(1 for o in new_markets if o.result is not None)
        if known_changed:
            encode_started = time.perf_counter()
            meta_payload = encode_copy_rows((o.ticker, *_meta(o)) for o in known_changed)
            t.encode_seconds += time.perf_counter() - encode_started
            t.measure("create_meta_staging", lambda: run(text(_CREATE_META_STAGING)))
            t.measure(
                "copy_meta_staging",
                lambda: copy_payload(
                    connection, "poll_meta_staging", ("ticker", *_META_COLUMNS), meta_payload
                ),
            )
            newly_determined += int(
                t.measure("new_results", lambda: run(text(_NEW_RESULTS)).scalar_one())
            )
            t.measure("upsert_markets", lambda: run(text(_UPSERT_MARKETS), {"ts": polled_at}))
        if without_latest < len(ordered):
            t.measure("update_latest", lambda: run(text(_UPDATE_LATEST), ts_params))
        if without_latest:
            t.measure("insert_latest", lambda: run(text(_INSERT_LATEST), ts_params))
        folded, inside, found = (
            t.measure("update_candles", lambda: fold_candles(connection, ts_params))
            if stored
            else (0, 0, 0)
        )
        if stored and folded < len(stored) * len(CANDLE_RESOLUTIONS_S):
            # Only the rows the fold did not certainly find, when it found all it expected.
            insert = _INSERT_OPENED_CANDLES if found == expected else _INSERT_CANDLES
            t.measure("insert_candles", lambda: run(text(insert), ts_params))
        if inside:
            t.measure("repair_candles", lambda: run(text(_REPAIR_LATE_CANDLES), ts_params))
        t.measure("planner_settings", lambda: _apply_settings(connection, planner_before))
    seconds = time.perf_counter() - started
    t.measure(
        "finish_poll_row",
        lambda: run(
            text("UPDATE market_polls SET settled_count = :d, write_seconds = :w WHERE id = :id"),
            {"d": newly_determined, "w": seconds, "id": sequence},
        ),
    )
    return PollWrite(
        sequence,
        polled_at,
        snapshots,
        changed,
        newly_determined,
        seconds,
        t,
        tuple(clean.cleaned),
        tuple(clean.skipped),
    )


def fold_candles(connection: Connection, params: dict[str, Any]) -> tuple[int, int, int]:
    """Run :data:`_FOLD_CANDLES` with scans and hash/merge joins priced out for that one
    statement.

    The fold must probe ``market_candles`` by its whole primary key once per stored market
    and resolution, whatever the table's statistics say. Fresh or stale statistics made
    the planner expect a handful of candles and loop over the staging table once per candle
    (minutes at 10,000 markets), or hash every candle of the bucket, or probe by ticker and
    filter every candle the ticker has; with a scan of ``market_candles`` and the hash and
    merge joins disabled the only plan left is the one ADR 0091 wants: the staging rows
    outside, a key probe inside (ADR 0223).
    """
    with planner_settings(connection, {"enable_seqscan": "off", **_PROBE_SETTINGS}):
        row = connection.execute(text(_FOLD_CANDLES), params).one()
    return int(row[0]), int(row[1]), int(row[2])


@contextmanager
def planner_settings(connection: Connection, settings: dict[str, str]) -> Iterator[None]:
    """Apply planner ``settings`` to the statements run inside, then put back the values
    they had (one round trip each way).

    Transaction-scoped (``set_config(..., true)``, as ``SET LOCAL``). When the body raises,
    nothing is put back: the failed statement aborted the transaction, which refuses any
    further statement, and its rollback undoes the settings anyway.
    """
    before = _apply_settings(connection, settings)
    yield
    _apply_settings(connection, before)


def _apply_settings(connection: Connection, settings: dict[str, str]) -> dict[str, str]:
    """Set ``settings`` for the rest of the transaction; the values they replaced."""
    names = list(settings)
    columns = ", ".join(
        f"current_setting(:n{i}), set_config(:n{i}, :v{i}, true)" for i in range(len(names))
    )
    values: dict[str, str] = {}
    for i, name in enumerate(names):
        values[f"n{i}"], values[f"v{i}"] = name, settings[name]
    row = connection.execute(text(f"SELECT {columns}"), values).one()
    return {name: str(row[2 * i]) for i, name in enumerate(names)}


# The fold, counting the candles it updated, those this poll landed strictly inside of
# (after the candle's first and before its last observation: a late delivery), and those
# it was expected to find (_EXPECTED).
_FOLD_CANDLES = f"""
WITH folded AS (
    {_UPDATE_CANDLES}
    RETURNING c.first_ts < CAST(:ts AS timestamptz) AND c.last_ts > CAST(:ts AS timestamptz)
        AS inside, {_EXPECTED} AS expected
)
SELECT count(*), count(*) FILTER (WHERE inside), count(*) FILTER (WHERE expected) FROM folded
"""

# A late observation inside a candle's span cannot be folded exactly: the open is the
# first non-NULL value, and the candle does not record when its open was observed. So if
# the candle opened on a NULL (a one-sided quote) and took its open from a later poll, a
# late poll between the two should become the open, but the fold's
# ``ts < first_ts`` test says it is not first. The same holds for the close. Such candles'
# opens and closes are recomputed from the snapshots (which hold this poll's rows by now):
# rare (a redelivered poll that lost the race to its successor) and cheap (one bucket of
# snapshots per affected market, through the (ticker, ts, source) index). High, low,
# samples and the first/last times are order-independent and already right.
_REPAIR_LATE_CANDLES = f"""
WITH late AS (
    SELECT c.ticker, c.resolution_s AS res, c.bucket_start AS bucket
    FROM poll_staging p
    CROSS JOIN (VALUES {_BUCKETS_VALUES}) AS r(res, bucket)
    JOIN market_candles c
      ON c.ticker = p.ticker AND c.resolution_s = r.res AND c.bucket_start = r.bucket
    WHERE c.first_ts < CAST(:ts AS timestamptz) AND c.last_ts > CAST(:ts AS timestamptz)
), refolded AS (
    SELECT l.ticker, l.res, l.bucket,
           {first_sql("s.mid")} AS mid_open, {first_sql("s.mid", True)} AS mid_close,
           {first_sql("s.last")} AS last_open, {first_sql("s.last", True)} AS last_close,
           {first_sql("s.volume_fp")} AS volume_open_fp,
           {first_sql("s.volume_fp", True)} AS volume_close_fp
    FROM late l
    CROSS JOIN LATERAL (
        SELECT ts, {MID_SQL.format(p="")} AS mid, {LAST_SQL.format(p="")} AS last, volume_fp
        FROM market_snapshots
        WHERE ticker = l.ticker AND source = '{POLL_SOURCE}'
          AND ts >= l.bucket AND ts < l.bucket + make_interval(secs => l.res)
    ) s
    GROUP BY l.ticker, l.res, l.bucket
)
UPDATE market_candles AS c SET
    mid_open = x.mid_open, mid_close = x.mid_close,
    last_open = x.last_open, last_close = x.last_close,
    volume_open_fp = x.volume_open_fp, volume_close_fp = x.volume_close_fp
FROM refolded x
WHERE c.ticker = x.ticker AND c.resolution_s = x.res AND c.bucket_start = x.bucket
"""

# The fold, from scratch: each stored poll snapshot into its bucket at every resolution.
# A bucket whose first stored snapshot was preceded, inside the bucket, by polls that
# stored nothing (the market unchanged: ADR 0170) opens from the snapshot that held then,
# as the incremental fold does from market_latest (``seen``: a poll in the bucket before
# the snapshot, within the held snapshot's heartbeat).
_REBUILD_CANDLES = f"""
WITH snaps AS (
    SELECT ticker, ts, {MID_SQL.format(p="")} AS mid, {LAST_SQL.format(p="")} AS last,
           volume_fp,
           lag(ts) OVER w AS prev_ts,
           lag({MID_SQL.format(p="")}) OVER w AS prev_mid,
           lag({LAST_SQL.format(p="")}) OVER w AS prev_last,
           lag(volume_fp) OVER w AS prev_vol
    FROM market_snapshots
    WHERE source = '{POLL_SOURCE}' AND ticker = ANY(CAST(:tickers AS text[]))
    WINDOW w AS (PARTITION BY ticker ORDER BY ts)
), placed AS (
    SELECT s.*, r.res, {bucket_sql("s.ts", "r.res")} AS bucket
    FROM snaps s CROSS JOIN (VALUES {_RESOLUTIONS_VALUES}) AS r(res)
), observed AS (
    SELECT ticker, res, bucket, ts, mid, last, volume_fp, 1 AS real FROM placed
    UNION ALL
    SELECT ticker, res, bucket, bucket, prev_mid, prev_last, prev_vol, 0 FROM placed p
    WHERE p.prev_ts < p.bucket AND EXISTS (
        SELECT 1 FROM market_polls q
        WHERE q.polled_at >= p.bucket AND q.polled_at < p.ts
          AND q.polled_at < p.prev_ts + make_interval(secs => :heartbeat))
)
{_INSERT_INTO_CANDLES[:-1]}, source)
SELECT ticker, res, bucket, min(ts), max(ts) FILTER (WHERE real = 1),
       {first_sql("mid")}, max(mid), min(mid), {first_sql("mid", True)},
       {first_sql("last")}, max(last), min(last), {first_sql("last", True)},
       {first_sql("volume_fp")}, {first_sql("volume_fp", True)}, sum(real), '{POLL_SOURCE}'
FROM observed
GROUP BY ticker, res, bucket
{_INSERT_CANDLES[_INSERT_CANDLES.index("ON CONFLICT") :]}"""


def rebuild_candles(
    connection: Connection,
    tickers: Sequence[str] | None = None,
    *,
    batch: int = 500,
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS,
) -> int:
    """Recompute the poll's candles in ``market_candles`` from ``market_snapshots`` (all
    markets, or ``tickers``), ``batch`` tickers per statement so memory and lock time stay
    bounded whatever the history's size. Candles of other sources are left alone.

    To check that the incremental fold at ingest agrees with a from-scratch computation,
    and to repair candles. Returns the rows written.
    """
    lock_market_data(connection)
    if tickers is None:
        tickers = list(
            connection.execute(text("SELECT ticker FROM markets ORDER BY ticker")).scalars()
        )
    ticker_list = sorted(set(tickers))
    written = 0
    for start in range(0, len(ticker_list), batch):
        chunk = ticker_list[start : start + batch]
        connection.execute(
            text(
                "DELETE FROM market_candles WHERE ticker = ANY(:tickers) "
                f"AND source = '{POLL_SOURCE}'"
            ),
            {"tickers": chunk},
        )
        result = connection.execute(
            text(_REBUILD_CANDLES),
            {"tickers": chunk, "heartbeat": max(heartbeat_seconds, 0.0)},
        )
        written += int(result.rowcount)
    return written
