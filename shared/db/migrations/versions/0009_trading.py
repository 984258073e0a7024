"""Trading: the order audit.

- ``order_audit``: every order request a user sends through the account API (place, amend,
  cancel, cancel-all, close) and Kalshi's answer: the request as the user wrote it and as
  sent to Kalshi (V2), Kalshi's body or error, a status (``sent`` until answered, then
  ``accepted``, ``rejected`` by Kalshi or by our checks, or ``failed`` when no answer came),
  the ids (ours, the client order id, Kalshi's order id) and both timestamps. Rows belong to
  a user and go with them (``ON DELETE CASCADE``).

Grants follow docs/decisions/0080: only ``ki_account`` (the function that places orders)
reads and writes it; the sequence of its id too. The audit is append-and-complete: the
role may insert and update rows, and delete them only through the user's cascade.

Revision ID: 0009_trading
Revises: 0008_backfill
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_trading"
down_revision: str | None = "0008_backfill"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "ki_account"


def upgrade() -> None:
    op.create_table(
        "order_audit",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("via", sa.String(length=8), nullable=False),
        sa.Column("api_token_id", sa.UUID(), nullable=True),
        sa.Column("ticker", sa.String(length=128), nullable=True),
        sa.Column("client_order_id", sa.String(length=64), nullable=True),
        sa.Column("order_id", sa.String(length=64), nullable=True),
        sa.Column("request", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("http_status", sa.SmallInteger(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column(
            "requested_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "action IN ('place', 'amend', 'cancel', 'cancel_all', 'close')",
            name=op.f("ck_order_audit_action"),
        ),
        sa.CheckConstraint(
            "status IN ('sent', 'accepted', 'rejected', 'failed')",
            name=op.f("ck_order_audit_status"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_order_audit_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_audit")),
    )
    op.create_index(
        "ix_order_audit_user_id_requested_at", "order_audit", ["user_id", "requested_at"]
    )
    op.create_index("ix_order_audit_user_id_order_id", "order_audit", ["user_id", "order_id"])
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON order_audit TO {ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON SEQUENCE order_audit_id_seq TO {ROLE}")


def downgrade() -> None:
    op.drop_index("ix_order_audit_user_id_order_id", table_name="order_audit")
    op.drop_index("ix_order_audit_user_id_requested_at", table_name="order_audit")
    op.drop_table("order_audit")
