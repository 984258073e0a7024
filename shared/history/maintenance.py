"""The history's daily round: partitions ahead, old partitions archived, old 1-min candles,
long-settled markets pruned from ``market_latest`` (ADR 0226).

Run by the poller after a poll, at most once per UTC day per process and never twice at
once (a session advisory lock; a second runner skips), ADR 0175. Each archived day is its
own transaction, and one round archives at most ``max_days`` days, so a backlog (the first
round after enabling retention) is worked off over a few polls instead of one long one.
Without an archive store nothing is dropped: raw snapshots are only ever removed once a
verified copy exists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, text

from shared.history.archive import ArchiveError, ArchiveStore, archive_day
from shared.history.partitions import partition_days
from shared.history.pruning import DEFAULT_FOLLOW_WINDOW, prune_settled_markets
from shared.history.rollups import prune_minute_candles

__all__ = ["MAINTENANCE_LOCK_KEY", "MaintenanceReport", "run_maintenance"]

log = logging.getLogger(__name__)

MAINTENANCE_LOCK_KEY = int.from_bytes(b"KIhistmt", "big", signed=True)


@dataclass
class MaintenanceReport:
    """What one round did."""

    ran: bool = True
    partitions_created: int = 0
    archived: list[date] = field(default_factory=list)
    failed: list[date] = field(default_factory=list)
    minute_candles_pruned: int = 0
    markets_pruned: int = 0


def run_maintenance(
    engine: Engine,
    *,
    now: datetime | None = None,
    retention_days: int = 90,
    ahead_days: int = 7,
    minute_retention_days: int = 365,
    store: ArchiveStore | None = None,
    max_days: int = 3,
    settled_market_retention_days: int = 7,
    follow_window: timedelta = DEFAULT_FOLLOW_WINDOW,
) -> MaintenanceReport:
    """One round: create ``ahead_days`` daily partitions from today, archive and drop up to
    ``max_days`` partitions older than ``retention_days`` (only with a ``store``), delete
    1-minute candles older than ``minute_retention_days``, and prune from ``market_latest``
    the markets settled that no poll saw for ``settled_market_retention_days`` (0: never),
    and the unsettled ones the poller stopped following (``follow_window``). Returns what
    it did."""
    now = now or datetime.now(UTC)
    today = now.astimezone(UTC).date()
    report = MaintenanceReport()
    with engine.connect() as lock_connection:
        got = lock_connection.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": MAINTENANCE_LOCK_KEY}
        ).scalar_one()
        lock_connection.commit()
        if not got:
            return MaintenanceReport(ran=False)
        try:
            with engine.begin() as c:
                report.partitions_created = sum(
                    bool(
                        c.execute(
                            text("SELECT history_ensure_partition(:d)"),
                            {"d": today + timedelta(days=i)},
                        ).scalar_one()
                    )
                    for i in range(ahead_days)
                )
            if store is not None:
                cutoff = today - timedelta(days=retention_days)
                with engine.connect() as c:
                    due = [d for d in partition_days(c) if d < cutoff][:max_days]
                for day in due:
                    try:
                        with engine.begin() as c:
                            archive_day(c, store, day)
                        report.archived.append(day)
                    except ArchiveError:
                        log.exception("archiving %s failed; its partition stays", day)
                        report.failed.append(day)
            with engine.begin() as c:
                report.minute_candles_pruned = prune_minute_candles(
                    c,
                    datetime.combine(
                        today - timedelta(days=minute_retention_days),
                        datetime.min.time(),
                        UTC,
                    ),
                )
            report.markets_pruned = prune_settled_markets(
                engine,
                now,
                window=timedelta(days=settled_market_retention_days),
                follow_window=follow_window,
            )
        finally:
            lock_connection.execute(
                text("SELECT pg_advisory_unlock(:k)"), {"k": MAINTENANCE_LOCK_KEY}
            )
            lock_connection.commit()
    log.info(
        "history maintenance: %d partitions created, archived %s, %d 1-min candles pruned, "
        "%d settled markets pruned from market_latest",
        report.partitions_created,
        ", ".join(d.isoformat() for d in report.archived) or "nothing",
        report.minute_candles_pruned,
        report.markets_pruned,
    )
    return report
