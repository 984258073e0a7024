"""Candles (``market_candles``) at 1 min, 5 min, 1 h and 1 day, from every source.

The poll folds its stored snapshots into every resolution as it writes them
(:mod:`shared.marketdata.ingest`); other writers (the backfill from Kalshi's candlesticks
and trade tape) store their candles through :func:`upsert_candles`. Each candle keeps its
``source``; where two sources cover one bucket the project's own observations win
(:mod:`shared.history.sources`, ADR 0172). 1-minute candles are kept for a window
(default one year, :func:`prune_minute_candles`); the others forever (ADR 0173).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, text

from shared.db.copy_text import copy_payload, encode_copy_rows
from shared.db.models_marketdata import CANDLE_RESOLUTIONS_S
from shared.history.sources import OWN_SOURCES, SOURCE_RANK, SOURCES

__all__ = [
    "CANDLE_COLUMNS",
    "ROLLUP_RESOLUTIONS_S",
    "CandleRow",
    "prune_minute_candles",
    "upsert_candles",
]

ROLLUP_RESOLUTIONS_S: tuple[int, ...] = CANDLE_RESOLUTIONS_S
"""1 min, 5 min, 1 h, 1 day."""


@dataclass(frozen=True)
class CandleRow:
    """One candle as ``market_candles`` stores it.

    ``resolution_s`` is one of :data:`ROLLUP_RESOLUTIONS_S` and ``bucket_start`` its
    epoch-aligned start (:func:`shared.marketdata.sql.bucket_start`). ``first_ts`` and
    ``last_ts`` are the first and last observation inside the bucket. Prices are exact
    ``Decimal`` dollars: ``mid_*`` the YES bid/ask midpoint (None without a two-sided
    quote), ``last_*`` the last trade price (None when nothing traded). Volume is the
    market's *cumulative* traded volume (contracts) at the bucket's first and last
    observation, not the bucket's own volume: a candle's traded volume is the difference
    from the previous candle's close. ``samples`` counts the observations folded in.
    """

    ticker: str
    resolution_s: int
    bucket_start: datetime
    first_ts: datetime
    last_ts: datetime
    mid_open: Decimal | None = None
    mid_high: Decimal | None = None
    mid_low: Decimal | None = None
    mid_close: Decimal | None = None
    last_open: Decimal | None = None
    last_high: Decimal | None = None
    last_low: Decimal | None = None
    last_close: Decimal | None = None
    volume_open_fp: Decimal | None = None
    volume_close_fp: Decimal | None = None
    samples: int = 1


CANDLE_COLUMNS: tuple[str, ...] = tuple(CandleRow.__dataclass_fields__)

_CREATE_STAGING = """
CREATE TEMPORARY TABLE candle_staging (LIKE market_candles INCLUDING DEFAULTS)
ON COMMIT DROP
"""

_SETS = ", ".join(f"{c} = excluded.{c}" for c in CANDLE_COLUMNS[3:]) + ", source = excluded.source"


def _rank_sql(column: str) -> str:
    cases = " ".join(f"WHEN '{s}' THEN {r}" for s, r in SOURCE_RANK.items())
    return f"(CASE {column} {cases} ELSE 0 END)"


# A candle replaces a stored one of the same bucket when its source ranks at least as
# high (an equal rank: the same writer re-running, whose newer numbers stand). Own
# observations are never replaced by any other source.
_UPSERT = f"""
INSERT INTO market_candles AS c ({", ".join(CANDLE_COLUMNS)}, source)
SELECT DISTINCT ON (ticker, resolution_s, bucket_start) {", ".join(CANDLE_COLUMNS)}, source
FROM candle_staging ORDER BY ticker, resolution_s, bucket_start, last_ts DESC
ON CONFLICT (ticker, resolution_s, bucket_start) DO UPDATE SET {_SETS}
WHERE {_rank_sql("c.source")} <= {_rank_sql("excluded.source")}
  AND (c.source NOT IN ({", ".join(f"'{s}'" for s in OWN_SOURCES)})
       OR excluded.source = c.source)
  AND (c.{CANDLE_COLUMNS[3]}, c.{CANDLE_COLUMNS[4]}, c.samples, c.mid_close, c.last_close,
       c.volume_close_fp)
      IS DISTINCT FROM (excluded.{CANDLE_COLUMNS[3]}, excluded.{CANDLE_COLUMNS[4]},
       excluded.samples, excluded.mid_close, excluded.last_close, excluded.volume_close_fp)
"""


def upsert_candles(connection: Connection, source: str, rows: Iterable[CandleRow]) -> int:
    """Store candles from ``source`` in the caller's transaction; returns rows written.

    The contract for every writer other than the poll (the backfill above all):

    - ``source`` is one of :data:`shared.history.sources.SOURCES` (``kalshi_candles`` for
      Kalshi's candlesticks, ``trades`` for candles built from the trade tape);
    - ``rows`` may be any iterable (streamed into one ``COPY``), at any resolution of
      :data:`ROLLUP_RESOLUTIONS_S`, with ``bucket_start`` aligned to it; within one call a
      bucket given twice keeps the row with the later ``last_ts``;
    - idempotent: writing the same rows again changes nothing (and counts nothing);
    - a bucket the project observed itself (``poll``, ``websocket``) is never overwritten;
      otherwise the higher-ranked source wins (:data:`SOURCE_RANK`), an equal rank
      replaces (a re-run with newer numbers). A later poll into a bucket another source
      wrote replaces that candle with its own.
    - takes the market-data write lock (as the poll does), so it serialises with polls;
      keep transactions to a batch of markets.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; one of {', '.join(SOURCES)}")
    from shared.marketdata.ingest import lock_market_data

    valid = set(ROLLUP_RESOLUTIONS_S)

    def encoded() -> Iterable[tuple[object, ...]]:
        for row in rows:
            if row.resolution_s not in valid:
                raise ValueError(f"resolution {row.resolution_s} is not a rollup resolution")
            # Not dataclasses.astuple: it deep-copies every Decimal and datetime (4x slower).
            yield (*[getattr(row, c) for c in CANDLE_COLUMNS], source)

    payload = encode_copy_rows(encoded())
    if not payload:
        return 0
    lock_market_data(connection)
    connection.execute(text(_CREATE_STAGING))
    copy_payload(connection, "candle_staging", (*CANDLE_COLUMNS, "source"), payload)
    written = connection.execute(text(_UPSERT)).rowcount
    connection.execute(text("DROP TABLE candle_staging"))
    return int(written)


def prune_minute_candles(connection: Connection, before: datetime) -> int:
    """Delete 1-minute candles of buckets before ``before`` (their retention window);
    coarser resolutions are kept forever. Returns rows deleted."""
    return int(
        connection.execute(
            text("DELETE FROM market_candles WHERE resolution_s = 60 AND bucket_start < :b"),
            {"b": before},
        ).rowcount
    )


def resolutions_for(seconds: int) -> Sequence[int]:
    """The stored resolutions that divide ``seconds`` (an interval they can answer)."""
    return [r for r in ROLLUP_RESOLUTIONS_S if seconds % r == 0]
