"""The service's adapters to Cloud Tasks and Pub/Sub, built from the environment.

Environment (the same names locally and in the cloud):

* ``CLOUD_TASKS_QUEUE``: ``projects/P/locations/L/queues/Q`` (``CLOUD_TASKS_EMULATOR_HOST``
  points the client at the emulator locally);
* ``BACKTEST_WORKER_URL``: where tasks go (the ``backtest_worker`` function);
* ``TASKS_INVOKER_SA`` / ``BACKTEST_WORKER_AUDIENCE``: the OIDC identity and audience of
  task requests in the cloud (audience defaults to the worker URL);
* ``PUBSUB_PROJECT_ID`` (or ``GOOGLE_CLOUD_PROJECT``): where ``backtest-events`` lives;
* ``BACKTEST_WORKER_MEMORY_MB`` / ``BACKTEST_WORKER_TIMEOUT_S`` / ``BACKTEST_MAX_ATTEMPTS``:
  the worker's memory, timeout and the queue's attempts (:mod:`shared.backtest.settings`);
* ``KALSHI_STRATEGY_MODULES``: comma-separated modules to import so user strategies
  register themselves (docs/strategies.md).
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from shared.backtest.service import BacktestService
from shared.backtest.settings import WorkerSettings
from shared.config import ConfigError
from shared.db.engine import get_database

__all__ = [
    "CloudTasksDispatcher",
    "PubSubEvents",
    "dispatcher_from_env",
    "load_strategy_modules",
    "service_from_env",
]

EVENT_VERSION = 1


class CloudTasksDispatcher:
    """Creates one HTTP task per run, named after the run id (so enqueueing is idempotent)."""

    def __init__(
        self,
        queue_path: str,
        worker_url: str,
        *,
        service_account: str | None = None,
        audience: str | None = None,
        dispatch_deadline: timedelta | None = None,
        client: Any = None,
    ) -> None:
        from shared.messaging.tasks import TaskQueue

        self.queue = TaskQueue(queue_path, dispatch_deadline=dispatch_deadline, client=client)
        self.worker_url = worker_url
        self.service_account = service_account
        self.audience = audience

    def dispatch(self, run_id: uuid.UUID) -> None:
        self.queue.enqueue_http(
            self.worker_url,
            {"run_id": str(run_id)},
            task_id=f"backtest-{run_id}",
            oidc_service_account=self.service_account,
            audience=self.audience or self.worker_url,
        )


class PubSubEvents:
    """Publishes envelopes to ``backtest-events``."""

    def __init__(self, project_id: str) -> None:
        from shared.messaging.pubsub import Publisher

        self.publisher = Publisher(project_id)

    def publish(self, event_type: str, key: str, payload: Mapping[str, Any]) -> None:
        from shared.messaging.envelope import Envelope
        from shared.messaging.topics import BACKTEST_EVENTS

        envelope = Envelope(
            type=event_type, version=EVENT_VERSION, idempotency_key=key, payload=dict(payload)
        )
        self.publisher.publish(BACKTEST_EVENTS, envelope, timeout=30)


def load_strategy_modules(env: Mapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    for name in (env.get("KALSHI_STRATEGY_MODULES") or "").split(","):
        if name.strip():
            importlib.import_module(name.strip())


def service_from_env(
    *, dispatch: bool = True, env: Mapping[str, str] | None = None
) -> BacktestService:
    """The service with the adapters the environment configures (missing ones are None)."""
    env = os.environ if env is None else env
    load_strategy_modules(env)
    worker = WorkerSettings.from_env(env)
    dispatcher = dispatcher_from_env(env, worker) if dispatch else None
    project = env.get("PUBSUB_PROJECT_ID") or env.get("GOOGLE_CLOUD_PROJECT")
    events = PubSubEvents(project) if project else None
    return BacktestService(get_database(), dispatcher=dispatcher, events=events, worker=worker)


MIN_DISPATCH_DEADLINE_S, MAX_DISPATCH_DEADLINE_S = 15, 1_800
"""The dispatch deadlines Cloud Tasks accepts for HTTP targets."""


def dispatcher_from_env(
    env: Mapping[str, str], worker: WorkerSettings, *, client: Any = None
) -> CloudTasksDispatcher:
    """The dispatcher for ``CLOUD_TASKS_QUEUE``/``BACKTEST_WORKER_URL``.

    Each task's dispatch deadline is the worker's timeout: Cloud Tasks' default (10
    minutes) would give up on a run the worker is still computing and deliver it again.
    """
    queue = env.get("CLOUD_TASKS_QUEUE")
    worker_url = env.get("BACKTEST_WORKER_URL")
    if not queue or not worker_url:
        raise ConfigError("set CLOUD_TASKS_QUEUE and BACKTEST_WORKER_URL to queue backtests")
    deadline = min(max(worker.timeout_s, MIN_DISPATCH_DEADLINE_S), MAX_DISPATCH_DEADLINE_S)
    return CloudTasksDispatcher(
        queue,
        worker_url,
        service_account=env.get("TASKS_INVOKER_SA") or None,
        audience=env.get("BACKTEST_WORKER_AUDIENCE") or None,
        dispatch_deadline=timedelta(seconds=deadline),
        client=client,
    )
