"""The backtest functions' settings: where runs are queued, and what the API and the worker
must agree on about the worker (memory, timeout, attempts).

:class:`BacktestSettings` is everything both functions read from the environment, through
:mod:`shared.config`'s parsers; its ``worker`` part, :class:`WorkerSettings`, is what the
service itself needs. The API sizes requests for the worker's memory, gives each task the
worker's timeout as its dispatch deadline and reaps runs the worker can no longer finish;
the worker uses the same numbers for its heartbeat and its last attempt. Terraform sets the
variables on both functions from the worker's own ``available_memory``/``timeout_seconds``
and the queue's ``max_attempts``, so the two cannot drift apart
(docs/decisions/0085-backtest-size-limits.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shared import config

__all__ = [
    "BASELINE_MB",
    "BYTES_PER_SNAPSHOT",
    "HEARTBEAT_S",
    "STALE_AFTER_S",
    "BacktestSettings",
    "WorkerSettings",
]

BYTES_PER_SNAPSHOT = 112
"""Peak worker memory per loaded snapshot (load, one strategy run, store), rounded up from
the 97 bytes measured on the worker's whole run over 10,000,000 production-shaped
snapshots (``python -m tests.bench.bench_backtest --worker``; 232 before the engine and
loader dropped their row-sized temporaries, ADR 0229-0230); derivation in ADR 0085."""
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


@dataclass(frozen=True)
class WorkerSettings:
    """The backtest worker's resources, as Terraform deployed them."""

    memory_mb: int = 2048
    timeout_s: int = 1800
    max_attempts: int = 5
    # Where archived snapshot days are (HISTORY_ARCHIVE_URL, as the poller writes them) and
    # the poller's heartbeat (SNAPSHOT_HEARTBEAT_SECONDS): the loader reads archived days
    # and rebuilds the poll grid from change-only storage (ADR 0170, 0174).
    archive_url: str | None = None
    snapshot_heartbeat_seconds: float = 3_600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        return cls(
            memory_mb=config.integer("BACKTEST_WORKER_MEMORY_MB", cls.memory_mb, env, minimum=1),
            timeout_s=config.integer("BACKTEST_WORKER_TIMEOUT_S", cls.timeout_s, env, minimum=1),
            max_attempts=config.integer("BACKTEST_MAX_ATTEMPTS", cls.max_attempts, env, minimum=1),
            archive_url=config.text("HISTORY_ARCHIVE_URL", env),
            snapshot_heartbeat_seconds=config.number(
                "SNAPSHOT_HEARTBEAT_SECONDS", 3_600.0, env, minimum=0
            ),
        )

    @property
    def max_snapshots(self) -> int:
        """Snapshots one run may load: what fits in the worker's memory, with headroom.

        Usable memory is 75 % of the instance (the rest for allocator fragmentation and
        the result set being written) minus the baseline; each snapshot costs
        :data:`BYTES_PER_SNAPSHOT` at peak. 2 GiB gives about 10.6 million snapshots.
        """
        usable = self.memory_mb * 0.75 - BASELINE_MB
        return max(0, int(usable * 1024 * 1024 // BYTES_PER_SNAPSHOT))

    @property
    def reap_after_s(self) -> int:
        """A run still ``running`` this long after it started cannot finish any more:
        every attempt the queue allows has had its full deadline."""
        return self.timeout_s * self.max_attempts


@dataclass(frozen=True)
class BacktestSettings:
    """Everything the ``backtests`` API and the ``backtest_worker`` read from the environment.

    - ``queue``: ``CLOUD_TASKS_QUEUE`` (``projects/P/locations/L/queues/Q``); the worker
      also checks each request's queue header against it.
    - ``worker_url``: ``BACKTEST_WORKER_URL``, where tasks go.
    - ``audience``: ``BACKTEST_WORKER_AUDIENCE``, the OIDC audience of task requests in the
      cloud (the worker URL when unset).
    - ``invoker``: ``TASKS_INVOKER_SA``, the account tasks' OIDC tokens are minted for.
    - ``strategy_modules``: ``KALSHI_STRATEGY_MODULES``, comma-separated modules to import
      so user strategies register themselves (docs/strategies.md).
    - ``project_id``: where ``backtest-events`` lives (:func:`shared.config.project_id`).
    - ``worker``: the worker's memory, timeout and the queue's attempts.
    - ``anonymous``: ``BACKTEST_ANONYMOUS_SUBMISSIONS``, whether a caller who is not signed
      in may submit (and see) runs of its own, identified by its client address; on only in
      the local stack (docs/decisions/0150-backtest-runs-have-owners.md).
    - ``anonymous_quota``: ``BACKTEST_ANONYMOUS_QUOTA``, runs one client address may
      create per 24 hours when ``anonymous`` is on.
    """

    queue: str | None = None
    worker_url: str | None = None
    audience: str | None = None
    invoker: str | None = None
    strategy_modules: tuple[str, ...] = ()
    project_id: str | None = None
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    anonymous: bool = False
    anonymous_quota: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BacktestSettings:
        modules = config.text("KALSHI_STRATEGY_MODULES", env) or ""
        return cls(
            queue=config.text("CLOUD_TASKS_QUEUE", env),
            worker_url=config.text("BACKTEST_WORKER_URL", env),
            audience=config.text("BACKTEST_WORKER_AUDIENCE", env),
            invoker=config.text("TASKS_INVOKER_SA", env),
            strategy_modules=tuple(n.strip() for n in modules.split(",") if n.strip()),
            project_id=config.project_id(env),
            worker=WorkerSettings.from_env(env),
            anonymous=config.flag("BACKTEST_ANONYMOUS_SUBMISSIONS", cls.anonymous, env),
            anonymous_quota=config.integer(
                "BACKTEST_ANONYMOUS_QUOTA", cls.anonymous_quota, env, minimum=1
            ),
        )

    @property
    def max_attempts(self) -> int:
        """Deliveries the queue makes of one task; the last one records a failure for good."""
        return self.worker.max_attempts
