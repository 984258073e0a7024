"""The ``/api/v1/backtests`` HTTP API: routes, body and query parsing, error statuses.

:func:`build_router` wires handlers to the service; ``functions/backtests/main.py`` only
builds the service lazily and calls :func:`shared.api.routing.handle` with
:func:`unexpected_error`, as ``functions/markets/main.py`` does with
:mod:`shared.marketdata.http_api`. The OpenAPI document (``openapi/backtests.json``)
describes exactly these routes; a test holds them together.

Routes: ``GET /api/v1/backtests/strategies``, ``POST /api/v1/backtests`` (202 + Cloud
Task), ``GET /api/v1/backtests`` (paged), ``GET /api/v1/backtests/{id}``,
``DELETE /api/v1/backtests/{id}``. Every error is ``{"error", "message"}`` JSON.

Every route but the catalogue and the OpenAPI document acts for an owner: the caller's
:class:`~shared.backtest.runs.RunOwner`, which an :data:`OwnerResolver` derives from the
request (a session or an API token; a client address for anonymous local runs) or refuses
with a 401. Runs are scoped to it, so another owner's run id is a 404 like a missing one.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from shared.api.body import read_json_body
from shared.api.errors import ApiError
from shared.api.http import JsonResponse, json_response, public_cache
from shared.api.openapi import load_document
from shared.api.routing import HttpRequest, Router
from shared.api.validation import QueryParams
from shared.backtest.errors import BacktestError
from shared.backtest.runs import RunOwner
from shared.backtest.service import MAX_TRADES_PAGE, BacktestService
from shared.backtest.sweep import MAX_VARIANTS

__all__ = [
    "MAX_BODY_BYTES",
    "PREFIX",
    "STATUS",
    "BacktestsApi",
    "OwnerResolver",
    "build_router",
    "unexpected_error",
]

# The logger the function used before the router moved here, so log queries keep working.
log = logging.getLogger("functions.backtests")

PREFIX = "/api/v1/backtests"
MAX_BODY_BYTES = 64_000

STATUS = {
    "not_found": 404,
    "queue_unavailable": 503,
    "too_large": 413,
    "no_markets": 422,
    "no_data": 422,
    "quota_exceeded": 429,
}
"""HTTP status per :class:`BacktestError` code; any other code is a 400."""


def _run_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise ApiError(404, "not_found", f"no backtest {raw[:64]}") from None


def _query(request: HttpRequest, *allowed: str) -> QueryParams:
    """The request's query parameters, parsed by the helpers the markets API uses, so both
    APIs word a bad integer, an unknown parameter or an out-of-range limit the same way."""
    return QueryParams(request.args, allowed=allowed)


OwnerResolver = Callable[[HttpRequest], RunOwner]
"""Who is asking: a run owner, or an :class:`ApiError` (401 not signed in, 403 CSRF)."""


class BacktestsApi:
    """The handlers; the service is a callable so nothing connects before first use.

    ``owner_of`` authenticates each request that touches runs; ``address_quota`` is the
    daily run limit of an anonymous owner (None: no limit).
    """

    def __init__(
        self,
        service: Callable[[], BacktestService],
        owner_of: OwnerResolver,
        *,
        address_quota: int | None = None,
    ) -> None:
        self._service = service
        self._owner_of = owner_of
        self._address_quota = address_quota

    def openapi(self, request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
        return json_response(
            load_document("backtests"),
            cache_control=public_cache(300, 3600),
            request_headers=request.headers,
        )

    def list_strategies(self, request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
        return json_response(BacktestService.strategies(), request_headers=request.headers)

    def submit(self, request: Any, _: Mapping[str, str]) -> JsonResponse:
        owner = self._owner_of(request)
        body = read_json_body(request, max_bytes=MAX_BODY_BYTES)
        created = self._service().submit(body, owner=owner, address_quota=self._address_quota)
        return json_response(
            created,
            202,
            etag=False,
            extra_headers={"Location": f"{PREFIX}/{created['id']}"},
        )

    def list_runs(self, request: HttpRequest, _: Mapping[str, str]) -> JsonResponse:
        owner = self._owner_of(request)
        q = _query(request, "limit", "cursor")
        page = self._service().list_runs(
            limit=q.integer("limit", 20, 1, 100), cursor=q.string("cursor"), owner=owner
        )
        return json_response(page, request_headers=request.headers)

    def get_run(self, request: HttpRequest, params: Mapping[str, str]) -> JsonResponse:
        owner = self._owner_of(request)
        q = _query(request, "variant", "trades_limit", "trades_cursor")
        run = self._service().get_run(
            _run_id(params["run_id"]),
            variant=q.optional_integer("variant", 0, MAX_VARIANTS - 1),
            trades_limit=q.integer("trades_limit", 500, 0, MAX_TRADES_PAGE),
            trades_cursor=q.string("trades_cursor"),
            owner=owner,
        )
        return json_response(run, request_headers=request.headers)

    def delete_run(self, request: HttpRequest, params: Mapping[str, str]) -> JsonResponse:
        owner = self._owner_of(request)
        self._service().delete_run(_run_id(params["run_id"]), owner=owner)
        return JsonResponse(204, b"", {"Cache-Control": "no-store"})


def build_router(api: BacktestsApi) -> Router:
    router = Router()
    router.add("GET", "/api/v1/openapi/backtests.json", api.openapi)
    router.add("GET", PREFIX + "/strategies", api.list_strategies)
    router.add("POST", PREFIX, api.submit)
    router.add("GET", PREFIX, api.list_runs)
    router.add("GET", PREFIX + "/{run_id}", api.get_run)
    router.add("DELETE", PREFIX + "/{run_id}", api.delete_run)
    return router


def unexpected_error(exc: BaseException) -> ApiError:
    """Every exception a route lets out, as the JSON error it answers with.

    The service's typed errors carry their own code (mapped to a status here, in one
    place, so no route can forget it); anything else is an outage or a bug: logged, 503.
    """
    if isinstance(exc, BacktestError):
        return ApiError(STATUS.get(exc.code, 400), exc.code, str(exc))
    log.error("backtests request failed: %s", type(exc).__name__, exc_info=exc)
    return ApiError(503, "unavailable", "the backtest service is unavailable; try again")
