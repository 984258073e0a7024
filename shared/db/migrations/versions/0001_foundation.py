"""Foundation: every table of the data model (docs/architecture.md, "Tables").

Generated from shared/db/models.py with ``alembic revision --autogenerate`` and reviewed.
Tables that reference others come after them; the downgrade drops in reverse order.
Edited in place before any deployment: ``ix_market_snapshots_ticker_ts`` and
``ix_markets_status`` removed (ADR 0055).

Revision ID: 0001_foundation
Revises: (none)
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_foundation"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backtest_runs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("strategy", sa.String(length=64), nullable=False),
        sa.Column("strategy_version", sa.String(length=32), nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("grid", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "market_filter",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("start_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("progress", sa.Double(), server_default=sa.text("0"), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("equity_curve", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_runs")),
    )
    op.create_index(op.f("ix_backtest_runs_status"), "backtest_runs", ["status"], unique=False)
    op.create_index(op.f("ix_backtest_runs_user_id"), "backtest_runs", ["user_id"], unique=False)
    op.create_table(
        "market_snapshots",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("ticker", sa.String(length=128), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("yes_bid_dollars", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("yes_ask_dollars", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("no_bid_dollars", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("no_ask_dollars", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("last_price_dollars", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("volume_fp", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("open_interest_fp", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_snapshots")),
        sa.UniqueConstraint("ticker", "ts", "source", name="uq_market_snapshots_ticker_ts_source"),
    )
    op.create_table(
        "markets",
        sa.Column("ticker", sa.String(length=128), nullable=False),
        sa.Column("event_ticker", sa.String(length=128), nullable=False),
        sa.Column("series_ticker", sa.String(length=64), nullable=True),
        sa.Column("title", sa.Text(), server_default="", nullable=False),
        sa.Column("event_title", sa.Text(), nullable=True),
        sa.Column("yes_sub_title", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("market_type", sa.String(length=16), server_default="binary", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("open_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("settlement_value_dollars", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("determined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("ticker", name=op.f("pk_markets")),
    )
    op.create_index(op.f("ix_markets_close_time"), "markets", ["close_time"], unique=False)
    op.create_index(op.f("ix_markets_event_ticker"), "markets", ["event_ticker"], unique=False)
    op.create_index(op.f("ix_markets_series_ticker"), "markets", ["series_ticker"], unique=False)
    op.create_table(
        "processed_messages",
        sa.Column("consumer", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=256), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer", "message_id", name=op.f("pk_processed_messages")),
    )
    op.create_index(
        op.f("ix_processed_messages_processed_at"),
        "processed_messages",
        ["processed_at"],
        unique=False,
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
    )
    op.create_index(
        op.f("ix_revoked_tokens_expires_at"), "revoked_tokens", ["expires_at"], unique=False
    )
    op.create_table(
        "users",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kalshi_key_id", sa.String(length=64), nullable=False),
        sa.Column("environment", sa.String(length=16), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint(
            "kalshi_key_id", "environment", name="uq_users_kalshi_key_id_environment"
        ),
    )
    op.create_table(
        "backtest_trades",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("variant", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("ticker", sa.String(length=128), nullable=False),
        sa.Column("side", sa.String(length=8), nullable=False),
        sa.Column("count_fp", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("entry_ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entry_price_dollars", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("entry_snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column("exit_ts", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_price_dollars", sa.Numeric(precision=10, scale=4), nullable=True),
        sa.Column("exit_snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column("fees_dollars", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("pnl_dollars", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("entry_reason", sa.Text(), server_default="", nullable=False),
        sa.Column("exit_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["backtest_runs.id"],
            name=op.f("fk_backtest_trades_run_id_backtest_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_trades")),
    )
    op.create_index(
        "ix_backtest_trades_run_id_variant", "backtest_trades", ["run_id", "variant"], unique=False
    )
    op.create_table(
        "fills",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("fill_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("ticker", sa.String(length=128), nullable=False),
        sa.Column("outcome_side", sa.String(length=8), nullable=False),
        sa.Column("book_side", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=True),
        sa.Column("count_fp", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("yes_price_dollars", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("no_price_dollars", sa.Numeric(precision=10, scale=4), nullable=False),
        sa.Column("fee_cost_dollars", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("is_taker", sa.Boolean(), nullable=False),
        sa.Column("created_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_fills_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "fill_id", name=op.f("pk_fills")),
    )
    op.create_index(
        "ix_fills_user_id_created_time", "fills", ["user_id", "created_time"], unique=False
    )
    op.create_table(
        "position_cache",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("ticker", sa.String(length=128), nullable=False),
        sa.Column("position_fp", sa.Numeric(precision=18, scale=2), nullable=False),
        sa.Column("market_exposure_dollars", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("realized_pnl_dollars", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("fees_paid_dollars", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("total_traded_dollars", sa.Numeric(precision=18, scale=6), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_position_cache_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "ticker", name=op.f("pk_position_cache")),
    )
    op.create_table(
        "user_credentials",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kalshi_key_id", sa.String(length=64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=False),
        sa.Column("kek_version", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_credentials_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_credentials")),
    )


def downgrade() -> None:
    op.drop_table("user_credentials")
    op.drop_table("position_cache")
    op.drop_index("ix_fills_user_id_created_time", table_name="fills")
    op.drop_table("fills")
    op.drop_index("ix_backtest_trades_run_id_variant", table_name="backtest_trades")
    op.drop_table("backtest_trades")
    op.drop_table("users")
    op.drop_index(op.f("ix_revoked_tokens_expires_at"), table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_index(op.f("ix_processed_messages_processed_at"), table_name="processed_messages")
    op.drop_table("processed_messages")
    op.drop_index(op.f("ix_markets_series_ticker"), table_name="markets")
    op.drop_index(op.f("ix_markets_event_ticker"), table_name="markets")
    op.drop_index(op.f("ix_markets_close_time"), table_name="markets")
    op.drop_table("markets")
    op.drop_table("market_snapshots")
    op.drop_index(op.f("ix_backtest_runs_user_id"), table_name="backtest_runs")
    op.drop_index(op.f("ix_backtest_runs_status"), table_name="backtest_runs")
    op.drop_table("backtest_runs")
