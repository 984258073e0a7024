"""Backtest runs belong to the user who submitted them.

``backtest_runs.user_id`` (0001: no foreign key, never written by the API) becomes
``owner_id``, a foreign key to ``users`` with ``ON DELETE CASCADE``, so deleting an account
deletes its runs (their details, variants and trades cascade from the run). Anonymous runs,
which only the local stack accepts, record the client address in ``owner_address``
instead. A run with neither (everything created before this revision) belongs to nobody
and is listed to nobody (docs/decisions/0150-backtest-runs-have-owners.md).

The listing indexes follow the API's one query shape, an owner's runs newest first (a
btree serves ``ORDER BY created_at DESC, id DESC`` by scanning backwards).

Revision ID: 0006_backtest_owners
Revises: 0005_accounts
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_backtest_owners"
down_revision: str | None = "0005_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_backtest_runs_user_id", table_name="backtest_runs")
    op.alter_column("backtest_runs", "user_id", new_column_name="owner_id")
    # Runs that named a user who does not exist (never written by the API) become ownerless.
    op.execute(
        "UPDATE backtest_runs SET owner_id = NULL WHERE owner_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = backtest_runs.owner_id)"
    )
    op.create_foreign_key(
        "fk_backtest_runs_owner_id_users",
        "backtest_runs",
        "users",
        ["owner_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.add_column("backtest_runs", sa.Column("owner_address", sa.String(64), nullable=True))
    op.create_check_constraint(
        "ck_backtest_runs_one_owner",
        "backtest_runs",
        "owner_id IS NULL OR owner_address IS NULL",
    )
    op.create_index(
        "ix_backtest_runs_owner_id_created_at",
        "backtest_runs",
        ["owner_id", "created_at", "id"],
    )
    op.create_index(
        "ix_backtest_runs_owner_address_created_at",
        "backtest_runs",
        ["owner_address", "created_at", "id"],
    )
    # The streamer relays a run's progress to its owner only: it reads who that is.
    op.execute("GRANT SELECT (id, owner_id) ON backtest_runs TO ki_streamer")


def downgrade() -> None:
    op.execute("REVOKE SELECT (id, owner_id) ON backtest_runs FROM ki_streamer")
    op.drop_index("ix_backtest_runs_owner_address_created_at", table_name="backtest_runs")
    op.drop_index("ix_backtest_runs_owner_id_created_at", table_name="backtest_runs")
    op.drop_constraint("ck_backtest_runs_one_owner", "backtest_runs", type_="check")
    op.drop_column("backtest_runs", "owner_address")
    op.drop_constraint("fk_backtest_runs_owner_id_users", "backtest_runs", type_="foreignkey")
    op.alter_column("backtest_runs", "owner_id", new_column_name="user_id")
    op.create_index("ix_backtest_runs_user_id", "backtest_runs", ["user_id"], unique=False)
