"""What the API and the worker must agree on about the worker: memory, timeout, attempts.

The API sizes requests for the worker's memory, gives each task the worker's timeout as its
dispatch deadline and reaps runs the worker can no longer finish; the worker uses the same
numbers for its heartbeat and its last attempt. Terraform sets the variables on both
functions from the worker's own ``available_memory``/``timeout_seconds`` and the queue's
``max_attempts``, so the two cannot drift apart (docs/decisions/0085-backtest-size-limits.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from shared.config import ConfigError

__all__ = [
    "BASELINE_MB",
    "BYTES_PER_SNAPSHOT",
    "HEARTBEAT_S",
    "STALE_AFTER_S",
    "WorkerSettings",
]

BYTES_PER_SNAPSHOT = 256
"""Peak worker memory per loaded snapshot (load, one strategy run, store), rounded up from
the 232 bytes measured on a million snapshots (82 after the load alone); measured by
``python -m tests.bench.bench_backtest``, derivation in ADR 0085."""
BASELINE_MB = 400
"""The worker's memory before it loads anything (interpreter, functions-framework, numpy,
the database and Google clients), rounded well up from what the benchmark measures."""
HEARTBEAT_S = 15.0
"""How often a running attempt touches its run (``backtest_run_details.updated_at``)."""
STALE_AFTER_S = 60.0
"""A running run whose heartbeat is older than this has lost its attempt (a crash, an
out-of-memory kill): a new delivery may take it over. Four heartbeats, so a busy database
or a slow poll never makes a live attempt look dead; shorter than the queue's minimum
backoff (90 s), so a retry after a crash always finds the heartbeat stale."""


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw[:20]!r}") from None
    if value < 1:
        raise ConfigError(f"{name} must be at least 1, got {value}")
    return value


@dataclass(frozen=True)
class WorkerSettings:
    """The backtest worker's resources, as Terraform deployed them."""

    memory_mb: int = 2048
    timeout_s: int = 1800
    max_attempts: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        return cls(
            memory_mb=_positive_int(env, "BACKTEST_WORKER_MEMORY_MB", cls.memory_mb),
            timeout_s=_positive_int(env, "BACKTEST_WORKER_TIMEOUT_S", cls.timeout_s),
            max_attempts=_positive_int(env, "BACKTEST_MAX_ATTEMPTS", cls.max_attempts),
        )

    @property
    def max_snapshots(self) -> int:
        """Snapshots one run may load: what fits in the worker's memory, with headroom.

        Usable memory is 75 % of the instance (the rest for allocator fragmentation and
        the result set being written) minus the baseline; each snapshot costs
        :data:`BYTES_PER_SNAPSHOT` at peak. 2 GiB gives about 4.6 million snapshots.
        """
        usable = self.memory_mb * 0.75 - BASELINE_MB
        return max(0, int(usable * 1024 * 1024 // BYTES_PER_SNAPSHOT))

    @property
    def reap_after_s(self) -> int:
        """A run still ``running`` this long after it started cannot finish any more:
        every attempt the queue allows has had its full deadline."""
        return self.timeout_s * self.max_attempts
