"""HTTP function ``backtests``: the /api/v1/backtests API (thin adapter over the service).

The same three parts as every function: logging and settings at import, one lazily built
service, the decorated handler adapting the request. Routes, body parsing and the error
statuses live in :mod:`shared.backtest.http_api`.
"""

from __future__ import annotations

import threading
from typing import Any

import functions_framework

from shared.api.framework import register_json_framework_errors
from shared.api.routing import handle
from shared.auth.principal import AuthContext
from shared.backtest.http_api import BacktestsApi, build_router, unexpected_error
from shared.backtest.owners import request_owner
from shared.backtest.service import BacktestService
from shared.backtest.settings import BacktestSettings
from shared.config import cursor_key
from shared.logging import configure_logging
from shared.messaging.tasks import TaskAuth

# 1. At import, before any request: every record is scrubbed, whichever handler writes it.
configure_logging()
SETTINGS = BacktestSettings.from_env()
# In cloud mode (the default) a missing worker audience or invoker account stops the
# instance starting: every task it queued would carry no usable OIDC token. So does a
# missing cursor key: cursors signed with a key in the source could be forged.
TASK_AUTH = TaskAuth.from_env(audience_vars=("BACKTEST_WORKER_AUDIENCE", "BACKTEST_WORKER_URL"))
cursor_key()
# Runs belong to users: every request is authenticated here (sessions and API tokens; the
# key rings are read from Secret Manager on first use, not at import).
AUTH = AuthContext.from_env()

# 2. One service per instance, built on the first request that needs it.
_service: BacktestService | None = None
_lock = threading.Lock()


def service() -> BacktestService:
    """Lazy global: built on the first request, reused by every later one on this instance."""
    global _service
    with _lock:
        if _service is None:
            from shared.backtest.adapters import service_from_settings

            _service = service_from_settings(SETTINGS, dispatch=True)
        return _service


router = build_router(
    BacktestsApi(
        service,
        request_owner(AUTH, lambda: service().runs.database.engine, anonymous=SETTINGS.anonymous),
        address_quota=SETTINGS.anonymous_quota if SETTINGS.anonymous else None,
    )
)


# 3. The handler: adapt the request, nothing else.
@functions_framework.http
def backtests(request: Any) -> tuple[bytes, int, dict[str, str]]:
    return handle(router, request, on_unexpected=unexpected_error).as_flask()


register_json_framework_errors()
