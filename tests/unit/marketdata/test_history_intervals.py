from datetime import UTC, datetime, timedelta

from shared.marketdata.queries import MAX_CANDLES, choose_interval

T = datetime(2026, 6, 11, tzinfo=UTC)


def test_finest_interval_that_fits_2000_candles():
    assert choose_interval(T, T + timedelta(hours=24), None) == "1m"  # 1,440
    assert choose_interval(T, T + timedelta(days=2), None) == "5m"  # 576
    assert choose_interval(T, T + timedelta(days=69), None) == "1h"  # 1,656
    assert choose_interval(T, T + timedelta(days=100), None) == "4h"  # 600
    assert choose_interval(T, T + timedelta(days=2000), None) == "1d"


def test_requested_interval_is_kept_or_coarsened_never_refined():
    assert choose_interval(T, T + timedelta(hours=2), "1h") == "1h"
    assert choose_interval(T, T + timedelta(days=30), "1m") == "1h"
    assert choose_interval(T, T + timedelta(days=30), "1d") == "1d"


def test_any_range_gives_at_most_max_candles_except_beyond_1d():
    for days in (1, 7, 30, 83, 84, 333, 334, 1000, 2000):
        name = choose_interval(T, T + timedelta(days=days), None)
        seconds = {"1m": 60, "5m": 300, "1h": 3600, "4h": 14400, "1d": 86400}[name]
        assert days * 86400 / seconds <= MAX_CANDLES + 1
