"""The one range of instants the system accepts from outside: 1970-01-01 to 2100-01-01 UTC.

Why bound at all: Python's ``datetime`` reaches year 1 and year 9999, but a zone offset on
either end (``0001-01-01T00:00:00+05:00``) overflows during UTC conversion or, worse, inside
the database driver after it has started talking to Postgres, which poisons the pooled
connection. No Kalshi market predates 1970 or outlives 2100, so every API edge converts a
caller's time to UTC and checks it against this range before it reaches SQL.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["EARLIEST", "LATEST", "TimeOutOfRange", "to_bounded_utc"]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


class TimeOutOfRange(ValueError):
    """An instant outside ``[EARLIEST, LATEST]``, or one that cannot be converted to UTC."""


def to_bounded_utc(moment: datetime) -> datetime:
    """``moment`` in UTC (naive means UTC), or :class:`TimeOutOfRange`.

    The conversion itself can overflow (year 1 with a positive offset), so it is guarded
    here rather than at each caller.
    """
    try:
        utc = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise TimeOutOfRange(
            f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} UTC"
        ) from None
    if not EARLIEST <= utc <= LATEST:
        raise TimeOutOfRange(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} UTC")
    return utc
