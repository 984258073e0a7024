"""SQLAlchemy 2.0 models for every table of the foundation migration (0001).

These models are the schema contract between issues. Alembic migrations under
``shared/db/migrations`` create them; a change here needs a new migration.

Money, prices and counts are ``NUMERIC`` and map to :class:`~decimal.Decimal`: exact in the
database and in Python, floats only when rendered. Column names keep their units
(``*_dollars``, ``*_fp``) so nobody has to guess.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Deterministic constraint names so Alembic autogenerate and downgrades stay predictable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Price = Numeric(10, 4)
"""A price in dollars: Kalshi quotes to 1/10,000 of a dollar (sub-cent levels exist)."""
Money = Numeric(18, 6)
"""An amount of dollars: portfolio fields carry 6 decimal places."""
Count = Numeric(18, 2)
"""A contract count: Kalshi's ``*_fp`` strings carry 2 decimal places."""

# Server defaults mirror the Python defaults, so rows written by plain SQL (psql, other
# tools, later migrations) get the same values as rows written through the ORM.
EMPTY_JSON = text("'{}'::jsonb")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class Market(Base):
    """One Kalshi market's metadata and, once known, its settlement result."""

    __tablename__ = "markets"

    ticker: Mapped[str] = mapped_column(String(128), primary_key=True)
    event_ticker: Mapped[str] = mapped_column(String(128), index=True)
    series_ticker: Mapped[str | None] = mapped_column(String(64), index=True)
    title: Mapped[str] = mapped_column(Text, default="", server_default="")
    event_title: Mapped[str | None] = mapped_column(Text)
    yes_sub_title: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(64))
    market_type: Mapped[str] = mapped_column(String(16), default="binary", server_default="binary")
    # Not indexed: lists filter on market_latest.status, and the poller's "not finalized"
    # (<>) cannot use an index (ADR 0055).
    status: Mapped[str] = mapped_column(String(16))
    open_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    close_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    # "yes", "no", "scalar", "void" or None while undetermined.
    result: Mapped[str | None] = mapped_column(String(16))
    settlement_value_dollars: Mapped[Decimal | None] = mapped_column(Price)
    determined_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    # When a poll last saw the market, written only when its market_latest row is pruned
    # (migration 0010, ADR 0226); readers use coalesce(market_latest.ts, last_polled_at).
    last_polled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MarketSnapshot(Base):
    """One observation of a market's prices: the history backtests replay."""

    __tablename__ = "market_snapshots"
    # The unique (ticker, ts, source) index also serves every "one ticker over a time range"
    # read (history, backtest loader); a separate (ticker, ts) index would only cost writes
    # (ADR 0055).
    __table_args__ = (
        UniqueConstraint("ticker", "ts", "source", name="uq_market_snapshots_ticker_ts_source"),
    )

    # Partitioned by day on ``ts`` (migration 0007), so the primary key holds ``ts`` too.
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticker: Mapped[str] = mapped_column(String(128))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    # "poll" (the scheduled poller) or "ws" (the streamer's ticker channel).
    source: Mapped[str] = mapped_column(String(16))
    # Monotonic per source: the poll number, or the WebSocket seq when there is one.
    sequence: Mapped[int | None] = mapped_column(BigInteger)
    yes_bid_dollars: Mapped[Decimal | None] = mapped_column(Price)
    yes_ask_dollars: Mapped[Decimal | None] = mapped_column(Price)
    no_bid_dollars: Mapped[Decimal | None] = mapped_column(Price)
    no_ask_dollars: Mapped[Decimal | None] = mapped_column(Price)
    last_price_dollars: Mapped[Decimal | None] = mapped_column(Price)
    volume_fp: Mapped[Decimal | None] = mapped_column(Count)
    open_interest_fp: Mapped[Decimal | None] = mapped_column(Count)
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class BacktestRun(TimestampMixin, Base):
    __tablename__ = "backtest_runs"
    __table_args__ = (
        # One owner at most: a user, or (anonymous local runs) a client address; a run with
        # neither predates owners and is listed to nobody (migration 0006).
        CheckConstraint("owner_id IS NULL OR owner_address IS NULL", name="one_owner"),
        Index("ix_backtest_runs_owner_id_created_at", "owner_id", "created_at", "id"),
        Index("ix_backtest_runs_owner_address_created_at", "owner_address", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    # queued, running, completed, failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    strategy: Mapped[str] = mapped_column(String(64))
    strategy_version: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    grid: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    market_filter: Mapped[dict[str, Any]] = mapped_column(
        JSONB, default=dict, server_default=EMPTY_JSON
    )
    start_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float] = mapped_column(default=0.0, server_default=text("0"))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    equity_curve: Mapped[list[Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE")
    )
    owner_address: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BacktestTrade(Base):
    __tablename__ = "backtest_trades"
    __table_args__ = (Index("ix_backtest_trades_run_id_variant", "run_id", "variant"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("backtest_runs.id", ondelete="CASCADE")
    )
    # Index of the parameter set within a sweep; 0 for a single run.
    variant: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    ticker: Mapped[str] = mapped_column(String(128))
    side: Mapped[str] = mapped_column(String(8))  # "yes" or "no"
    count_fp: Mapped[Decimal] = mapped_column(Count)
    entry_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    entry_price_dollars: Mapped[Decimal] = mapped_column(Price)
    entry_snapshot_id: Mapped[int | None] = mapped_column(BigInteger)
    exit_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    exit_price_dollars: Mapped[Decimal | None] = mapped_column(Price)
    exit_snapshot_id: Mapped[int | None] = mapped_column(BigInteger)
    fees_dollars: Mapped[Decimal] = mapped_column(Money)
    pnl_dollars: Mapped[Decimal] = mapped_column(Money)
    entry_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    exit_reason: Mapped[str | None] = mapped_column(Text)


class User(TimestampMixin, Base):
    """A dashboard account, identified by the Kalshi API key it signed in with."""

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("kalshi_key_id", "environment", name="uq_users_kalshi_key_id_environment"),
    )

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kalshi_key_id: Mapped[str] = mapped_column(String(64))
    # "production", "demo" or "custom" (any base URL, e.g. the simulator).
    environment: Mapped[str] = mapped_column(String(16))
    # The latest successful sign-in (migration 0005 renamed 0001's last_login_at).
    signed_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserCredential(TimestampMixin, Base):
    """A Kalshi private key sealed by the credential vault (shared/auth/vault.py, ADR 0141).

    Only the AES-256-GCM ciphertext is stored, beside the key-ring version that sealed it
    and its nonce. ``status`` turns ``invalid`` when Kalshi rejects the key; sessions of the
    user then answer 401 ``kalshi_key_revoked`` until they sign in again.
    """

    __tablename__ = "user_credentials"
    __table_args__ = (CheckConstraint("status IN ('valid', 'invalid')", name="status"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kalshi_key_id: Mapped[str] = mapped_column(String(64))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    nonce: Mapped[bytes] = mapped_column(LargeBinary)
    key_version: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="valid", server_default="valid")
    invalid_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class RevokedToken(Base):
    """A session JWT revoked before its expiry (logout); purged once it would have expired."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class UserSession(Base):
    """One issued session JWT, so logout can revoke every live session of its user."""

    __tablename__ = "user_sessions"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ApiToken(Base):
    """A bearer token for scripts; only its SHA-256 is stored (shared/auth/api_tokens.py)."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint("scope IN ('read', 'trade')", name="scope"),)

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(8))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    # The first characters of the token, shown in lists so a user can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimitCounter(Base):
    """One fixed-window counter of the sign-in limiter (shared/auth/ratelimit.py)."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class UserSettings(Base):
    """A user's dashboard settings (P&L alert thresholds...), validated by the account API."""

    __tablename__ = "user_settings"

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=EMPTY_JSON)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class AccountBaseline(Base):
    """The account's value at the start of a trading day (or at sign-in, when that came
    first), from which the day's P&L is measured; exact dollars."""

    __tablename__ = "account_baselines"
    __table_args__ = (CheckConstraint("source IN ('day_boundary', 'sign_in')", name="source"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    trading_day: Mapped[date] = mapped_column(Date, primary_key=True)
    value_dollars: Mapped[Decimal] = mapped_column(Money)
    net_transfers_dollars: Mapped[Decimal] = mapped_column(
        Money, default=Decimal(0), server_default=text("0")
    )
    source: Mapped[str] = mapped_column(String(16))
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )


class PositionCache(Base):
    """The streamer's write-through copy of each account's live positions."""

    __tablename__ = "position_cache"

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    ticker: Mapped[str] = mapped_column(String(128), primary_key=True)
    position_fp: Mapped[Decimal] = mapped_column(Count)
    market_exposure_dollars: Mapped[Decimal] = mapped_column(Money)
    realized_pnl_dollars: Mapped[Decimal] = mapped_column(Money)
    fees_paid_dollars: Mapped[Decimal] = mapped_column(Money)
    total_traded_dollars: Mapped[Decimal] = mapped_column(Money)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Fill(Base):
    __tablename__ = "fills"
    __table_args__ = (Index("ix_fills_user_id_created_time", "user_id", "created_time"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    fill_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str | None] = mapped_column(String(64))
    ticker: Mapped[str] = mapped_column(String(128))
    outcome_side: Mapped[str] = mapped_column(String(8))
    book_side: Mapped[str] = mapped_column(String(8))
    action: Mapped[str | None] = mapped_column(String(8))
    count_fp: Mapped[Decimal] = mapped_column(Count)
    yes_price_dollars: Mapped[Decimal] = mapped_column(Price)
    no_price_dollars: Mapped[Decimal] = mapped_column(Price)
    fee_cost_dollars: Mapped[Decimal] = mapped_column(Money)
    is_taker: Mapped[bool] = mapped_column(Boolean)
    created_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ProcessedMessage(Base):
    """Idempotency ledger: a (consumer, message id) pair is processed at most once.

    Consumers insert their row in the same transaction as their writes, so a redelivered
    Pub/Sub message or a retried Cloud Task changes nothing.
    """

    __tablename__ = "processed_messages"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(256), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
