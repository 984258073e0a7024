"""Tables the market-data ingest maintains beside the foundation tables (migration 0002).

``market_snapshots`` is the history; these three exist so the read side never has to scan
it (see docs/decisions/0050-market-data-read-models.md):

- ``market_latest``: one row per market with its newest prices, rewritten by every poll,
  so "latest snapshot per market" is an index scan instead of a DISTINCT ON over millions.
- ``market_candles``: OHLC rollups of each market's prices at a few fixed resolutions,
  folded in as snapshots arrive, so a history chart reads a few thousand rows at most.
- ``market_polls``: one row per poll (its number is the snapshots' ``sequence``), which
  also remembers whether the poll's ``market-snapshots`` message went out.

They share :data:`shared.db.models.Base` so Alembic sees one metadata.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Computed,
    Date,
    DateTime,
    Double,
    Identity,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.models import Base, Count, Price

__all__ = [
    "CANDLE_RESOLUTIONS_S",
    "HistoryArchive",
    "MarketCandle",
    "MarketLatest",
    "MarketPoll",
    "MidPrice",
]

MidPrice = Numeric(11, 5)
"""The mid of two 4-decimal prices needs a fifth decimal place to stay exact."""

CANDLE_RESOLUTIONS_S: tuple[int, ...] = (60, 300, 3_600, 86_400)
"""Rollup resolutions kept in ``market_candles``: 1 min, 5 min, 1 h, 1 day (ADR 0173).

The poll folds only the snapshots it stores (change-only, ADR 0170), so the cost per
poll follows the markets that changed, not the markets polled; the history endpoint
reads the coarsest resolution that answers a request.
"""

# Kalshi reports "no price a day ago" and "never traded" as 0.0000; a change against zero
# would be noise, so the change is NULL then.
CHANGE_24H_SQL = (
    "CASE WHEN previous_price_dollars > 0 AND last_price_dollars > 0 "
    "THEN last_price_dollars - previous_price_dollars END"
)


class MarketLatest(Base):
    """The newest poll snapshot of one market (a read model kept by the ingest)."""

    __tablename__ = "market_latest"
    # Rewritten by every poll: free space on each page lets those updates stay HOT (no
    # index writes), which is also why no index covers the price or volume columns.
    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)

    ticker: Mapped[str] = mapped_column(String(128), primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    # Kalshi's status at that poll (a copy of markets.status), so the common "open
    # markets by volume" page never has to join before it sorts.
    status: Mapped[str | None] = mapped_column(String(16))
    yes_bid_dollars: Mapped[Decimal | None] = mapped_column(Price)
    yes_ask_dollars: Mapped[Decimal | None] = mapped_column(Price)
    no_bid_dollars: Mapped[Decimal | None] = mapped_column(Price)
    no_ask_dollars: Mapped[Decimal | None] = mapped_column(Price)
    last_price_dollars: Mapped[Decimal | None] = mapped_column(Price)
    # Kalshi's own "a day ago" last price (``previous_price_dollars``).
    previous_price_dollars: Mapped[Decimal | None] = mapped_column(Price)
    change_24h_dollars: Mapped[Decimal | None] = mapped_column(
        Price, Computed(CHANGE_24H_SQL, persisted=True)
    )
    volume_fp: Mapped[Decimal] = mapped_column(Count, server_default=text("0"))
    volume_24h_fp: Mapped[Decimal | None] = mapped_column(Count)
    open_interest_fp: Mapped[Decimal | None] = mapped_column(Count)
    # Fingerprint of the metadata last written to ``markets`` for this ticker: a poll
    # only rewrites markets whose metadata (status, result, titles, times) changed.
    meta_hash: Mapped[int | None] = mapped_column(BigInteger)
    # When this market's last *stored* snapshot was taken and a fingerprint of what it
    # carried: a poll stores a snapshot only when the fingerprint changes or the heartbeat
    # is due (ADR 0170). The prices above are always the newest observed.
    stored_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    snapshot_hash: Mapped[int | None] = mapped_column(BigInteger)


class MarketCandle(Base):
    """OHLC of one market over one bucket at one resolution, folded in at ingest.

    Two price series: ``mid_*`` (the YES bid/ask midpoint, NULL without a two-sided quote)
    and ``last_*`` (the last trade). Volume is kept as the cumulative ``volume_fp`` at the
    bucket's first and last observation; a candle's traded volume is the difference from
    the previous candle's close.
    """

    __tablename__ = "market_candles"
    __table_args__ = ({"postgresql_with": {"fillfactor": 50}},)

    ticker: Mapped[str] = mapped_column(String(128), primary_key=True)
    resolution_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    first_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    mid_open: Mapped[Decimal | None] = mapped_column(MidPrice)
    mid_high: Mapped[Decimal | None] = mapped_column(MidPrice)
    mid_low: Mapped[Decimal | None] = mapped_column(MidPrice)
    mid_close: Mapped[Decimal | None] = mapped_column(MidPrice)
    last_open: Mapped[Decimal | None] = mapped_column(Price)
    last_high: Mapped[Decimal | None] = mapped_column(Price)
    last_low: Mapped[Decimal | None] = mapped_column(Price)
    last_close: Mapped[Decimal | None] = mapped_column(Price)
    volume_open_fp: Mapped[Decimal | None] = mapped_column(Count)
    volume_close_fp: Mapped[Decimal | None] = mapped_column(Count)
    samples: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    # Where the bucket's numbers came from (shared.history.rollups.SOURCES); the project's
    # own observations replace any other source's candle for the same bucket (ADR 0172).
    source: Mapped[str] = mapped_column(String(16), server_default=text("'poll'"))


class HistoryArchive(Base):
    """One day of ``market_snapshots`` exported to Parquet (shared.history.archive).

    The partition is dropped only once ``verified_at`` is set: the file set was read back
    and its row count and checksum matched the partition's.
    """

    __tablename__ = "history_archives"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    uri: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    bytes: Mapped[int] = mapped_column(BigInteger)
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dropped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MarketPoll(Base):
    """One run of the poller; its ``id`` is the ``sequence`` of the snapshots it wrote."""

    __tablename__ = "market_polls"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(256), unique=True)
    polled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    market_count: Mapped[int] = mapped_column(Integer)
    settled_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    fetch_seconds: Mapped[float | None] = mapped_column(Double)
    write_seconds: Mapped[float | None] = mapped_column(Double)
    # Set once the poll's market-snapshots chunks are published; a redelivered trigger
    # whose poll is written but unpublished publishes them (again) from the snapshots.
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
