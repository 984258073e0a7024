"""Backtest runs belong to the user who submitted them.

Placeholder in the revision chain, filled in by the work that owns it (accounts).

Revision ID: 0006_backtest_owners
Revises: 0005_accounts
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0006_backtest_owners"
down_revision: str | None = "0005_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
