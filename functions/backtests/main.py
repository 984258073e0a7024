"""HTTP function ``backtests``: the /api/v1/backtests API (thin adapter over the service).

Routes: ``GET /api/v1/backtests/strategies``, ``POST /api/v1/backtests`` (202 + Cloud
Task), ``GET /api/v1/backtests`` (paged), ``GET /api/v1/backtests/{id}``,
``DELETE /api/v1/backtests/{id}``. Every error is ``{"error", "message"}`` JSON.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import functions_framework

from shared.api.body import read_json_body
from shared.api.errors import ApiError
from shared.api.framework import register_json_framework_errors
from shared.api.http import JsonResponse, json_response, public_cache
from shared.api.openapi import load_document
from shared.api.routing import HttpRequest, Router, handle
from shared.api.validation import QueryParams
from shared.backtest.errors import BacktestError
from shared.backtest.service import MAX_TRADES_PAGE, BacktestService
from shared.backtest.sweep import MAX_VARIANTS
from shared.logging import configure_logging
from shared.messaging.tasks import TaskAuth

# At import, before any request: every record is scrubbed, whichever handler writes it.
configure_logging()
logger = logging.getLogger("functions.backtests")
# In cloud mode (the default) a missing worker audience or invoker account stops the
# instance starting: every task it queued would carry no usable OIDC token.
TASK_AUTH = TaskAuth.from_env(audience_vars=("BACKTEST_WORKER_AUDIENCE", "BACKTEST_WORKER_URL"))
PREFIX = "/api/v1/backtests"
MAX_BODY_BYTES = 64_000

_service: BacktestService | None = None
_lock = threading.Lock()


def service() -> BacktestService:
    """Lazy global: built on the first request, reused by every later one on this instance."""
    global _service
    with _lock:
        if _service is None:
            from shared.backtest.adapters import service_from_env

            _service = service_from_env(dispatch=True)
        return _service


_STATUS = {
    "not_found": 404,
    "queue_unavailable": 503,
    "too_large": 413,
    "no_markets": 422,
    "no_data": 422,
}


def _run_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, "not_found", f"no backtest {raw[:64]}") from None


def _query(request: HttpRequest, *allowed: str) -> QueryParams:
    """The request's query parameters, parsed by the helpers the markets API uses, so both
    APIs word a bad integer, an unknown parameter or an out-of-range limit the same way."""
    return QueryParams(request.args, allowed=allowed)


router = Router()


@router.route("GET", "/api/v1/openapi/backtests.json")
def openapi(request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
    return json_response(
        load_document("backtests"),
        cache_control=public_cache(300, 3600),
        request_headers=request.headers,
    )


@router.route("GET", PREFIX + "/strategies")
def list_strategies(request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
    return json_response(BacktestService.strategies(), request_headers=request.headers)


@router.route("POST", PREFIX)
def submit(request: Any, _: Mapping[str, str]) -> JsonResponse:
    body = read_json_body(request, max_bytes=MAX_BODY_BYTES)
    created = service().submit(body)
    return json_response(
        created,
        202,
        etag=False,
        extra_headers={"Location": f"{PREFIX}/{created['id']}"},
    )


@router.route("GET", PREFIX)
def list_runs(request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
    q = _query(request, "limit", "cursor")
    page = service().list_runs(limit=q.integer("limit", 20, 1, 100), cursor=q.string("cursor"))
    return json_response(page, request_headers=request.headers)


@router.route("GET", PREFIX + "/{run_id}")
def get_run(request: HttpRequest, params: Mapping[str, str]) -> JsonResponse:
    q = _query(request, "variant", "trades_limit", "trades_cursor")
    run = service().get_run(
        _run_id(params["run_id"]),
        variant=q.optional_integer("variant", 0, MAX_VARIANTS - 1),
        trades_limit=q.integer("trades_limit", 500, 0, MAX_TRADES_PAGE),
        trades_cursor=q.string("trades_cursor"),
    )
    return json_response(run, request_headers=request.headers)


@router.route("DELETE", PREFIX + "/{run_id}")
def delete_run(request: HttpRequest, params: Mapping[str, str]) -> JsonResponse:
    service().delete_run(_run_id(params["run_id"]))
    return JsonResponse(204, b"", {"Cache-Control": "no-store"})


def _to_api_error(exc: BaseException) -> ApiError:
    """Every exception a route lets out, as the JSON error it answers with.

    The service's typed errors carry their own code (mapped to a status here, in one
    place, so no route can forget it); anything else is an outage or a bug: logged, 503.
    """
    if isinstance(exc, BacktestError):
        return ApiError(_STATUS.get(exc.code, 400), exc.code, str(exc))
    logger.error("backtests request failed: %s", type(exc).__name__, exc_info=exc)
    return ApiError(503, "unavailable", "the backtest service is unavailable; try again")


@functions_framework.http
def backtests(request: Any) -> tuple[bytes, int, dict[str, str]]:
    return handle(router, request, on_unexpected=_to_api_error).as_flask()


register_json_framework_errors()
