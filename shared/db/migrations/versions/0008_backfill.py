"""Backfill: per-market checkpoints and row sources.

Placeholder in the revision chain, filled in by the work that owns it (history).

Revision ID: 0008_backfill
Revises: 0007_history_storage
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0008_backfill"
down_revision: str | None = "0007_history_storage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
