"""What a backtest request may ask for, checked before the database: instants inside the
accepted range, a bounded span, and decimals whose precision cannot burn the worker's CPU;
and how big a run the worker's memory allows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shared.backtest.errors import InvalidBacktestRequest
from shared.backtest.service import parse_request
from shared.backtest.settings import WorkerSettings
from shared.config import ConfigError

BASE: dict[str, Any] = {
    "strategy": "momentum",
    "start": "2026-06-01T00:00:00Z",
    "end": "2026-06-02T00:00:00Z",
}


def _refused(**changes: Any) -> InvalidBacktestRequest:
    with pytest.raises(InvalidBacktestRequest) as caught:
        parse_request({**BASE, **changes})
    return caught.value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start", "0001-01-01T00:00:00+05:00"),  # overflows converting to UTC
        ("end", "9999-12-31T23:59:59-05:00"),  # overflows converting to UTC
        ("start", "1969-12-31T23:59:59Z"),
        ("end", "2100-01-01T00:00:01Z"),
    ],
)
def test_times_outside_the_accepted_range_are_refused_naming_the_field(
    field: str, value: str
) -> None:
    error = _refused(**{field: value})
    assert error.code == "invalid_range"
    assert str(error).startswith(field) and "1970" in str(error)


def test_times_are_converted_to_utc() -> None:
    request = parse_request({**BASE, "start": "2026-06-01T05:00:00+05:00"})
    assert request.start == datetime(2026, 6, 1, tzinfo=UTC)
    assert request.start.utcoffset() is not None and request.start.tzinfo is UTC


def test_the_span_is_bounded_before_the_database() -> None:
    error = _refused(start="2024-01-01T00:00:00Z", end="2026-01-01T00:00:00Z")
    assert error.code == "too_large" and "at most 366" in str(error)


@pytest.mark.parametrize(
    ("fees", "field"),
    [
        ({"taker_rate": "1e-1000000"}, "fees.taker_rate"),
        ({"taker_rate": "1e-30"}, "fees.taker_rate"),
        ({"maker_rate": "7e+400"}, "fees.maker_rate"),
        ({"quantum": "0." + "0" * 30 + "1"}, "fees.quantum"),
        ({"taker_rate": "0.0700000000000000001"}, "fees.taker_rate"),
        ({"series": {"KXBT": {"taker_rate": "1e-999999"}}}, "fees.series.KXBT.taker_rate"),
    ],
)
def test_fee_decimals_with_unbounded_precision_are_refused(
    fees: dict[str, Any], field: str
) -> None:
    error = _refused(fees=fees)
    assert error.code == "invalid_fees"
    assert field in str(error)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"slippage": "1e-1000000"}, "slippage"),
        ({"capital": "1000.0000000000000000001"}, "capital"),
        ({"capital": 1e-300}, "capital"),
    ],
)
def test_dollar_amounts_with_unbounded_precision_are_refused(
    changes: dict[str, Any], field: str
) -> None:
    assert str(_refused(**changes)).startswith(field)


def test_ordinary_fee_and_dollar_values_still_pass() -> None:
    request = parse_request(
        {
            **BASE,
            "fees": {"taker_rate": "0.07", "maker_rate": 0.0175, "quantum": "0.01"},
            "slippage": "0.0001",
            "capital": "250000",
        }
    )
    assert str(request.config.fees.default.taker_rate) == "0.07"
    assert request.config.slippage_ticks == 1


def test_the_snapshot_cap_follows_the_workers_memory() -> None:
    two_gib = WorkerSettings(memory_mb=2048)
    # The old fixed cap (20 million snapshots) needed ~5 GB against a 2 GiB worker.
    assert 10_000_000 < two_gib.max_snapshots < 12_000_000  # the 10M fits
    assert WorkerSettings(memory_mb=4096).max_snapshots > 2 * two_gib.max_snapshots
    assert WorkerSettings(memory_mb=256).max_snapshots == 0
    env = {"BACKTEST_WORKER_MEMORY_MB": "4096", "BACKTEST_WORKER_TIMEOUT_S": "600"}
    settings = WorkerSettings.from_env(env)
    assert (settings.memory_mb, settings.timeout_s, settings.max_attempts) == (4096, 600, 5)
    assert settings.reap_after_s == 3_000
    with pytest.raises(ConfigError, match="BACKTEST_WORKER_MEMORY_MB"):
        WorkerSettings.from_env({"BACKTEST_WORKER_MEMORY_MB": "2Gi"})
