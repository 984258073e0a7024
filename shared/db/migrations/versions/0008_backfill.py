"""Backfill: the public trade tape, per-market checkpoints, and the backfill's own role.

- ``market_trades``: Kalshi's public trades (``GET /markets/trades``,
  ``GET /historical/trades``), one row per ``trade_id`` (Kalshi's id, so a trade loaded
  twice is one row), with its ``source`` (``trades``) like every stored history row.
- ``backfill_checkpoints``: one row per market the backfill has worked on: the window it
  covers, the steps it finished (``market``, ``candles_1``, ``candles_60``,
  ``candles_1440``, ``trades``), each recorded in the same transaction as that step's rows,
  so a killed run resumes at the first unfinished step and a finished market costs no
  request on a re-run (ADR 0178).
- ``backtest_run_details.data_report``: what backed a completed run (its sources, the
  coverage per market, the markets that replayed backfilled candles or trades).
- ``ki_backfill``: the group role of the ``backfill`` function (ADR 0080's one role per
  deployable): it writes market metadata, candles, trades and its checkpoints, and reads
  nothing else.

Revision ID: 0008_backfill
Revises: 0007_history_storage
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0008_backfill"
down_revision: str | None = "0007_history_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "ki_backfill"
MARKET_READERS = ("ki_markets", "ki_backtests", "ki_backtest_worker", "ki_streamer")


def upgrade() -> None:
    op.create_table(
        "market_trades",
        sa.Column("trade_id", sa.String(length=64), nullable=False),
        sa.Column("ticker", sa.String(length=128), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("yes_price_dollars", sa.Numeric(10, 4), nullable=False),
        sa.Column("count_fp", sa.Numeric(18, 2), nullable=False),
        sa.Column("taker_outcome_side", sa.String(length=3), nullable=False),
        sa.Column("is_block_trade", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("source", sa.String(length=16), server_default="trades", nullable=False),
        sa.PrimaryKeyConstraint("trade_id", name=op.f("pk_market_trades")),
    )
    op.create_index("ix_market_trades_ticker_ts", "market_trades", ["ticker", "ts"])
    op.create_table(
        "backfill_checkpoints",
        sa.Column("ticker", sa.String(length=128), nullable=False),
        sa.Column("series_ticker", sa.String(length=64), nullable=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("steps", sa.ARRAY(sa.String(length=16)), server_default="{}", nullable=False),
        sa.Column("rows", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("ticker", name=op.f("pk_backfill_checkpoints")),
    )
    op.add_column(
        "backtest_run_details",
        sa.Column("data_report", JSONB(), nullable=True),
    )
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                CREATE ROLE {ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {ROLE}")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE ON markets, market_candles, market_trades, "
        f"backfill_checkpoints TO {ROLE}"
    )
    op.execute(f"GRANT SELECT ON market_latest TO {ROLE}")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON market_trades TO ki_poll_markets")
    for reader in MARKET_READERS:
        op.execute(f"GRANT SELECT ON market_trades, backfill_checkpoints TO {reader}")


def downgrade() -> None:
    op.drop_column("backtest_run_details", "data_report")
    op.drop_table("backfill_checkpoints")
    op.drop_index("ix_market_trades_ticker_ts", table_name="market_trades")
    op.drop_table("market_trades")
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {ROLE}")
    op.execute(
        f"""
        DO $$
        BEGIN
            DROP ROLE IF EXISTS {ROLE};
        EXCEPTION WHEN dependent_objects_still_exist THEN
            NULL;
        END
        $$
        """
    )
