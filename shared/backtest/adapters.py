"""The service's adapters to Cloud Tasks and Pub/Sub, built from the environment.

Environment (the same names locally and in the cloud):

* ``CLOUD_TASKS_QUEUE``: ``projects/P/locations/L/queues/Q`` (``CLOUD_TASKS_EMULATOR_HOST``
  points the client at the emulator locally);
* ``BACKTEST_WORKER_URL``: where tasks go (the ``backtest_worker`` function);
* ``TASKS_INVOKER_SA`` / ``BACKTEST_WORKER_AUDIENCE``: the OIDC identity and audience of
  task requests in the cloud (audience defaults to the worker URL);
* ``PUBSUB_PROJECT_ID`` (or ``GOOGLE_CLOUD_PROJECT``): where ``backtest-events`` lives;
* ``KALSHI_STRATEGY_MODULES``: comma-separated modules to import so user strategies
  register themselves (docs/strategies.md).
"""

from __future__ import annotations

import importlib
import os
import uuid
from collections.abc import Mapping
from typing import Any

from shared.backtest.service import BacktestService
from shared.config import ConfigError
from shared.db.engine import get_database

__all__ = [
    "CloudTasksDispatcher",
    "PubSubEvents",
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
    ) -> None:
        from shared.messaging.tasks import TaskQueue

        self.queue = TaskQueue(queue_path)
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
    dispatcher = None
    if dispatch:
        queue = env.get("CLOUD_TASKS_QUEUE")
        worker_url = env.get("BACKTEST_WORKER_URL")
        if not queue or not worker_url:
            raise ConfigError("set CLOUD_TASKS_QUEUE and BACKTEST_WORKER_URL to queue backtests")
        dispatcher = CloudTasksDispatcher(
            queue,
            worker_url,
            service_account=env.get("TASKS_INVOKER_SA") or None,
            audience=env.get("BACKTEST_WORKER_AUDIENCE") or None,
        )
    project = env.get("PUBSUB_PROJECT_ID") or env.get("GOOGLE_CLOUD_PROJECT")
    events = PubSubEvents(project) if project else None
    return BacktestService(get_database(), dispatcher=dispatcher, events=events)
