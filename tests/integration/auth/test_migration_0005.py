"""Migration 0005_accounts on its own: what it keeps, what it drops, and a clean way back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.db import migrate

pytestmark = pytest.mark.integration

NEW_TABLES = {
    "user_sessions",
    "api_tokens",
    "rate_limit_counters",
    "user_settings",
    "account_baselines",
}
SIGNED_IN = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)


def privilege(conn: sa.Connection, role: str, table: str, what: str = "SELECT") -> bool:
    return bool(
        conn.execute(
            sa.text("SELECT has_table_privilege(:r, :t, :w)"),
            {"r": role, "t": f"public.{table}", "w": what},
        ).scalar_one()
    )


def column_privilege(conn: sa.Connection, role: str, table: str, column: str, what: str) -> bool:
    return bool(
        conn.execute(
            sa.text("SELECT has_column_privilege(:r, :t, :c, :w)"),
            {"r": role, "t": f"public.{table}", "c": column, "w": what},
        ).scalar_one()
    )


def test_upgrade_keeps_users_drops_envelope_rows_and_downgrade_undoes_it(
    fresh_database: str,
) -> None:
    engine = sa.create_engine(fresh_database, poolclass=NullPool)
    user = uuid.uuid4()
    try:
        migrate.upgrade(fresh_database, "0004_deployable_roles")
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, kalshi_key_id, environment, last_login_at) "
                    "VALUES (:id, 'k1', 'demo', :at)"
                ),
                {"id": user, "at": SIGNED_IN},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO user_credentials (user_id, kalshi_key_id, ciphertext, nonce, "
                    "wrapped_data_key, kek_version) VALUES (:id, 'k1', 'x', 'n', 'w', '1')"
                ),
                {"id": user},
            )

        migrate.upgrade(fresh_database, "0005_accounts")
        with engine.begin() as conn:
            assert (
                conn.execute(
                    sa.text("SELECT signed_in_at FROM users WHERE id = :id"), {"id": user}
                ).scalar_one()
                == SIGNED_IN
            )
            assert conn.execute(sa.text("SELECT count(*) FROM user_credentials")).scalar_one() == 0
            assert set(sa.inspect(conn).get_table_names()) >= NEW_TABLES
            for table in NEW_TABLES:
                assert privilege(conn, "ki_account", table, "INSERT"), table
                assert not privilege(conn, "ki_markets", table), table
            assert privilege(conn, "ki_backtests", "user_sessions")
            assert column_privilege(conn, "ki_backtests", "user_credentials", "status", "SELECT")
            assert not column_privilege(
                conn, "ki_backtests", "user_credentials", "ciphertext", "SELECT"
            )
            assert column_privilege(conn, "ki_backtests", "api_tokens", "last_used_at", "UPDATE")
            assert not column_privilege(conn, "ki_backtests", "api_tokens", "scope", "UPDATE")
            assert privilege(conn, "ki_streamer", "user_settings")
            # The streamer marks a key Kalshi rejects as invalid, and changes nothing else.
            assert column_privilege(conn, "ki_streamer", "user_credentials", "status", "UPDATE")
            assert not column_privilege(
                conn, "ki_streamer", "user_credentials", "ciphertext", "UPDATE"
            )
            checks = conn.execute(
                sa.text("SELECT conname FROM pg_constraint WHERE contype = 'c' ORDER BY 1")
            ).scalars()
            assert {
                "ck_account_baselines_source",
                "ck_api_tokens_scope",
                "ck_user_credentials_status",
            } <= set(checks)
            assert not privilege(conn, "ki_streamer", "user_settings", "UPDATE")
            # The new checks hold.
            for statement in (
                "INSERT INTO api_tokens (id, user_id, name, scope, token_hash, prefix) "
                "VALUES (gen_random_uuid(), :id, 'n', 'admin', 'h', 'ki_')",
                "INSERT INTO account_baselines (user_id, trading_day, value_dollars, source) "
                "VALUES (:id, '2026-06-01', 1, 'guess')",
            ):
                with pytest.raises(sa.exc.DBAPIError) as refused, conn.begin_nested():
                    conn.execute(sa.text(statement), {"id": user})
                assert "23514" in str(refused.value)  # check_violation

        migrate.downgrade(fresh_database, "0004_deployable_roles")
        with engine.begin() as conn:
            assert not NEW_TABLES & set(sa.inspect(conn).get_table_names())
            columns = {c["name"] for c in sa.inspect(conn).get_columns("user_credentials")}
            assert {"wrapped_data_key", "kek_version"} <= columns and "status" not in columns
            assert (
                conn.execute(
                    sa.text("SELECT last_login_at FROM users WHERE id = :id"), {"id": user}
                ).scalar_one()
                == SIGNED_IN
            )
            assert not privilege(conn, "ki_backtests", "users")
            assert not column_privilege(
                conn, "ki_backtests", "user_credentials", "user_id", "SELECT"
            )
            assert privilege(conn, "ki_account", "users", "UPDATE")  # 0004's grant stays
            constraints = conn.execute(
                sa.text(
                    "SELECT conname FROM pg_constraint WHERE conrelid = "
                    "'user_credentials'::regclass AND contype = 'c'"
                )
            ).scalars()
            assert list(constraints) == []
        migrate.upgrade(fresh_database)
    finally:
        engine.dispose()
