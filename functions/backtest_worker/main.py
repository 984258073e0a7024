"""HTTP function ``backtest_worker``: runs one queued backtest per Cloud Task.

The same three parts as every function: logging and settings at import, one lazily built
service, the decorated handler adapting the request. Who may call it, how a task is read and
what each outcome answers live in :mod:`shared.backtest.worker_api`. In the cloud (the
default) it refuses to start without the token's audience and the invoker account.
"""

from __future__ import annotations

import threading
from typing import Any

import functions_framework

from shared.backtest.service import BacktestService
from shared.backtest.settings import BacktestSettings
from shared.backtest.worker_api import WorkerApi
from shared.logging import configure_logging
from shared.messaging.tasks import TaskAuth

# 1. At import, before any request: every record is scrubbed, whichever handler writes it.
configure_logging()
SETTINGS = BacktestSettings.from_env()
TASK_AUTH = TaskAuth.from_env(audience_vars=("BACKTEST_WORKER_AUDIENCE", "BACKTEST_WORKER_URL"))
"""Read at import: in cloud mode a missing audience or invoker stops the instance starting."""

# 2. One service per instance, built on the first task.
_service: BacktestService | None = None
_lock = threading.Lock()


def service() -> BacktestService:
    """Lazy global: no connection at import (cold starts stay short); one per instance."""
    global _service
    with _lock:
        if _service is None:
            from shared.backtest.adapters import service_from_settings

            _service = service_from_settings(SETTINGS, dispatch=False)
        return _service


api = WorkerApi(service, SETTINGS, TASK_AUTH)


# 3. The handler: adapt the request, nothing else.
@functions_framework.http
def backtest_worker(request: Any) -> tuple[bytes, int, dict[str, str]]:
    return api.handle(request)
