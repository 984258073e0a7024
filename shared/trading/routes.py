"""The order routes of the account API: ``/api/v1/account/orders*`` and position closing.

:func:`register_trading_routes` adds them to the account router (one call in
:func:`shared.account.http_api.build_router`), each wrapped by the account API's
``authed`` (authentication, CSRF on state changes for sessions, session renewal, the
account's error rendering), so orders follow exactly the rules of every other account route.

| method | path | answer |
|---|---|---|
| POST | ``/orders`` | 201, the order |
| GET | ``/orders`` | a page of orders (``status``, ``ticker``, ``cursor``, ``limit``) |
| DELETE | ``/orders`` | every resting order canceled (``ticker`` for one market) |
| POST | ``/orders/preview`` | cost and fees of a ticket |
| GET | ``/orders/{order_id}`` | the order and its fills |
| PATCH | ``/orders/{order_id}`` | the amended order |
| DELETE | ``/orders/{order_id}`` | the canceled order |
| POST | ``/positions/{ticker}/close`` | 201, the closing order |
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from shared.account.service import AccountService
from shared.api.body import read_json_body
from shared.api.http import JsonResponse, json_response
from shared.api.routing import Router
from shared.api.validation import QueryParams
from shared.auth.principal import Principal
from shared.trading.service import TradingService

__all__ = ["ORDERS_PREFIX", "TradingApi", "register_trading_routes"]

ACCOUNT_PREFIX = "/api/v1/account"
ORDERS_PREFIX = ACCOUNT_PREFIX + "/orders"
MAX_BODY_BYTES = 16 * 1024
ORDER_STATUSES = ("resting", "canceled", "executed")
_CURSOR = re.compile(r"[A-Za-z0-9_\-.=]{1,1024}")
_TICKER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

AuthedHandler = Callable[[Any, Mapping[str, str], Principal], JsonResponse]
Authed = Callable[[AuthedHandler], Callable[[Any, Mapping[str, str]], JsonResponse]]


def _json(data: Any, status: int = 200) -> JsonResponse:
    response = json_response(data, status, etag=False)
    response.headers["Cache-Control"] = "no-store"
    return response


class TradingApi:
    """The handlers; the trading service is built on first use over the account service."""

    def __init__(self, account: Callable[[], AccountService]) -> None:
        self._account = account
        self._trading: TradingService | None = None
        self._lock = threading.Lock()

    def service(self) -> TradingService:
        with self._lock:
            if self._trading is None:
                self._trading = TradingService(self._account())
            return self._trading

    @staticmethod
    def _body(request: Any) -> Any:
        return read_json_body(request, max_bytes=MAX_BODY_BYTES)

    @staticmethod
    def _no_query(request: Any) -> None:
        QueryParams(request.args, allowed=())

    def place(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        self._no_query(request)
        return _json(self.service().place(principal, self._body(request)), 201)

    def preview(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        self._no_query(request)
        return _json(self.service().preview(principal, self._body(request)))

    def list_orders(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        q = QueryParams(request.args, allowed=("status", "ticker", "cursor", "limit"))
        ticker = q.string("ticker", _TICKER)
        return _json(
            self.service().list_orders(
                principal,
                status=q.choice("status", ORDER_STATUSES),
                ticker=ticker.upper() if ticker else None,
                cursor=q.string("cursor", _CURSOR),
                limit=q.integer("limit", 50, 1, 200),
            )
        )

    def cancel_all(self, request: Any, _: Mapping[str, str], principal: Principal) -> JsonResponse:
        q = QueryParams(request.args, allowed=("ticker",))
        ticker = q.string("ticker", _TICKER)
        return _json(self.service().cancel_all(principal, ticker.upper() if ticker else None))

    def get_order(
        self, request: Any, params: Mapping[str, str], principal: Principal
    ) -> JsonResponse:
        self._no_query(request)
        return _json(self.service().get_order(principal, params["order_id"]))

    def amend(self, request: Any, params: Mapping[str, str], principal: Principal) -> JsonResponse:
        self._no_query(request)
        body = self._body(request)
        return _json(self.service().amend(principal, params["order_id"], body))

    def cancel(self, request: Any, params: Mapping[str, str], principal: Principal) -> JsonResponse:
        self._no_query(request)
        return _json(self.service().cancel(principal, params["order_id"]))

    def close(self, request: Any, params: Mapping[str, str], principal: Principal) -> JsonResponse:
        self._no_query(request)
        body = self._body(request)
        return _json(self.service().close_position(principal, params["ticker"], body), 201)


def register_trading_routes(
    router: Router, authed: Authed, account: Callable[[], AccountService]
) -> TradingApi:
    """Add the order routes to the account ``router``; ``authed`` is the account API's
    wrapper for authenticated handlers, ``account`` its lazily built service."""
    api = TradingApi(account)
    router.add("POST", ORDERS_PREFIX + "/preview", authed(api.preview))
    router.add("POST", ORDERS_PREFIX, authed(api.place))
    router.add("GET", ORDERS_PREFIX, authed(api.list_orders))
    router.add("DELETE", ORDERS_PREFIX, authed(api.cancel_all))
    router.add("GET", ORDERS_PREFIX + "/{order_id}", authed(api.get_order))
    router.add("PATCH", ORDERS_PREFIX + "/{order_id}", authed(api.amend))
    router.add("DELETE", ORDERS_PREFIX + "/{order_id}", authed(api.cancel))
    router.add("POST", ACCOUNT_PREFIX + "/positions/{ticker}/close", authed(api.close))
    return api
