"""Accounts: sign-in, credential vault, sessions, API tokens, rate limits, settings.

- ``users``: ``last_login_at`` becomes ``signed_in_at`` (set by each successful sign-in);
  ``environment`` (0001) already names the Kalshi environment the key belongs to.
- ``user_credentials``: the 0001 envelope layout (``wrapped_data_key``, ``kek_version``)
  becomes the AES-256-GCM vault's (``key_version``, ``nonce``, ``ciphertext``;
  docs/decisions/0141-credential-vault-aes-256-gcm.md) plus ``status`` (``valid`` until
  Kalshi rejects the key) and ``updated_at``. No code ever wrote the old layout and its rows
  could not be opened by the new one, so any are deleted (both ways).
- ``user_sessions``: one row per issued session JWT, so logout can revoke every live
  session of a user into ``revoked_tokens``.
- ``api_tokens``: bearer tokens for scripts, stored as SHA-256 hashes.
- ``rate_limit_counters``: the sign-in limiter's windowed counters, shared by every
  instance (``shared/auth/ratelimit.py``).
- ``user_settings`` and ``account_baselines`` (the day's opening account value, for P&L).

Grants follow docs/decisions/0080: ``ki_account`` writes all of these; ``ki_streamer``
reads what it needs to authenticate and to open each user's Kalshi connection; the
backtests API and worker authenticate requests themselves, so they read users, sessions,
revocations and tokens, may stamp ``api_tokens.last_used_at`` and nothing else there, and
see only ``user_id`` and ``status`` of ``user_credentials`` (column privileges: never the
ciphertext).

Revision ID: 0005_accounts
Revises: 0004_deployable_roles
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_accounts"
down_revision: str | None = "0004_deployable_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_TABLES = (
    "user_sessions",
    "api_tokens",
    "rate_limit_counters",
    "user_settings",
    "account_baselines",
)
READ = "SELECT"
WRITE = "SELECT, INSERT, UPDATE, DELETE"
AUTHENTICATES = ("users", "user_sessions", "revoked_tokens", "api_tokens")
"""What a deployable that authenticates requests itself must read."""
CREDENTIAL_STATUS = "SELECT (user_id, status)"

GRANTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "ki_account": [(WRITE, NEW_TABLES)],
    "ki_streamer": [
        (READ, ("user_sessions", "api_tokens", "user_settings", "account_baselines")),
        # A key Kalshi rejects on the live socket is marked invalid by the streamer itself.
        ("UPDATE (status, invalid_reason, updated_at)", ("user_credentials",)),
    ],
    "ki_backtests": [
        (READ, AUTHENTICATES),
        ("UPDATE (last_used_at)", ("api_tokens",)),
        (CREDENTIAL_STATUS, ("user_credentials",)),
    ],
    "ki_backtest_worker": [
        (READ, AUTHENTICATES),
        ("UPDATE (last_used_at)", ("api_tokens",)),
        (CREDENTIAL_STATUS, ("user_credentials",)),
    ],
}
"""Added to 0004's grants (which already give ki_account and ki_streamer the 0001 tables)."""


def _timestamp(name: str, *, nullable: bool = False, default: bool = True) -> sa.Column[object]:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        server_default=sa.text("now()") if default else None,
        nullable=nullable,
    )


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["user_id"], ["users.id"], name=f"fk_{table}_user_id_users", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.alter_column("users", "last_login_at", new_column_name="signed_in_at")

    op.execute("DELETE FROM user_credentials")
    op.drop_column("user_credentials", "wrapped_data_key")
    op.drop_column("user_credentials", "kek_version")
    op.add_column("user_credentials", sa.Column("key_version", sa.String(32), nullable=False))
    op.add_column(
        "user_credentials",
        sa.Column("status", sa.String(16), server_default="valid", nullable=False),
    )
    op.add_column("user_credentials", sa.Column("invalid_reason", sa.Text(), nullable=True))
    op.add_column("user_credentials", _timestamp("updated_at"))
    op.create_check_constraint(
        op.f("ck_user_credentials_status"), "user_credentials", "status IN ('valid', 'invalid')"
    )

    op.create_table(
        "user_sessions",
        sa.Column("jti", sa.String(64), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _user_fk("user_sessions"),
        sa.PrimaryKeyConstraint("jti", name="pk_user_sessions"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_index("ix_user_sessions_expires_at", "user_sessions", ["expires_at"])

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        _timestamp("created_at"),
        _timestamp("expires_at", nullable=True, default=False),
        _timestamp("last_used_at", nullable=True, default=False),
        _timestamp("revoked_at", nullable=True, default=False),
        _user_fk("api_tokens"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.CheckConstraint("scope IN ('read', 'trade')", name=op.f("ck_api_tokens_scope")),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "rate_limit_counters",
        sa.Column("bucket", sa.String(200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bucket", name="pk_rate_limit_counters"),
    )
    op.create_index("ix_rate_limit_counters_expires_at", "rate_limit_counters", ["expires_at"])

    op.create_table(
        "user_settings",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        _timestamp("updated_at"),
        _user_fk("user_settings"),
        sa.PrimaryKeyConstraint("user_id", name="pk_user_settings"),
    )

    op.create_table(
        "account_baselines",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("trading_day", sa.Date(), nullable=False),
        sa.Column("value_dollars", sa.Numeric(18, 6), nullable=False),
        sa.Column(
            "net_transfers_dollars", sa.Numeric(18, 6), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("source", sa.String(16), nullable=False),
        _timestamp("recorded_at"),
        _user_fk("account_baselines"),
        sa.PrimaryKeyConstraint("user_id", "trading_day", name="pk_account_baselines"),
        sa.CheckConstraint(
            "source IN ('day_boundary', 'sign_in')", name=op.f("ck_account_baselines_source")
        ),
    )

    for role, grants in GRANTS.items():
        for privileges, tables in grants:
            op.execute(f"GRANT {privileges} ON {', '.join(tables)} TO {role}")


def downgrade() -> None:
    # Dropping a table drops its grants; the ones on 0001's tables are revoked by hand.
    for role in ("ki_backtests", "ki_backtest_worker"):
        op.execute(f"REVOKE ALL ON users, revoked_tokens FROM {role}")
        op.execute(f"REVOKE SELECT (user_id, status) ON user_credentials FROM {role}")
    op.execute(
        "REVOKE UPDATE (status, invalid_reason, updated_at) ON user_credentials FROM ki_streamer"
    )
    for table in reversed(NEW_TABLES):
        op.drop_table(table)

    op.execute("DELETE FROM user_credentials")
    op.drop_constraint(op.f("ck_user_credentials_status"), "user_credentials", type_="check")
    op.drop_column("user_credentials", "updated_at")
    op.drop_column("user_credentials", "invalid_reason")
    op.drop_column("user_credentials", "status")
    op.drop_column("user_credentials", "key_version")
    op.add_column(
        "user_credentials", sa.Column("wrapped_data_key", sa.LargeBinary(), nullable=False)
    )
    op.add_column("user_credentials", sa.Column("kek_version", sa.String(64), nullable=False))

    op.alter_column("users", "signed_in_at", new_column_name="last_login_at")
