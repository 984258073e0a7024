"""A small per-user cache of Kalshi reads: a few seconds fresh, served stale while Kalshi fails.

Why: a dashboard polls portfolio, positions and fills every few seconds per open tab, and
each view costs one to three Kalshi requests from the user's own rate-limit bucket. A
fresh-for-seconds copy turns tabs and quick refreshes into one upstream read, and when
Kalshi has an outage (a timeout, a 5xx, a 429) the last good copy is still the best answer
the user can get: it is served flagged ``stale: true`` with the time it was read. A client
error (Kalshi's 401 for a revoked key, a 400) is never hidden behind an old copy: it
propagates, so the caller can mark the key invalid.

Thread-safe (functions-framework serves requests on threads), bounded (least recently used
entries go first) and single-flight: concurrent misses for one key wait for one fetch
instead of sending one request each.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar, cast

from shared.kalshi.errors import KalshiAPIError, KalshiTransportError

__all__ = ["AccountCache", "Cached", "kalshi_outage"]

_T = TypeVar("_T")

DEFAULT_TTL_S = 3.0
DEFAULT_MAX_STALE_S = 600.0
DEFAULT_MAX_ENTRIES = 4096


def kalshi_outage(error: BaseException) -> bool:
    """Failures a stale copy may stand in for: transport errors, 429 and 5xx answers."""
    if isinstance(error, KalshiTransportError):
        return True
    return isinstance(error, KalshiAPIError) and (error.status == 429 or error.status >= 500)


@dataclass(frozen=True, slots=True)
class Cached(Generic[_T]):
    """A value and when it was read from Kalshi; ``stale`` when served past a failure."""

    value: _T
    last_updated: datetime
    stale: bool = False


@dataclass(slots=True)
class _Entry:
    value: object
    read_at: float  # monotonic
    last_updated: datetime


class AccountCache:
    """Per-key (``(user_id, view, ...)``) TTL cache shared by every reader of a process."""

    def __init__(
        self,
        ttl_seconds: float = DEFAULT_TTL_S,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_stale_seconds: float = DEFAULT_MAX_STALE_S,
        serve_stale_on: Callable[[BaseException], bool] = kalshi_outage,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if ttl_seconds < 0 or max_stale_seconds < ttl_seconds or max_entries < 1:
            raise ValueError("need 0 <= ttl <= max_stale and max_entries >= 1")
        self._ttl = ttl_seconds
        self._max_stale = max_stale_seconds
        self._max_entries = max_entries
        self._serve_stale_on = serve_stale_on
        self._clock = clock
        self._wall = wall_clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._inflight: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __bool__(self) -> bool:
        # An empty cache is still a cache: ``cache or AccountCache()`` must keep it.
        return True

    def _fresh(self, key: Hashable, now: float) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        age = now - entry.read_at
        if age > self._max_stale:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry if age <= self._ttl else None

    def get(self, key: Hashable, fetch: Callable[[], _T]) -> Cached[_T]:
        """The value for ``key``: cached if fresh, else fetched (once, however many threads
        ask); on an outage the last copy (up to ``max_stale_seconds`` old) flagged stale."""
        with self._lock:
            entry = self._fresh(key, self._clock())
            if entry is not None:
                return Cached(cast(_T, entry.value), entry.last_updated)
            gate = self._inflight.setdefault(key, threading.Lock())
        with gate:
            with self._lock:  # another thread may have fetched it while we waited
                entry = self._fresh(key, self._clock())
                if entry is not None:
                    return Cached(cast(_T, entry.value), entry.last_updated)
            try:
                value = fetch()
            except Exception as error:
                with self._lock:
                    self._inflight.pop(key, None)
                    old = self._entries.get(key)
                    usable = old is not None and self._clock() - old.read_at <= self._max_stale
                if old is not None and usable and self._serve_stale_on(error):
                    return Cached(cast(_T, old.value), old.last_updated, stale=True)
                raise
            with self._lock:
                self._inflight.pop(key, None)
                stored = _Entry(value, self._clock(), self._wall())
                self._entries[key] = stored
                self._entries.move_to_end(key)
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
            return Cached(value, stored.last_updated)

    def peek(self, key: Hashable) -> object | None:
        """The last value stored for ``key``, fresh or not (None when absent or too old):
        what an incremental fetch extends instead of reading everything again."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._clock() - entry.read_at > self._max_stale:
                return None
            return entry.value

    def forget(self, prefix: Hashable) -> int:
        """Drop every entry whose key is ``prefix`` or a tuple starting with it (a user's
        whole cache after sign-out or a trade); returns how many went."""
        with self._lock:
            doomed = [
                k
                for k in self._entries
                if k == prefix or (isinstance(k, tuple) and k and k[0] == prefix)
            ]
            for key in doomed:
                del self._entries[key]
            return len(doomed)
