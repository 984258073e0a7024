"""The ``backfill`` function's settings, read through :mod:`shared.config`'s parsers.

- ``queue``: ``BACKFILL_QUEUE`` (``projects/P/locations/L/queues/backfill``); the function
  checks each request's queue header against it, and fans out onto it.
- ``url`` / ``audience``: ``BACKFILL_URL`` (where the fan-out's tasks go) and
  ``BACKFILL_AUDIENCE`` (their OIDC audience; the URL when unset).
- ``invoker``: ``TASKS_INVOKER_SA``, the account the tasks' tokens are minted for.
- ``workers``: ``BACKFILL_WORKERS``, requests in flight per task (default 4).
- ``budget_share``: ``BACKFILL_BUDGET_SHARE``, the share of the key's Read budget one task
  may use (default 0.5: the poller shares the key). Cloud Tasks runs one task at a time
  (the queue's ``max_concurrent_dispatches`` is 1), so the share is the backfill's total.
- ``days``: ``BACKFILL_DAYS``, the window a fan-out covers when it names none, and the
  days before each UTC midnight the daily job covers (30; ADR 0232).
- ``max_attempts``: ``BACKFILL_MAX_ATTEMPTS``, the queue's attempts per task.
- ``job_audience`` / ``job_invoker``: ``BACKFILL_JOB_AUDIENCE`` and
  ``BACKFILL_JOB_INVOKER_SA``, the OIDC audience and the only account the daily schedule's
  ``POST /_jobs/backfill`` is accepted from (Cloud Scheduler's invoker). Without both the
  job endpoint refuses every call, except on the local stack (``local``:
  ``APP_ENVIRONMENT=local``), where the local scheduler calls it on loopback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared import config

__all__ = ["BackfillSettings"]


@dataclass(frozen=True)
class BackfillSettings:
    queue: str | None = None
    url: str | None = None
    audience: str | None = None
    invoker: str | None = None
    workers: int = 4
    budget_share: float = 0.5
    days: int = 30
    max_attempts: int = 5
    job_audience: str | None = None
    job_invoker: str | None = None
    local: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BackfillSettings:
        share = config.number("BACKFILL_BUDGET_SHARE", cls.budget_share, env, minimum=0.01)
        if share > 1:
            raise config.ConfigError("BACKFILL_BUDGET_SHARE must be at most 1")
        return cls(
            queue=config.text("BACKFILL_QUEUE", env),
            url=config.text("BACKFILL_URL", env),
            audience=config.text("BACKFILL_AUDIENCE", env),
            invoker=config.text("TASKS_INVOKER_SA", env),
            workers=config.integer("BACKFILL_WORKERS", cls.workers, env, minimum=1),
            budget_share=share,
            days=config.integer("BACKFILL_DAYS", cls.days, env, minimum=1),
            max_attempts=config.integer("BACKFILL_MAX_ATTEMPTS", cls.max_attempts, env, minimum=1),
            job_audience=config.text("BACKFILL_JOB_AUDIENCE", env),
            job_invoker=config.text("BACKFILL_JOB_INVOKER_SA", env),
            local=config.is_local(env),
        )
