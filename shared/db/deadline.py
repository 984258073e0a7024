"""A hard deadline around a database call, for answers that must not wait on the pool.

The socket and statement timeouts bound each wait, but a request can meet several in a row
(a full pool, a pre-ping, a reconnect, the statement itself). A health probe must answer
within its own short deadline whatever the database does, so it runs the call in a small
helper pool and stops waiting when the deadline passes. The abandoned call finishes (or
times out) on its own; its connection is invalidated or returned by the engine as usual.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

import sqlalchemy.exc

from shared import config

__all__ = ["DEFAULT_HEALTH_TIMEOUT", "DeadlineExceeded", "call_with_deadline", "health_timeout"]

DEFAULT_HEALTH_TIMEOUT = 1.5

T = TypeVar("T")

# Two threads: a stalled database can hold at most two probes; later ones queue, and a
# queued probe whose caller gave up is cancelled before it ever runs.
_MAX_WORKERS = 2
_lock = threading.Lock()
_executor: concurrent.futures.ThreadPoolExecutor | None = None


class DeadlineExceeded(sqlalchemy.exc.SQLAlchemyError):
    """The database did not answer within the caller's deadline."""


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=_MAX_WORKERS, thread_name_prefix="db-deadline"
            )
        return _executor


def call_with_deadline(call: Callable[[], T], seconds: float) -> T:
    """``call()``'s result, or :class:`DeadlineExceeded` once ``seconds`` have passed."""
    future = _pool().submit(call)
    try:
        return future.result(timeout=seconds)
    except concurrent.futures.TimeoutError:
        future.cancel()
        raise DeadlineExceeded(f"the database did not answer within {seconds:g} s") from None


def health_timeout(env: Mapping[str, str] | None = None) -> float:
    """The health probe's deadline in seconds: ``DB_HEALTH_TIMEOUT``, default 1.5.

    Read on its own (not through :class:`~shared.config.DatabaseSettings`) so a handler
    built around any engine callable can use it without a database configuration.
    """
    return config.seconds("DB_HEALTH_TIMEOUT", DEFAULT_HEALTH_TIMEOUT, env)
