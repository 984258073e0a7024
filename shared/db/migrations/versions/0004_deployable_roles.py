"""One NOLOGIN group role per deployable, granted only what that deployable does.

Until now every runtime account was granted full DML on every table (including
``user_credentials``), so a bug or an injection in the public markets API could read every
user's Kalshi key. Each deployable's login (an IAM database user on Cloud SQL, a local
login role in ``kalshi-insights up``) is made a member of its group role instead
(:mod:`shared.db.roles`); see docs/decisions/0080.

Roles are cluster-wide while migrations run per database: creating a role tolerates its
existing already (another database of the cluster, or a concurrent migration of one), and
the downgrade drops a role only when no other database still grants it anything.

The grants are frozen here, as any migration's DDL is: a later table or a changed need
gets a later migration (tests/integration/db/test_roles.py fails while a table has no
grant at all).

Revision ID: 0004_deployable_roles
Revises: 0003_backtests
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_deployable_roles"
down_revision: str | None = "0003_backtests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MARKET_TABLES = ("markets", "market_snapshots", "market_latest", "market_candles", "market_polls")
BACKTEST_TABLES = ("backtest_runs", "backtest_run_details", "backtest_variants", "backtest_trades")
READ = "SELECT"
WRITE = "SELECT, INSERT, UPDATE, DELETE"

# role -> [(privileges, tables)]. Writers of a table with a serial/identity key also get
# its sequence (below).
GRANTS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    # The public markets API and /health: reads market data, nothing else.
    "ki_markets": [(READ, MARKET_TABLES)],
    # The poller: writes market data; processed_messages is its idempotency record.
    "ki_poll_markets": [(WRITE, MARKET_TABLES), (WRITE, ("processed_messages",))],
    # The backtests API and the worker: read market data, own the backtest tables.
    "ki_backtests": [(READ, MARKET_TABLES), (WRITE, BACKTEST_TABLES)],
    "ki_backtest_worker": [(READ, MARKET_TABLES), (WRITE, BACKTEST_TABLES)],
    # Sign-in and the credential vault; positions are the streamer's to write.
    "ki_account": [
        (WRITE, ("users", "user_credentials", "revoked_tokens")),
        (READ, ("position_cache", "fills", "markets")),
    ],
    # Opens each user's Kalshi WebSocket (needs the credentials), keeps positions and fills.
    "ki_streamer": [
        (READ, ("users", "user_credentials", "revoked_tokens")),
        (WRITE, ("position_cache", "fills", "processed_messages")),
        (READ, MARKET_TABLES),
    ],
}


def _create_role(role: str) -> None:
    # duplicate_object: it exists; unique_violation: a concurrent CREATE ROLE won the race.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE {role} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END
        $$
        """
    )


def _grant_sequences(role: str, tables: tuple[str, ...]) -> None:
    """USAGE on the sequence behind each table's serial or identity ``id``, if it has one."""
    names = ", ".join(f"'{table}'" for table in tables)
    op.execute(
        f"""
        DO $$
        DECLARE sequence_name text;
        BEGIN
            FOR sequence_name IN
                SELECT pg_get_serial_sequence(format('public.%I', c.table_name), c.column_name)
                FROM information_schema.columns c
                WHERE c.table_schema = 'public' AND c.table_name IN ({names})
                  AND pg_get_serial_sequence(format('public.%I', c.table_name), c.column_name)
                      IS NOT NULL
            LOOP
                EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO {role}', sequence_name);
            END LOOP;
        END
        $$
        """
    )


def upgrade() -> None:
    for role, grants in GRANTS.items():
        _create_role(role)
        op.execute(f"GRANT USAGE ON SCHEMA public TO {role}")
        for privileges, tables in grants:
            op.execute(f"GRANT {privileges} ON {', '.join(tables)} TO {role}")
            if privileges == WRITE:
                _grant_sequences(role, tables)


def downgrade() -> None:
    for role in GRANTS:
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE USAGE ON SCHEMA public FROM {role}")
        # Dropped only when no other database of the cluster still grants it anything.
        op.execute(
            f"""
            DO $$
            BEGIN
                DROP ROLE IF EXISTS {role};
            EXCEPTION WHEN dependent_objects_still_exist THEN
                NULL;
            END
            $$
            """
        )
