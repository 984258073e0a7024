"""The trading day and its boundary (midnight America/New_York), across daylight saving.

Postgres-backed behaviour (one row per user per day, re-runs, sign-in after the boundary)
is exercised against real Postgres in tests/integration/account/test_pnl_vs_simulator.py.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from shared.account.baselines import day_start, record_sign_in_baseline, trading_day


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "day"),
    [
        # Winter (EST, UTC-5): the day turns at 05:00 UTC.
        ("2026-01-15T04:59:59", date(2026, 1, 14)),
        ("2026-01-15T05:00:00", date(2026, 1, 15)),
        # Summer (EDT, UTC-4): at 04:00 UTC.
        ("2026-07-01T03:59:59.999999", date(2026, 6, 30)),
        ("2026-07-01T04:00:00", date(2026, 7, 1)),
        # Spring forward, Sunday 8 March 2026: that day opened at 05:00 UTC, the next at 04:00.
        ("2026-03-08T04:59:59", date(2026, 3, 7)),
        ("2026-03-08T05:00:00", date(2026, 3, 8)),
        ("2026-03-08T07:30:00", date(2026, 3, 8)),  # 02:30 local does not exist; still the 8th
        ("2026-03-09T03:59:59", date(2026, 3, 8)),
        ("2026-03-09T04:00:00", date(2026, 3, 9)),
        # Fall back, Sunday 1 November 2026: opened at 04:00 UTC, the next day at 05:00.
        ("2026-11-01T03:59:59", date(2026, 10, 31)),
        ("2026-11-01T04:00:00", date(2026, 11, 1)),
        ("2026-11-01T06:30:00", date(2026, 11, 1)),  # 01:30 local happens twice
        ("2026-11-02T04:59:59", date(2026, 11, 1)),
        ("2026-11-02T05:00:00", date(2026, 11, 2)),
    ],
)
def test_trading_day_turns_at_new_york_midnight(instant: str, day: date) -> None:
    assert trading_day(_utc(instant)) == day


def test_day_start_is_new_york_midnight_in_utc() -> None:
    assert day_start(date(2026, 1, 15)) == _utc("2026-01-15T05:00:00")
    assert day_start(date(2026, 7, 1)) == _utc("2026-07-01T04:00:00")
    # The spring-forward day has 23 hours, the fall-back day 25.
    assert day_start(date(2026, 3, 9)) - day_start(date(2026, 3, 8)) == timedelta(hours=23)
    assert day_start(date(2026, 11, 2)) - day_start(date(2026, 11, 1)) == timedelta(hours=25)
    for day in (date(2026, 3, 8), date(2026, 11, 1), date(2026, 12, 31)):
        assert trading_day(day_start(day)) == day
        assert trading_day(day_start(day) - timedelta(microseconds=1)) == day - timedelta(days=1)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError):
        trading_day(datetime(2026, 1, 1, 12))


def test_a_bare_value_needs_its_net_transfers() -> None:
    with pytest.raises(TypeError):
        record_sign_in_baseline(
            None,  # type: ignore[arg-type]  # refused before the connection is used
            uuid.uuid4(),
            Decimal("100"),
            _utc("2026-01-15T12:00:00"),
        )
