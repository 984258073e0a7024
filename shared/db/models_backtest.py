"""Tables the backtest worker keeps beside ``backtest_runs``/``backtest_trades`` (0003).

* ``backtest_run_details``: what a run needs beyond the 0001 columns: the engine settings
  (fees, slippage, capital), the ranking metric of a sweep, how many variants it has, which
  stage it is in and how many attempts (Cloud Tasks retries) it took.
* ``backtest_variants``: one row per parameter set of a sweep with its rank, metrics and
  equity curve (``backtest_runs`` keeps the best variant's, so a single run needs no join).

Both cascade with the run, so ``DELETE /api/v1/backtests/{id}`` is one statement.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from shared.db.models import EMPTY_JSON, Base

__all__ = ["BacktestRunDetail", "BacktestVariant"]


class BacktestRunDetail(Base):
    __tablename__ = "backtest_run_details"

    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("backtest_runs.id", ondelete="CASCADE"), primary_key=True
    )
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    rank_by: Mapped[str] = mapped_column(String(32), default="sharpe", server_default="sharpe")
    variants: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    # queued, loading, computing, storing, done, failed
    stage: Mapped[str] = mapped_column(String(16), default="queued", server_default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    snapshots: Mapped[int | None] = mapped_column(Integer)
    # What backed the completed run: sources, coverage per market, fallbacks (0008_backfill;
    # shared.backtest.coverage).
    data_report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class BacktestVariant(Base):
    __tablename__ = "backtest_variants"

    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("backtest_runs.id", ondelete="CASCADE"), primary_key=True
    )
    variant: Mapped[int] = mapped_column(Integer, primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    equity_curve: Mapped[list[Any]] = mapped_column(
        JSONB, default=list, server_default=text("'[]'::jsonb")
    )
