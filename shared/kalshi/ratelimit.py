"""Client-side token buckets that keep us under Kalshi's per-key limits.

Kalshi meters each key with two continuously refilling buckets, Read and Write (recorded:
tests/fixtures/kalshi_recorded/account__limits.json); Basic, the tier every key starts on,
allows about 20 reads and 10 writes per second at the default cost. Throttling ourselves
costs a few milliseconds of waiting; tripping Kalshi's limit costs a 429, a backoff and a
retry.

The bucket works by *reservation*: taking tokens never blocks under the lock, it just
tells the caller how long to wait before its turn. Waits are therefore FIFO, the lock is held
for microseconds, and the same bucket serves threads (``time.sleep``) and asyncio tasks
(``asyncio.sleep``) alike. A token reserved by a caller that then gives up is not refunded,
which errs on the side of sending less.

A bucket may cap the wait (``max_wait``): a caller whose turn is further away than that
gets :class:`RateLimitWaitExceeded` at once, with no token taken, instead of queueing
behind everyone else. A request-serving function (the order-book endpoint) wants that:
answering 503 with ``Retry-After`` beats holding a request, and its instance, for seconds
while the queue grows. The poller leaves it uncapped: waiting is its job.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shared.kalshi.errors import KalshiError

__all__ = [
    "BASIC_READ_PER_SECOND",
    "BASIC_WRITE_PER_SECOND",
    "KalshiRateLimiter",
    "RateLimitWaitExceeded",
    "TokenBucket",
    "is_write_request",
]

BASIC_READ_PER_SECOND = 20.0
BASIC_WRITE_PER_SECOND = 10.0

_WRITE_PREFIXES = ("/portfolio/", "/communications/")


class RateLimitWaitExceeded(KalshiError):
    """Our own bucket would make this caller wait longer than its ``max_wait``.

    Nothing was sent and no token was taken. Transient: the same call succeeds once the
    queue ahead has drained, about :attr:`retry_after` seconds from now.
    """

    transient = True

    def __init__(self, wait: float, max_wait: float) -> None:
        self.wait = wait
        self.max_wait = max_wait
        super().__init__(
            f"rate limit queue is {wait:.2f} s long, more than the {max_wait:g} s allowed"
        )

    @property
    def retry_after(self) -> int:
        """Whole seconds until the queue is short enough again (at least 1)."""
        return max(1, math.ceil(self.wait - self.max_wait))


class TokenBucket:
    """``rate`` tokens per second, holding at most ``capacity`` (the burst).

    In any interval of length T the bucket grants at most ``capacity + rate * T`` tokens,
    which is the guarantee the integration tests measure on the wire. With ``max_wait``
    a reservation that would wait longer raises :class:`RateLimitWaitExceeded` instead.
    """

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        *,
        max_wait: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        capacity = rate if capacity is None else capacity
        if capacity < 1:
            raise ValueError("capacity must allow at least one request")
        if max_wait is not None and max_wait < 0:
            raise ValueError("max_wait must not be negative")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self.max_wait = max_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._updated = clock()

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}, capacity={self.capacity:g})"

    def reserve(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens now; return the seconds to wait before using them.

        Raises :class:`RateLimitWaitExceeded` (taking nothing) if that wait would exceed
        ``max_wait``.
        """
        if cost <= 0:
            return 0.0
        if cost > self.capacity:
            raise ValueError(f"cost {cost:g} exceeds the bucket capacity {self.capacity:g}")
        with self._lock:
            wait = self._take_if_held(cost)
            if wait == 0.0:
                return 0.0
            if self.max_wait is not None and wait > self.max_wait:
                raise RateLimitWaitExceeded(wait, self.max_wait)
            self._tokens -= cost
            return wait

    def _take_if_held(self, cost: float) -> float:
        """Refill up to now, then take ``cost`` tokens if the bucket holds them (0.0), or
        take nothing and return the seconds until it will. The caller holds the lock."""
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate)
        self._updated = now
        if self._tokens >= cost:
            self._tokens -= cost
            return 0.0
        return (cost - self._tokens) / self.rate

    def acquire(self, cost: float = 1.0) -> float:
        """Block the calling thread until ``cost`` tokens are ours; returns the wait."""
        wait = self.reserve(cost)
        if wait > 0:
            time.sleep(wait)
        return wait

    async def acquire_async(self, cost: float = 1.0) -> float:
        """Like :meth:`acquire` without blocking the event loop."""
        wait = self.reserve(cost)
        if wait > 0:
            await asyncio.sleep(wait)
        return wait


def is_write_request(method: str, path: str) -> bool:
    """Whether Kalshi bills this request to the Write bucket.

    Write covers order create/amend/cancel/decrease, order groups, RFQ quotes and block
    trades, all of which are non-GET calls under ``/portfolio`` or ``/communications``.
    ``path`` is relative to ``/trade-api/v2``.
    """
    if method.upper() in ("GET", "HEAD", "OPTIONS"):
        return False
    return path.startswith(_WRITE_PREFIXES)


@dataclass(frozen=True)
class KalshiRateLimiter:
    """The Read and Write buckets of one API key.

    Share one instance between every client that uses the same key (it is thread-safe);
    several processes on one key each need a proportional share of the tier's rate.
    """

    read: TokenBucket
    write: TokenBucket

    @classmethod
    def basic(cls, *, max_wait: float | None = None) -> KalshiRateLimiter:
        """Kalshi's Basic tier: 20 reads/s and 10 writes/s, bursts of one second."""
        return cls.per_second(BASIC_READ_PER_SECOND, BASIC_WRITE_PER_SECOND, max_wait=max_wait)

    @classmethod
    def per_second(
        cls,
        reads: float,
        writes: float | None = None,
        *,
        read_burst: float | None = None,
        write_burst: float | None = None,
        max_wait: float | None = None,
    ) -> KalshiRateLimiter:
        """``max_wait`` caps the wait of every caller on both buckets (None: no cap)."""
        writes = reads / 2 if writes is None else writes
        return cls(
            TokenBucket(reads, read_burst, max_wait=max_wait),
            TokenBucket(writes, write_burst, max_wait=max_wait),
        )

    def bucket_for(self, method: str, path: str) -> TokenBucket:
        return self.write if is_write_request(method, path) else self.read
