"""HTTP function ``backfill``: loads Kalshi's history, one Cloud Task per series or batch.

The same three parts as every function: logging and settings at import, one lazily built
service, the decorated handler adapting the request. Task bodies, who may call and what
each outcome answers live in :mod:`shared.history.backfill_api`.
"""

from __future__ import annotations

import threading
from typing import Any

import functions_framework

from shared.history.backfill_api import BackfillApi, BackfillService
from shared.history.backfill_settings import BackfillSettings
from shared.logging import configure_logging
from shared.messaging.tasks import TaskAuth

# 1. At import, before any request: every record is scrubbed, whichever handler writes it.
configure_logging()
SETTINGS = BackfillSettings.from_env()
TASK_AUTH = TaskAuth.from_env(audience_vars=("BACKFILL_AUDIENCE", "BACKFILL_URL"))
"""Read at import: in cloud mode a missing audience or invoker stops the instance starting."""

# 2. One service per instance, built on the first task.
_service: BackfillService | None = None
_lock = threading.Lock()


def service() -> BackfillService:
    """Lazy global: no connection at import (cold starts stay short); one per instance."""
    global _service
    with _lock:
        if _service is None:
            from shared.history.backfill_api import service_from_settings

            _service = service_from_settings(SETTINGS)
        return _service


api = BackfillApi(service, SETTINGS, TASK_AUTH)


# 3. The handler: adapt the request, nothing else.
@functions_framework.http
def backfill(request: Any) -> tuple[bytes, int, dict[str, str]]:
    return api.handle(request)
