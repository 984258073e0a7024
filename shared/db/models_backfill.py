"""Tables the backfill maintains (migration ``0008_backfill``).

- ``market_trades``: Kalshi's public trade tape, one row per Kalshi ``trade_id``, loaded by
  the backfill from ``GET /markets/trades`` and ``GET /historical/trades``. Its ``source``
  is ``trades``, like every stored history row naming where it came from.
- ``backfill_checkpoints``: what the backfill has finished for each market, so a killed run
  resumes where it stopped and a re-run of a finished window sends no request (ADR 0178).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ARRAY, BigInteger, Boolean, DateTime, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.models import Base, Count, Price

__all__ = ["BackfillCheckpoint", "MarketTrade"]


class MarketTrade(Base):
    """One public trade on Kalshi (both sides trade at ``yes_price_dollars``)."""

    __tablename__ = "market_trades"
    __table_args__ = (Index("ix_market_trades_ticker_ts", "ticker", "ts"),)

    trade_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    ticker: Mapped[str] = mapped_column(String(128))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    yes_price_dollars: Mapped[Decimal] = mapped_column(Price)
    count_fp: Mapped[Decimal] = mapped_column(Count)
    # "yes" or "no": the side the taker is positioned for (Kalshi's taker_outcome_side).
    taker_outcome_side: Mapped[str] = mapped_column(String(3))
    is_block_trade: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    source: Mapped[str] = mapped_column(String(16), server_default=text("'trades'"))


class BackfillCheckpoint(Base):
    """The backfill's progress on one market: the window and the steps done inside it."""

    __tablename__ = "backfill_checkpoints"

    ticker: Mapped[str] = mapped_column(String(128), primary_key=True)
    series_ticker: Mapped[str | None] = mapped_column(String(64))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Finished steps: market, candles_1, candles_60, candles_1440, trades.
    steps: Mapped[list[str]] = mapped_column(ARRAY(String(16)), server_default=text("'{}'"))
    rows: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
