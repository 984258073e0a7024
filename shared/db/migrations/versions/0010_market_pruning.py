"""Market pruning: ``markets.last_polled_at`` keeps when a poll last saw a pruned market.

Long-settled markets are deleted from the ``market_latest`` read model by the history's
daily round (``shared/history/pruning.py``, docs/decisions/0226). The backtest loader
reads when a poll last saw a market (the end of its last stored snapshot's hold) from
``market_latest.ts``; before a row is deleted its ``ts`` is copied here, and the loader
reads ``coalesce(l.ts, m.last_polled_at)``. The poll never writes it (it stays cheap):
only the pruning does, so the column is NULL for every market still in the read model.

Grants: table-level privileges cover a new column, so the roles of 0004 need nothing
more: ``ki_poll_markets`` (the pruning runs in the poller's round) updates ``markets`` and
deletes from ``market_latest``; the readers (``ki_markets``, ``ki_backtests``,
``ki_backtest_worker``, ``ki_streamer``, ``ki_account``) select it.

Revision ID: 0010_market_pruning
Revises: 0009_trading
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_market_pruning"
down_revision: str | None = "0009_trading"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("markets", sa.Column("last_polled_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    # Put the pruned markets' last poll back where the loader read it before: a pruned
    # market gets a bare market_latest row (no prices) at its last poll, so downgrading
    # loses no backtest's end of hold.
    op.execute(
        "INSERT INTO market_latest (ticker, ts, status, volume_fp) "
        "SELECT m.ticker, m.last_polled_at, m.status, 0 FROM markets m "
        "WHERE m.last_polled_at IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM market_latest l WHERE l.ticker = m.ticker)"
    )
    op.drop_column("markets", "last_polled_at")
