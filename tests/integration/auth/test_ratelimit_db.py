"""The sign-in limiter on a real Postgres, shared by two "instances" (two engines)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from shared.auth.ratelimit import RateLimited, SigninLimiter, purge_counters
from shared.auth.settings import SigninLimits

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EngineAs = Callable[..., sa.Engine]
LIMITER = SigninLimiter(SigninLimits(per_address=6, per_key=3, window_s=600))


def attempt(engine: sa.Engine, address: str, key: str | None, now: datetime) -> int | None:
    """One counted attempt in its own transaction; the Retry-After if refused."""
    try:
        with engine.begin() as conn:
            LIMITER.check_and_count(conn, address, key, now)
    except RateLimited as limited:
        return limited.retry_after_seconds
    return None


def test_two_instances_share_the_key_budget(auth_database: str, engine_as: EngineAs) -> None:
    first, second = engine_as(auth_database, "account"), engine_as(auth_database, "account")
    results = [
        attempt(engine, f"203.0.113.{i}", "Key-1", T0 + timedelta(seconds=i))
        for i, engine in enumerate((first, second, first, second))
    ]
    assert results[:3] == [None, None, None]
    assert results[3] == 600 - 3  # the window opened at T0's first hit
    # Key ids are compared without case or padding; another key has its own budget.
    assert attempt(first, "203.0.113.50", " key-1 ", T0) is not None
    assert attempt(second, "203.0.113.51", "key-2", T0) is None


def test_address_budget_and_window_reset(auth_database: str, engine_as: EngineAs) -> None:
    first, second = engine_as(auth_database, "account"), engine_as(auth_database, "account")
    for i in range(6):
        assert attempt((first, second)[i % 2], "198.51.100.7", f"k{i}", T0) is None
    assert attempt(first, "198.51.100.7", "fresh-key", T0) == 600
    # The blocked address did not burn fresh-key's budget.
    with second.connect() as conn:
        hits = conn.execute(
            sa.text("SELECT hits FROM rate_limit_counters WHERE bucket = 'signin:key:fresh-key'")
        ).scalar_one_or_none()
    assert hits is None
    # IPv6 neighbours in one /64 share a budget.
    for i in range(6):
        assert attempt(first, f"2001:db8:0:1::{i + 1}", None, T0) is None
    assert attempt(second, "2001:db8:0:1:ffff::1", None, T0) is not None
    # A new window starts afresh.
    assert attempt(second, "198.51.100.7", "k0", T0 + timedelta(seconds=600)) is None


def test_success_resets_the_key_and_refunds_the_address(
    auth_database: str, engine_as: EngineAs
) -> None:
    engine = engine_as(auth_database, "account")
    for _ in range(2):
        assert attempt(engine, "192.0.2.1", "alice-key", T0) is None
    with engine.begin() as conn:
        LIMITER.record_success(conn, "192.0.2.1", "alice-key")
        rows = dict(conn.execute(sa.text("SELECT bucket, hits FROM rate_limit_counters")).all())
    assert rows == {"signin:addr:192.0.2.1": 1}
    for _ in range(3):
        assert attempt(engine, "192.0.2.1", "alice-key", T0) is None


def test_concurrent_attempts_never_exceed_the_budget(
    auth_database: str, engine_as: EngineAs
) -> None:
    engines = [engine_as(auth_database, "account") for _ in range(2)]
    results: list[int | None] = []
    lock = threading.Lock()

    def run(index: int) -> None:
        outcome = attempt(engines[index % 2], f"192.0.2.{index + 10}", "contested", T0)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 10
    assert results.count(None) == 3


def test_purge_removes_ended_windows(auth_database: str, engine_as: EngineAs) -> None:
    engine = engine_as(auth_database, "account")
    attempt(engine, "192.0.2.1", "k", T0)
    with engine.begin() as conn:
        assert purge_counters(conn, now=T0 + timedelta(seconds=599)) == 0
        assert purge_counters(conn, now=T0 + timedelta(seconds=601)) == 2
