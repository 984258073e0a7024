"""Market data read models: market_latest, market_candles, market_polls.

Written to match shared/db/models_marketdata.py (a unit test compares the two).
See docs/decisions/0050-market-data-read-models.md for why these tables exist.

Revision ID: 0002_market_data
Revises: 0001_foundation
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_market_data"
down_revision: str | None = "0001_foundation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PRICE = sa.Numeric(precision=10, scale=4)
MID = sa.Numeric(precision=11, scale=5)
COUNT = sa.Numeric(precision=18, scale=2)
TS = sa.DateTime(timezone=True)
CHANGE_24H_SQL = (
    "CASE WHEN previous_price_dollars > 0 AND last_price_dollars > 0 "
    "THEN last_price_dollars - previous_price_dollars END"
)


def upgrade() -> None:
    op.create_table(
        "market_latest",
        sa.Column("ticker", sa.String(length=128), nullable=False),
        sa.Column("ts", TS, nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("yes_bid_dollars", PRICE, nullable=True),
        sa.Column("yes_ask_dollars", PRICE, nullable=True),
        sa.Column("no_bid_dollars", PRICE, nullable=True),
        sa.Column("no_ask_dollars", PRICE, nullable=True),
        sa.Column("last_price_dollars", PRICE, nullable=True),
        sa.Column("previous_price_dollars", PRICE, nullable=True),
        sa.Column(
            "change_24h_dollars", PRICE, sa.Computed(CHANGE_24H_SQL, persisted=True), nullable=True
        ),
        sa.Column("volume_fp", COUNT, server_default=sa.text("0"), nullable=False),
        sa.Column("volume_24h_fp", COUNT, nullable=True),
        sa.Column("open_interest_fp", COUNT, nullable=True),
        sa.Column("meta_hash", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("ticker", name=op.f("pk_market_latest")),
        postgresql_with={"fillfactor": 50},
    )
    op.create_table(
        "market_candles",
        sa.Column("ticker", sa.String(length=128), nullable=False),
        sa.Column("resolution_s", sa.Integer(), nullable=False),
        sa.Column("bucket_start", TS, nullable=False),
        sa.Column("first_ts", TS, nullable=False),
        sa.Column("last_ts", TS, nullable=False),
        sa.Column("mid_open", MID, nullable=True),
        sa.Column("mid_high", MID, nullable=True),
        sa.Column("mid_low", MID, nullable=True),
        sa.Column("mid_close", MID, nullable=True),
        sa.Column("last_open", PRICE, nullable=True),
        sa.Column("last_high", PRICE, nullable=True),
        sa.Column("last_low", PRICE, nullable=True),
        sa.Column("last_close", PRICE, nullable=True),
        sa.Column("volume_open_fp", COUNT, nullable=True),
        sa.Column("volume_close_fp", COUNT, nullable=True),
        sa.Column("samples", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.PrimaryKeyConstraint(
            "ticker", "resolution_s", "bucket_start", name=op.f("pk_market_candles")
        ),
        postgresql_with={"fillfactor": 50},
    )
    op.create_table(
        "market_polls",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("message_id", sa.String(length=256), nullable=False),
        sa.Column("polled_at", TS, nullable=False),
        sa.Column("market_count", sa.Integer(), nullable=False),
        sa.Column("settled_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("fetch_seconds", sa.Double(), nullable=True),
        sa.Column("write_seconds", sa.Double(), nullable=True),
        sa.Column("published_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_polls")),
        sa.UniqueConstraint("message_id", name=op.f("uq_market_polls_message_id")),
    )
    op.create_index(op.f("ix_market_polls_polled_at"), "market_polls", ["polled_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_market_polls_polled_at"), table_name="market_polls")
    op.drop_table("market_polls")
    op.drop_table("market_candles")
    op.drop_table("market_latest")
