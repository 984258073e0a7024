"""Backtests: per-run engine settings and attempts, per-variant results of sweeps.

Written to match shared/db/models_backtest.py (the schema test compares them).

Revision ID: 0003_backtests
Revises: 0002_market_data
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_backtests"
down_revision: str | None = "0002_market_data"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

EMPTY_OBJECT = sa.text("'{}'::jsonb")


def upgrade() -> None:
    op.create_table(
        "backtest_run_details",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column(
            "config",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=EMPTY_OBJECT,
            nullable=False,
        ),
        sa.Column("rank_by", sa.String(length=32), server_default="sharpe", nullable=False),
        sa.Column("variants", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("stage", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("snapshots", sa.Integer(), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["backtest_runs.id"],
            name=op.f("fk_backtest_run_details_run_id_backtest_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_backtest_run_details")),
    )
    op.create_table(
        "backtest_variants",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("variant", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column(
            "params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=EMPTY_OBJECT,
            nullable=False,
        ),
        sa.Column(
            "metrics",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=EMPTY_OBJECT,
            nullable=False,
        ),
        sa.Column(
            "equity_curve",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["backtest_runs.id"],
            name=op.f("fk_backtest_variants_run_id_backtest_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "variant", name=op.f("pk_backtest_variants")),
    )


def downgrade() -> None:
    op.drop_table("backtest_variants")
    op.drop_table("backtest_run_details")
