"""History storage: daily partitions, change-only snapshots, rollups by source.

- ``market_snapshots`` becomes a table partitioned by day on ``ts`` (native range
  partitioning). The existing rows move into one partition per day they cover; the unique
  ``(ticker, ts, source)`` key and the ``id`` sequence are kept; the primary key becomes
  ``(id, ts)`` because a partitioned table's unique keys must hold the partition key.
  Partitions live in the ``history_parts`` schema, so the application schema lists only
  the parent. A ``DEFAULT`` partition catches a row whose day has no partition yet, so an
  insert never fails for want of one; creating that day's partition moves such rows in.
- ``history_ensure_partition(day)`` and ``history_drop_partition(day)`` are ``SECURITY
  DEFINER`` functions (owned by the migrating role, the table's owner): the poller, which
  creates partitions ahead of time and archives old ones, gets EXECUTE on them and no DDL
  right of its own.
- ``market_latest`` gains ``stored_ts`` and ``snapshot_hash``: when the market's last
  *stored* snapshot was taken and a fingerprint of what it carried, so a poll stores only
  the snapshots that changed (plus a heartbeat); ``ADR 0170``.
- ``market_candles`` gains ``source`` (``poll``, ``websocket``, ``kalshi_candles``,
  ``trades``): rollups from Kalshi's candles or the trade tape live beside the project's
  own, which win where both cover a bucket (ADR 0172).
- ``history_archives``: one row per archived day (file set, row count, checksum).

Revision ID: 0007_history_storage
Revises: 0006_backtest_owners
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_history_storage"
down_revision: str | None = "0006_backtest_owners"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PARTS_SCHEMA = "history_parts"
WRITER = "ki_poll_markets"
READERS = ("ki_markets", "ki_backtests", "ki_backtest_worker", "ki_streamer")
"""Roles 0004 lets read market data; they may read the archive log too."""

_COLUMNS = """
    id bigint NOT NULL DEFAULT nextval('market_snapshots_id_seq'::regclass),
    ticker varchar(128) NOT NULL,
    ts timestamptz NOT NULL,
    source varchar(16) NOT NULL,
    sequence bigint,
    yes_bid_dollars numeric(10, 4),
    yes_ask_dollars numeric(10, 4),
    no_bid_dollars numeric(10, 4),
    no_ask_dollars numeric(10, 4),
    last_price_dollars numeric(10, 4),
    volume_fp numeric(18, 2),
    open_interest_fp numeric(18, 2),
    raw jsonb
"""

# Whatever earlier migrations granted on the table being replaced, granted on its successor.
_COPY_GRANTS = """
DO $$
DECLARE g record;
BEGIN
    FOR g IN SELECT grantee, privilege_type FROM information_schema.role_table_grants
             WHERE table_schema = current_schema() AND table_name = '{old}'
               AND grantee <> current_user
    LOOP
        EXECUTE format('GRANT %s ON market_snapshots TO %I', g.privilege_type, g.grantee);
    END LOOP;
