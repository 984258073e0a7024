"""The day's opening account value, from which "today's P&L" is measured.

Kalshi has no "value at the start of the day" to ask for, so we store one per user per
trading day in ``account_baselines``: at the day boundary (midnight America/New_York, the
clock Kalshi's trading day runs on; 04:00 UTC in summer, 05:00 UTC in winter) for every
signed-in user, and at sign-in when the user arrives after the boundary with no row for
the day yet (flagged ``sign_in``: it measures from sign-in, not from midnight).

Each row stores the total value (cash + positions at the bid) and the cumulative net
transfers at that moment (applied deposits less withdrawals, from Kalshi's
``/portfolio/deposits`` and ``/portfolio/withdrawals``); later, net transfers since the
baseline are the cumulative figure now minus the stored one (:func:`shared.domain.pnl.today_pnl`).
Comparing cumulative totals, not transfer timestamps, survives clock skew and a transfer
that was pending at midnight and applied later.

One row per user per trading day: every write is ``INSERT ... ON CONFLICT DO NOTHING`` on
the ``(user_id, trading_day)`` key, so a re-run boundary job, two scheduler deliveries or a
sign-in racing the boundary change nothing once the day has its row.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Literal, Protocol, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import Connection, Engine

from shared.db.models import AccountBaseline
from shared.domain.pnl import BaselinePoint

__all__ = [
    "TRADING_TZ",
    "BaselineSource",
    "BoundaryReport",
    "FiguresReader",
    "StoredBaseline",
    "baseline_for",
    "day_start",
    "record_day_boundary",
    "record_sign_in_baseline",
    "trading_day",
]

log = logging.getLogger(__name__)

TRADING_TZ = ZoneInfo("America/New_York")
BaselineSource = Literal["day_boundary", "sign_in"]
_TABLE = cast(sa.Table, AccountBaseline.__table__)


class FiguresReader(Protocol):
    """What the boundary job needs from a user's account (an ``AccountReader`` fits)."""

    def baseline_figures(self) -> BaselinePoint: ...


def trading_day(at: datetime) -> date:
    """The New York calendar day ``at`` (aware) falls in: Kalshi's trading day."""
    if at.tzinfo is None:
        raise ValueError("trading_day needs an aware datetime")
    return at.astimezone(TRADING_TZ).date()


def day_start(day: date) -> datetime:
    """Midnight New York time opening ``day``, as an aware UTC instant."""
    return datetime.combine(day, time(0), TRADING_TZ).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class StoredBaseline:
    user_id: uuid.UUID
    trading_day: date
    value: Decimal
    net_transfers: Decimal
    source: BaselineSource
    recorded_at: datetime

    @property
    def point(self) -> BaselinePoint:
        return BaselinePoint(value=self.value, net_transfers=self.net_transfers)


def _insert(
    conn: Connection,
    user_id: uuid.UUID,
    day: date,
    figures: BaselinePoint,
    source: BaselineSource,
    now: datetime,
) -> bool:
    statement = (
        insert(_TABLE)
        .values(
            user_id=user_id,
            trading_day=day,
            value_dollars=figures.value,
            net_transfers_dollars=figures.net_transfers,
            source=source,
            recorded_at=now,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "trading_day"])
        .returning(_TABLE.c.user_id)
    )
    return conn.execute(statement).first() is not None


def record_sign_in_baseline(
    conn: Connection,
    user_id: uuid.UUID,
    value: BaselinePoint | Decimal,
    now: datetime,
    *,
    net_transfers: Decimal | None = None,
) -> bool:
    """Store the sign-in baseline for ``now``'s trading day unless the day has one.

    ``value`` is the account's figures now (``AccountReader.baseline_figures()``), or its
    total value with ``net_transfers`` (the cumulative net transfers now) beside it: without
    them every deposit ever made would count as made today. Returns whether a row was
    written (False: the day already had its baseline).
    """
    if isinstance(value, BaselinePoint):
        figures = value
    else:
        if net_transfers is None:
            raise TypeError("a baseline value needs the cumulative net_transfers beside it")
        figures = BaselinePoint(value=value, net_transfers=net_transfers)
    return _insert(conn, user_id, trading_day(now), figures, "sign_in", now)


def baseline_for(conn: Connection, user_id: uuid.UUID, now: datetime) -> StoredBaseline | None:
    """The baseline of ``now``'s trading day, or None (today's P&L is then unknown; an
    older day's baseline would silently make it a two-day figure)."""
    row = conn.execute(
        sa.select(
            _TABLE.c.trading_day,
            _TABLE.c.value_dollars,
            _TABLE.c.net_transfers_dollars,
            _TABLE.c.source,
            _TABLE.c.recorded_at,
        ).where(_TABLE.c.user_id == user_id, _TABLE.c.trading_day == trading_day(now))
    ).first()
    if row is None:
        return None
    return StoredBaseline(
        user_id=user_id,
        trading_day=row.trading_day,
        value=row.value_dollars,
        net_transfers=row.net_transfers_dollars,
        source=row.source,
        recorded_at=row.recorded_at,
    )


@dataclass
class BoundaryReport:
    """What one run of the day-boundary job did, user by user."""

    day: date
    recorded: int = 0
    already: int = 0
    failed: dict[uuid.UUID, str] = field(default_factory=dict)


def record_day_boundary(
    engine: Engine,
    users: Iterable[uuid.UUID],
    reader_factory: Callable[[uuid.UUID], FiguresReader],
    day: date,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> BoundaryReport:
    """Record ``day``'s opening baseline for each of ``users``; idempotent.

    A user whose day already has a row is skipped before Kalshi is asked (a re-run costs
    no Kalshi requests). One user's failure (a revoked key, Kalshi down) is recorded in
    the report by error type only, never with its message (it could carry request
    details), and does not stop the others. Each user's row is its own transaction.
    """
    report = BoundaryReport(day=day)
    for user_id in users:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.select(sa.literal(1)).where(
                    _TABLE.c.user_id == user_id, _TABLE.c.trading_day == day
                )
            ).first()
        if exists is not None:
            report.already += 1
            continue
        try:
            figures = reader_factory(user_id).baseline_figures()
        except Exception as error:  # one account's trouble must not cost the others theirs
            report.failed[user_id] = type(error).__name__
            log.warning(
                "day-boundary baseline for user %s failed: %s", user_id, type(error).__name__
            )
            continue
        with engine.begin() as conn:
            if _insert(conn, user_id, day, figures, "day_boundary", now()):
                report.recorded += 1
            else:
                report.already += 1
    return report
