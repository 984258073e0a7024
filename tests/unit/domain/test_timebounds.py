"""The one accepted range of instants: offsets at the extremes never overflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.domain.timebounds import EARLIEST, LATEST, TimeOutOfRange, to_bounded_utc


def test_offset_time_is_converted_to_utc() -> None:
    moment = datetime(2026, 11, 28, 12, 0, tzinfo=timezone(timedelta(hours=5)))
    assert to_bounded_utc(moment) == datetime(2026, 11, 28, 7, 0, tzinfo=UTC)


def test_naive_time_is_taken_as_utc() -> None:
    assert to_bounded_utc(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5))),
        datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2100, 1, 1, 0, 0, 1, tzinfo=UTC),
    ],
)
def test_extremes_are_refused_not_overflowed(moment: datetime) -> None:
    with pytest.raises(TimeOutOfRange, match="between 1970-01-01 and 2100-01-01"):
        to_bounded_utc(moment)


def test_bounds_themselves_are_accepted() -> None:
    assert to_bounded_utc(EARLIEST) == EARLIEST
    assert to_bounded_utc(LATEST) == LATEST