END $$
"""

# Creates the partition of one UTC day if it is missing, moving in any rows the DEFAULT
# partition caught for that day (ATTACH would refuse while they sit there). Idempotent;
# returns whether it created the partition.
_ENSURE = f"""
CREATE FUNCTION history_ensure_partition(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    part text := 'market_snapshots_' || to_char(day, 'YYYYMMDD');
    lo timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(format('%I.%I', '{PARTS_SCHEMA}', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('history_ensure_partition'));
    IF to_regclass(format('%I.%I', '{PARTS_SCHEMA}', part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I.%I (LIKE market_snapshots INCLUDING DEFAULTS)',
                   '{PARTS_SCHEMA}', part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM {PARTS_SCHEMA}.market_snapshots_default '
        'WHERE ts >= %L AND ts < %L RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
        lo, hi, '{PARTS_SCHEMA}', part);
    EXECUTE format('ALTER TABLE market_snapshots ATTACH PARTITION %I.%I '
                   'FOR VALUES FROM (%L) TO (%L)', '{PARTS_SCHEMA}', part, lo, hi);
    RETURN true;
END $$
"""

# Detaches and drops one day's partition (after the archive verified it). Returns whether
# there was one. Refuses a day whose archive is not recorded as verified.
_DROP = f"""
CREATE FUNCTION history_drop_partition(day date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    part text := 'market_snapshots_' || to_char(day, 'YYYYMMDD');
BEGIN
    IF to_regclass(format('%I.%I', '{PARTS_SCHEMA}', part)) IS NULL THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM history_archives a
                   WHERE a.day = history_drop_partition.day AND a.verified_at IS NOT NULL) THEN
        RAISE EXCEPTION 'day % has no verified archive; refusing to drop it', day;
    END IF;
    EXECUTE format('ALTER TABLE market_snapshots DETACH PARTITION %I.%I', '{PARTS_SCHEMA}', part);
    EXECUTE format('DROP TABLE %I.%I', '{PARTS_SCHEMA}', part);
    RETURN true;
END $$
"""


def upgrade() -> None:
    op.execute(f"CREATE SCHEMA IF NOT EXISTS {PARTS_SCHEMA}")
    # The plain table steps aside with its rows; its sequence outlives it.
    op.execute("ALTER SEQUENCE market_snapshots_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE market_snapshots RENAME TO market_snapshots_unpartitioned")
    op.execute(
        "ALTER TABLE market_snapshots_unpartitioned "
        "RENAME CONSTRAINT pk_market_snapshots TO pk_market_snapshots_unpartitioned"
    )
    op.execute(
        "ALTER TABLE market_snapshots_unpartitioned RENAME CONSTRAINT "
        "uq_market_snapshots_ticker_ts_source TO uq_market_snapshots_unpartitioned"
    )
    op.execute(
        f"CREATE TABLE market_snapshots ({_COLUMNS},"
        " CONSTRAINT pk_market_snapshots PRIMARY KEY (id, ts),"
        " CONSTRAINT uq_market_snapshots_ticker_ts_source UNIQUE (ticker, ts, source)"
        ") PARTITION BY RANGE (ts)"
    )
    op.execute("ALTER SEQUENCE market_snapshots_id_seq OWNED BY market_snapshots.id")
    op.execute(
        f"CREATE TABLE {PARTS_SCHEMA}.market_snapshots_default "
        "PARTITION OF market_snapshots DEFAULT"
    )
    op.create_table(
        "history_archives",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_history_archives")),
    )
    op.execute(_ENSURE)
    op.execute(_DROP)
    # One partition per day the old table covers, then the rows, ids and all.
    op.execute(
        "SELECT history_ensure_partition(d::date) FROM ("
        "SELECT DISTINCT (ts AT TIME ZONE 'UTC')::date AS d "
        "FROM market_snapshots_unpartitioned) days"
    )
    op.execute("INSERT INTO market_snapshots SELECT * FROM market_snapshots_unpartitioned")
    op.execute(_COPY_GRANTS.format(old="market_snapshots_unpartitioned"))
    op.execute("DROP TABLE market_snapshots_unpartitioned")

    op.add_column("market_latest", sa.Column("stored_ts", sa.DateTime(timezone=True)))
    op.add_column("market_latest", sa.Column("snapshot_hash", sa.BigInteger()))
    op.add_column(
        "market_candles",
        sa.Column("source", sa.String(length=16), server_default=sa.text("'poll'"), nullable=False),
    )

    for role in (WRITER, *READERS):
        op.execute(f"GRANT SELECT ON history_archives TO {role}")
    op.execute(f"GRANT INSERT, UPDATE, DELETE ON history_archives TO {WRITER}")
    for function in ("history_ensure_partition(date)", "history_drop_partition(date)"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {WRITER}")


def downgrade() -> None:
    op.drop_column("market_candles", "source")
    op.drop_column("market_latest", "snapshot_hash")
    op.drop_column("market_latest", "stored_ts")
    op.execute("ALTER SEQUENCE market_snapshots_id_seq OWNED BY NONE")
    op.execute("ALTER TABLE market_snapshots RENAME TO market_snapshots_partitioned")
    op.execute(
        "ALTER TABLE market_snapshots_partitioned "
        "RENAME CONSTRAINT pk_market_snapshots TO pk_market_snapshots_partitioned"
    )
    op.execute(
        "ALTER TABLE market_snapshots_partitioned RENAME CONSTRAINT "
        "uq_market_snapshots_ticker_ts_source TO uq_market_snapshots_partitioned"
    )
    op.execute(
        f"CREATE TABLE market_snapshots ({_COLUMNS},"
        " CONSTRAINT pk_market_snapshots PRIMARY KEY (id),"
        " CONSTRAINT uq_market_snapshots_ticker_ts_source UNIQUE (ticker, ts, source))"
    )
    op.execute("INSERT INTO market_snapshots SELECT * FROM market_snapshots_partitioned")
    op.execute("ALTER SEQUENCE market_snapshots_id_seq OWNED BY market_snapshots.id")
    op.execute(_COPY_GRANTS.format(old="market_snapshots_partitioned"))
    op.execute("DROP TABLE market_snapshots_partitioned CASCADE")
    op.execute("DROP FUNCTION history_drop_partition(date)")
    op.execute("DROP FUNCTION history_ensure_partition(date)")
    op.drop_table("history_archives")
    op.execute(f"DROP SCHEMA {PARTS_SCHEMA} CASCADE")
