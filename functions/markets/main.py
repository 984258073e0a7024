"""HTTP function ``markets``: ``/api/v1/markets...``, ``/api/v1/health`` and the OpenAPI doc.

The same three parts as every function: logging and settings at import, one lazily built
service (no connection at import, so cold starts stay short), the decorated handler
adapting the request. All logic, validation and SQL live in
:mod:`shared.marketdata.http_api`.

Routes (documented in ``openapi/markets.json``, served at ``/api/v1/openapi/markets.json``):
``GET /api/v1/markets``, ``GET /api/v1/markets/{ticker}``,
``GET /api/v1/markets/{ticker}/history``, ``GET /api/v1/markets/{ticker}/orderbook``,
``GET /api/v1/health``.
"""

from __future__ import annotations

import threading
from typing import Any

import functions_framework

from shared.api.framework import register_json_framework_errors
from shared.api.routing import Router, handle
from shared.config import cursor_key
from shared.logging import configure_logging
from shared.marketdata.http_api import api_from_settings, build_router, unexpected_error
from shared.marketdata.settings import MarketDataSettings

# 1. At import, before any request: every record is scrubbed, whichever handler writes it.
configure_logging()
SETTINGS = MarketDataSettings.from_env()
# In cloud mode (the default) a missing cursor key stops the instance starting: cursors
# signed with a key in the source could be forged.
cursor_key()

# Longest a request waits for its turn at Kalshi's rate limit before answering 503.
MAX_RATE_LIMIT_WAIT_SECONDS = 2.0

# 2. One service per instance, built on the first request.
_service: Router | None = None
_lock = threading.Lock()


def service() -> Router:
    """Lazy global: the API's routes over a database and Kalshi client built on first use."""
    global _service
    with _lock:
        if _service is None:
            api = api_from_settings(SETTINGS, max_rate_limit_wait=MAX_RATE_LIMIT_WAIT_SECONDS)
            _service = build_router(api)
        return _service


# 3. The handler: adapt the request, nothing else.
@functions_framework.http
def markets(request: Any) -> Any:
    return handle(service(), request, on_unexpected=unexpected_error).as_flask()


register_json_framework_errors()
