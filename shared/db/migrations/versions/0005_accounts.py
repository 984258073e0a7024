"""Accounts: sign-in, credential vault, sessions, API tokens, rate limits, settings.

Placeholder in the revision chain, filled in by the work that owns it (accounts).

Revision ID: 0005_accounts
Revises: 0004_deployable_roles
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0005_accounts"
down_revision: str | None = "0004_deployable_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
