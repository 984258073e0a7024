"""History storage: change-only snapshots, daily partitions, rollups.

Placeholder in the revision chain, filled in by the work that owns it (history).

Revision ID: 0007_history_storage
Revises: 0006_backtest_owners
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_history_storage"
down_revision: str | None = "0006_backtest_owners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
