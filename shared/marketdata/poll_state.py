"""The poll's bookkeeping SQL: dedup, followed markets, known events, publish state.

Everything the poll reads or writes around the bulk write of its snapshots
(:mod:`shared.marketdata.ingest`) is here, in one place:

- dedup: the ``processed_messages`` row a trigger claims inside the write's transaction,
  and the lookup that sends a redelivery down the republish path;
- the markets that left the open list but are still followed to settlement;
- event metadata already known to ``markets``;
- publish state: ``market_polls.published_at``, and the snapshots of one poll as its
  on-time announcement carried them (for a republish).

Every function takes the caller's ``Connection``; transactions stay the caller's.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, text

from shared.marketdata.observation import FINAL_STATUS, EventInfo
from shared.marketdata.sql import POLL_SOURCE

__all__ = [
    "FOLLOW_WINDOW",
    "already_processed",
    "claim_message",
    "followed_tickers",
    "known_events",
    "mark_published",
    "poll_by_message",
    "poll_snapshot_rows",
]

FOLLOW_WINDOW = timedelta(days=14)
"""Markets that left the open list less than this long ago are still followed (fetched by
ticker, :func:`followed_tickers`) until they settle; the read model's pruning waits for it
too (:mod:`shared.history.pruning`)."""


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


def already_processed(connection: Connection, consumer: str, message_id: str) -> bool:
    """Whether a delivery of ``message_id`` already claimed it (committed)."""
    row = connection.execute(
        text("SELECT 1 FROM processed_messages WHERE consumer = :c AND message_id = :m"),
        {"c": consumer, "m": message_id},
    ).first()
    return row is not None


def followed_tickers(connection: Connection, since: datetime) -> list[str]:
    """Markets polled after ``since`` that are not settled yet, ticker order.

    The caller drops those still on the open list; the rest are fetched by ticker so their
    results and settlement values reach ``markets``.
    """
    rows = connection.execute(
        text(
            "SELECT m.ticker FROM markets m JOIN market_latest l ON l.ticker = m.ticker "
            "WHERE m.status <> :final AND l.ts > :since ORDER BY m.ticker"
        ),
        {"final": FINAL_STATUS, "since": since},
    ).all()
    return [row[0] for row in rows]


def known_events(connection: Connection, event_tickers: Iterable[str]) -> dict[str, EventInfo]:
    """Event metadata ``markets`` already holds, by event ticker (latest row per event).

    Known events are read back rather than refetched so the values (and with them each
    market's metadata fingerprint) stay put from poll to poll.
    """
    rows = connection.execute(
        text(
            "SELECT DISTINCT ON (event_ticker) event_ticker, series_ticker, event_title, "
            "category FROM markets WHERE event_ticker = ANY(:e) "
            "AND event_title IS NOT NULL ORDER BY event_ticker, updated_at DESC"
        ),
        {"e": sorted(event_tickers)},
    ).all()
    return {r[0]: EventInfo(r[1], r[2], r[3]) for r in rows}


def mark_published(connection: Connection, sequence: int) -> None:
    """Record that poll ``sequence`` has been announced; a redelivery will not republish."""
    connection.execute(
        text("UPDATE market_polls SET published_at = now() WHERE id = :id"),
        {"id": sequence},
    )


def poll_by_message(connection: Connection, message_id: str) -> Row[Any] | None:
    """The ``market_polls`` row (``id``, ``polled_at``, ``published_at``) a trigger wrote."""
    return connection.execute(
        text("SELECT id, polled_at, published_at FROM market_polls WHERE message_id = :m"),
        {"m": message_id},
    ).first()


# One poll's snapshots, as the on-time announcement carried them. market_snapshots has
# no index on the poll number; its unique (ticker, ts, source) index answers one probe per
# ticker ever polled (every one has a market_latest row), where a filter on ``sequence``
# alone would scan the whole history. With change-only storage (ADR 0170) the poll stored
# only what changed: a market it observed without storing is announced from the snapshot
# that held then (its latest stored one at or before the poll, within the heartbeat; the
# market seen at or after the poll).
_POLL_SNAPSHOTS = f"""
SELECT s.ticker, s.yes_bid_dollars, s.yes_ask_dollars, s.last_price_dollars, s.volume_fp,
       s.open_interest_fp
FROM market_latest l
CROSS JOIN LATERAL (
    SELECT ticker, yes_bid_dollars, yes_ask_dollars, last_price_dollars, volume_fp,
           open_interest_fp
    FROM market_snapshots
    WHERE ticker = l.ticker AND source = '{POLL_SOURCE}'
      AND ts <= CAST(:ts AS timestamptz) AND ts > CAST(:held_since AS timestamptz)
    ORDER BY ts DESC LIMIT 1
) s
WHERE l.ts >= CAST(:ts AS timestamptz)
ORDER BY s.ticker
"""


def poll_snapshot_rows(
    connection: Connection,
    sequence: int,
    polled_at: datetime,
    heartbeat_seconds: float = 3_600.0,
) -> list[dict[str, Any]]:
    """What poll ``sequence`` observed (the announced fields), ticker order.

    From the stored snapshots, not from ``market_latest``'s prices: once a later poll has
    been written the latest rows carry its prices, and a republish that read them would
    announce the wrong ones. Every market the poll observed is announced, stored by it or
    held from an earlier poll (``heartbeat_seconds`` as the poll was written with; 0: every
    snapshot was stored, so only the poll's own).
    """
    held = max(heartbeat_seconds, 0.0)
    held_since = polled_at - timedelta(seconds=held) if held else polled_at - _JUST_BEFORE
    rows = connection.execute(
        text(_POLL_SNAPSHOTS), {"s": sequence, "ts": polled_at, "held_since": held_since}
    ).mappings()
    return [dict(row) for row in rows]


_JUST_BEFORE = timedelta(microseconds=1)
