"""HTTP function ``markets``: ``/api/v1/markets...``, ``/api/v1/health`` and the OpenAPI doc.

A thin adapter in the style of Google's function samples: lazy globals built on first
use (no connection at import, so cold starts stay short), one ``handle`` call per request.
All logic, validation and SQL live in :mod:`shared.marketdata.http_api`.

Routes (documented in ``openapi/markets.json``, served at ``/api/v1/openapi/markets.json``):
``GET /api/v1/markets``, ``GET /api/v1/markets/{ticker}``,
``GET /api/v1/markets/{ticker}/history``, ``GET /api/v1/markets/{ticker}/orderbook``,
``GET /api/v1/health``.
"""

from __future__ import annotations

import threading
from typing import Any

import functions_framework
from sqlalchemy import Engine

from shared.api.framework import register_json_framework_errors
from shared.api.routing import Router, handle
from shared.kalshi.client import KalshiClient
from shared.kalshi.ratelimit import KalshiRateLimiter
from shared.logging import configure_logging
from shared.marketdata.http_api import (
    MarketsApi,
    build_router,
    poll_interval_from_env,
    unexpected_error,
)
from shared.marketdata.settings import MarketDataSettings

# At import, before any request: every record is scrubbed, whichever handler writes it.
configure_logging()

# Longest a request waits for its turn at Kalshi's rate limit before answering 503.
MAX_RATE_LIMIT_WAIT_SECONDS = 2.0

_lock = threading.Lock()
_router: Router | None = None
_kalshi: KalshiClient | None = None


def _engine() -> Engine:
    from shared.db.engine import get_database

    return get_database().engine


def _kalshi_client() -> KalshiClient:
    global _kalshi
    with _lock:
        if _kalshi is None:
            from shared.kalshi.client import signer_from_env

            # Capped waits: a burst of order-book requests answers 503 + Retry-After
            # instead of queueing each request (and its instance) behind the rate limit.
            _kalshi = KalshiClient(
                signer=signer_from_env(),
                rate_limiter=KalshiRateLimiter.basic(max_wait=MAX_RATE_LIMIT_WAIT_SECONDS),
            )
        return _kalshi


def router() -> Router:
    global _router
    with _lock:
        if _router is None:
            settings = MarketDataSettings.from_env()
            api = MarketsApi(
                _engine,
                _kalshi_client,
                orderbook_cache_seconds=settings.orderbook_cache_seconds,
                poll_interval_seconds=poll_interval_from_env(),
            )
            _router = build_router(api)
        return _router


@functions_framework.http
def markets(request: Any) -> Any:
    return handle(router(), request, on_unexpected=unexpected_error).as_flask()


register_json_framework_errors()
