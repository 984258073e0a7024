"""Token bucket arithmetic on a fake clock, and its thread safety on a real one."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from shared.kalshi.errors import is_transient
from shared.kalshi.ratelimit import (
    KalshiRateLimiter,
    RateLimitWaitExceeded,
    TokenBucket,
    is_write_request,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_one_token_per_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    # The 4th, 5th, 6th callers are scheduled 0.1 s apart (reservations queue up, FIFO).
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    assert bucket.reserve() == pytest.approx(0.3)


def test_refill_is_continuous_and_capped() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=20, capacity=20, clock=clock)
    for _ in range(20):
        assert bucket.reserve() == 0.0
    clock.now += 0.25  # 5 tokens back
    assert [bucket.reserve() for _ in range(5)] == [0.0] * 5
    assert bucket.reserve() == pytest.approx(0.05)
    clock.now += 3600  # long idle: capped at capacity, not 72,000 tokens
    granted = sum(1 for _ in range(40) if bucket.reserve() == 0.0)
    assert granted == 20


def test_never_more_than_capacity_plus_rate_times_t() -> None:
    """Simulated callers that honour their waits are granted at most B + r*T in any window."""
    clock = FakeClock()
    rate, capacity = 20.0, 5.0
    bucket = TokenBucket(rate, capacity, clock=clock)
    grants: list[float] = []
    for step in range(400):
        clock.now = 100.0 + step * 0.013  # callers arrive faster than the rate
        grants.append(clock.now + bucket.reserve())
    grants.sort()
    for i in range(len(grants)):
        for j in range(i, min(len(grants), i + 60)):
            window = grants[j] - grants[i]
            assert j - i + 1 <= capacity + rate * window + 1e-6


def test_cost_larger_than_capacity_is_an_error() -> None:
    bucket = TokenBucket(rate=5, capacity=5)
    with pytest.raises(ValueError, match="exceeds the bucket capacity"):
        bucket.reserve(6)
    assert bucket.reserve(0) == 0.0


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (-1, 1), (5, 0.5)])
def test_invalid_configuration(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, capacity)


def test_threads_share_one_bucket() -> None:
    bucket = TokenBucket(rate=200, capacity=10)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(15):
            bucket.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    elapsed = time.monotonic() - started
    assert len(stamps) == 60
    # 60 tokens with 10 up front at 200/s need at least 50/200 = 0.25 s.
    assert elapsed >= 0.25 - 0.02


def test_async_acquire_waits_without_blocking_the_loop() -> None:
    async def scenario() -> tuple[float, int]:
        bucket = TokenBucket(rate=50, capacity=1)
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        started = time.monotonic()
        for _ in range(6):
            await bucket.acquire_async()
        elapsed = time.monotonic() - started
        stop.set()
        await task
        return elapsed, ticks

    elapsed, ticks = asyncio.run(scenario())
    assert elapsed >= 5 / 50 - 0.02
    assert ticks >= 5  # the loop kept running while we waited


def test_read_and_write_buckets() -> None:
    limiter = KalshiRateLimiter.basic()
    assert (limiter.read.rate, limiter.read.capacity) == (20.0, 20.0)
    assert (limiter.write.rate, limiter.write.capacity) == (10.0, 10.0)
    assert limiter.bucket_for("GET", "/portfolio/orders") is limiter.read
    assert limiter.bucket_for("POST", "/portfolio/events/orders") is limiter.write
    assert limiter.bucket_for("DELETE", "/portfolio/events/orders/x") is limiter.write
    assert not is_write_request("GET", "/markets")
    assert not is_write_request("POST", "/account/api_usage_level/upgrade")
    custom = KalshiRateLimiter.per_second(5, read_burst=2)
    assert (custom.read.rate, custom.read.capacity, custom.write.rate) == (5.0, 2.0, 2.5)


def test_max_wait_refuses_a_caller_instead_of_queueing_it() -> None:
    """Callers queue until the next one would wait longer than max_wait; that one is
    refused at once, takes no token, and is told when to come back."""
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=1, max_wait=0.25, clock=clock)
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)
    with pytest.raises(RateLimitWaitExceeded) as refused:
        bucket.reserve()  # would wait 0.3 s
    assert refused.value.wait == pytest.approx(0.3)
    assert refused.value.retry_after == 1
    assert is_transient(refused.value)
    with pytest.raises(RateLimitWaitExceeded):
        bucket.reserve()  # still 0.3 s: the refusal took no token
    clock.now += 0.1
    assert bucket.reserve() == pytest.approx(0.2)  # the queue drained by one


def test_max_wait_retry_after_rounds_up_the_excess() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=1, max_wait=0.5, clock=clock)
    bucket.reserve()
    with pytest.raises(RateLimitWaitExceeded) as refused:
        bucket.reserve(1)  # 1 s away, 0.5 s over the cap
    assert refused.value.retry_after == 1
    unbounded = TokenBucket(rate=1, capacity=1, clock=clock)
    for _ in range(5):
        unbounded.reserve()
    assert unbounded.reserve() == pytest.approx(5.0)  # no cap: queues as before


def test_limiter_applies_max_wait_to_both_buckets() -> None:
    limiter = KalshiRateLimiter.basic(max_wait=2.0)
    assert limiter.read.max_wait == limiter.write.max_wait == 2.0
    assert KalshiRateLimiter.basic().read.max_wait is None
    with pytest.raises(ValueError):
        TokenBucket(5, max_wait=-1)
