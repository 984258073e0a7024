"""Trading: order audit.

Placeholder in the revision chain, filled in by the work that owns it (trading).

Revision ID: 0009_trading
Revises: 0008_backfill
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009_trading"
down_revision: str | None = "0008_backfill"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
