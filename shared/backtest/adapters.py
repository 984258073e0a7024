"""The service's adapters to Cloud Tasks and Pub/Sub, built from :class:`BacktestSettings`.

The variables (the same names locally and in the cloud) are listed and parsed in
:mod:`shared.backtest.settings`; ``CLOUD_TASKS_EMULATOR_HOST`` points the Cloud Tasks
client at the emulator locally (:class:`shared.messaging.tasks.TaskQueue`).
"""

from __future__ import annotations

import dataclasses
import importlib
import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from shared.backtest.service import BacktestService
from shared.backtest.settings import BacktestSettings, WorkerSettings
from shared.config import ConfigError
from shared.db.engine import get_database

__all__ = [
    "CloudTasksDispatcher",
    "PubSubEvents",
    "dispatcher_from_env",
    "dispatcher_from_settings",
    "load_strategy_modules",
    "service_from_env",
    "service_from_settings",
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
    """Import ``KALSHI_STRATEGY_MODULES`` so user strategies register themselves."""
    for name in BacktestSettings.from_env(env).strategy_modules:
        importlib.import_module(name)


def service_from_env(
    *, dispatch: bool = True, env: Mapping[str, str] | None = None
) -> BacktestService:
    """The service with the adapters the environment configures (missing ones are None)."""
    return service_from_settings(BacktestSettings.from_env(env), dispatch=dispatch)


def service_from_settings(settings: BacktestSettings, *, dispatch: bool = True) -> BacktestService:
    """The service with the adapters ``settings`` configure; ``dispatch=False`` (the worker)
    builds no Cloud Tasks client, so it needs no queue settings."""
    for name in settings.strategy_modules:
        importlib.import_module(name)
    dispatcher = dispatcher_from_settings(settings) if dispatch else None
    events = PubSubEvents(settings.project_id) if settings.project_id else None
    return BacktestService(
        get_database(), dispatcher=dispatcher, events=events, worker=settings.worker
    )


MIN_DISPATCH_DEADLINE_S, MAX_DISPATCH_DEADLINE_S = 15, 1_800
"""The dispatch deadlines Cloud Tasks accepts for HTTP targets."""


def dispatcher_from_env(
    env: Mapping[str, str], worker: WorkerSettings, *, client: Any = None
) -> CloudTasksDispatcher:
    """The dispatcher for ``env``'s queue settings, with ``worker``'s timeout."""
    settings = dataclasses.replace(BacktestSettings.from_env(env), worker=worker)
    return dispatcher_from_settings(settings, client=client)


def dispatcher_from_settings(
    settings: BacktestSettings, *, client: Any = None
) -> CloudTasksDispatcher:
    """The dispatcher for ``CLOUD_TASKS_QUEUE``/``BACKTEST_WORKER_URL``.

    Each task's dispatch deadline is the worker's timeout: Cloud Tasks' default (10
    minutes) would give up on a run the worker is still computing and deliver it again.
    """
    if not settings.queue or not settings.worker_url:
        raise ConfigError("set CLOUD_TASKS_QUEUE and BACKTEST_WORKER_URL to queue backtests")
    timeout = settings.worker.timeout_s
    deadline = min(max(timeout, MIN_DISPATCH_DEADLINE_S), MAX_DISPATCH_DEADLINE_S)
    return CloudTasksDispatcher(
        settings.queue,
        settings.worker_url,
        service_account=settings.invoker,
        audience=settings.audience,
        dispatch_deadline=timedelta(seconds=deadline),
        client=client,
    )
