"""The daily partitions of ``market_snapshots`` (migration 0007, ADR 0171).

Partitions are created by ``history_ensure_partition(day)``, a ``SECURITY DEFINER``
function owned by the table's owner, so the poller creates them without holding any DDL
right. :func:`ensure_partition` remembers the days it has seen in this process, so a poll
pays one function call per day, not per poll. Rows whose day has no partition yet land in
the ``DEFAULT`` partition and move into the day's partition when it is created.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, text

__all__ = [
    "PARTS_SCHEMA",
    "drop_partition",
    "ensure_partition",
    "ensure_partitions",
    "partition_days",
    "partition_name",
]

PARTS_SCHEMA = "history_parts"
_known: set[tuple[str, date]] = set()


def partition_name(day: date) -> str:
    return f"market_snapshots_{day:%Y%m%d}"


def _database_key(connection: Connection) -> str:
    url = connection.engine.url
    return f"{url.host}:{url.port}/{url.database}"


def ensure_partition(connection: Connection, day: date) -> bool:
    """Create ``day``'s partition if it is missing (in the caller's transaction); True if
    this call created it. Cached per process and database once seen to exist."""
    key = (_database_key(connection), day)
    if key in _known:
        return False
    created = bool(
        connection.execute(text("SELECT history_ensure_partition(:d)"), {"d": day}).scalar_one()
    )
    # Only remembered once the transaction that created it commits.
    if not created:
        _known.add(key)
    return created


def ensure_partitions(connection: Connection, first: date, days: int) -> int:
    """Partitions for ``days`` days from ``first`` (ahead of time); how many were new."""
    return sum(ensure_partition(connection, first + timedelta(days=i)) for i in range(days))


def partition_days(connection: Connection) -> list[date]:
    """The days that have a partition, oldest first."""
    rows = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = 'market_snapshots'::regclass AND n.nspname = :schema "
            "AND c.relname ~ '^market_snapshots_[0-9]{8}$'"
        ),
        {"schema": PARTS_SCHEMA},
    ).scalars()
    days = sorted(date(int(n[-8:-4]), int(n[-4:-2]), int(n[-2:])) for n in rows)
    return days


def drop_partition(connection: Connection, day: date) -> bool:
    """Detach and drop ``day``'s partition; the database refuses unless its archive is
    recorded as verified (``history_archives.verified_at``)."""
    _known.discard((_database_key(connection), day))
    return bool(
        connection.execute(text("SELECT history_drop_partition(:d)"), {"d": day}).scalar_one()
    )
