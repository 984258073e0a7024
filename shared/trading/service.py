"""Order entry for a signed-in user: place, list, read, amend, cancel, cancel all, preview,
close a position. The account function serves it (:mod:`shared.trading.routes`).

Every write goes through the same gate, cheapest check first: the caller's scope (a session,
or an API token with the ``trade`` scope: else 403 ``insufficient_scope``), the body
(400 naming the field), the user's own switch (403 ``trading_disabled``) and limits (403
``order_limit_exceeded``), the market (404 ``unknown_market``) and its price grid (400
``invalid_price``). Cancels need only the scope: a kill switch must work even after the
user turned trading off.

Orders go to Kalshi's V2 endpoints through :class:`~shared.kalshi.orders.KalshiOrders`,
signed with the user's own key from the account service's per-user client pool, with
``self_trade_prevention_type`` ``taker_at_cross`` and a ``client_order_id`` (the caller's, or
a new one): a create retried after a lost answer never places a second order, and a caller
repeating a POST with its own ``client_order_id`` gets the same order back.

Kalshi's refusals keep Kalshi's code with a plain message (400 ``insufficient_balance``,
404 ``not_found`` ...); a key Kalshi does not let trade is 403 ``kalshi_trading_not_permitted``;
a key Kalshi rejects outright is treated as on a read (marked invalid, 401
``kalshi_key_revoked``); an unreachable Kalshi is 503 with ``Retry-After``. Each request and
its answer is one ``order_audit`` row (:mod:`shared.trading.audit`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import Connection, text

from shared.account.service import KALSHI_RETRY_AFTER_S, AccountService
from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import ApiError, invalid_cursor
from shared.auth.principal import Principal, require_scope
from shared.kalshi import models as m
from shared.kalshi.client import KalshiClient
from shared.kalshi.errors import (
    AuthenticationError,
    KalshiAPIError,
    KalshiError,
    PermissionDeniedError,
    RateLimitedError,
)
from shared.kalshi.orders import ClientOrderIdConflict, CreateOrder, KalshiOrders
from shared.trading import audit
from shared.trading.audit import AuditAnswer
from shared.trading.limits import LimitExceeded, TradingPreferences, check_limits, stored_trading
from shared.trading.markets import MarketRules, MarketRulesCache, UnknownMarket
from shared.trading.preview import preview
from shared.trading.translate import (
    SIDES,
    Ticket,
    TicketError,
    book_price,
    from_book,
    parse_count,
    parse_price,
    parse_ticker,
    parse_ticket,
)

__all__ = ["SELF_TRADE_PREVENTION", "TradingService", "fill_view", "kalshi_error", "order_view"]

logger = logging.getLogger(__name__)

SELF_TRADE_PREVENTION = "taker_at_cross"
BATCH_CANCEL_SIZE = 10
_ORDER_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_DIRECTION = {  # Kalshi's legacy (action, side) -> book side
    ("buy", "yes"): "bid",
    ("sell", "no"): "bid",
    ("buy", "no"): "ask",
    ("sell", "yes"): "ask",
}
_T = TypeVar("_T")


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.6f}"


def _count(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _price(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.4f}"


def _bad(error: TicketError) -> ApiError:
    return ApiError(400, error.code, error.message)


class _Refused(Exception):
    """A request refused with ``error`` after its audit row was written."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(error.message)
        self.error = error


def kalshi_error(error: KalshiError) -> ApiError:
    """Kalshi's refusal as our JSON error: Kalshi's code, a plain message."""
    if isinstance(error, ClientOrderIdConflict):
        return ApiError(
            409,
            "client_order_id_conflict",
            "that client_order_id already names a different order; use a new one",
        )
    if isinstance(error, PermissionDeniedError):
        return ApiError(
            403,
            "kalshi_trading_not_permitted",
            "Kalshi does not let this API key trade; create a key with trading permission "
            "and sign in with it",
        )
    if isinstance(error, RateLimitedError):
        return ApiError(
            429,
            "kalshi_rate_limited",
            "Kalshi's rate limit for this key is used up; try again shortly",
            headers={"Retry-After": "2"},
        )
    if isinstance(error, KalshiAPIError) and 400 <= error.status < 500:
        code = error.code or "kalshi_rejected"
        words = (error.message or code).replace("_", " ")
        if error.details:
            words += f" ({error.details})"
        status = error.status if error.status in (400, 404, 409, 422) else 400
        return ApiError(status, code, f"Kalshi refused the request: {words}"[:300])
    return ApiError(
        503,
        "kalshi_unavailable",
        f"Kalshi did not answer ({type(error).__name__}); try again shortly",
        headers={"Retry-After": str(KALSHI_RETRY_AFTER_S)},
    )


def _error_answer(error: ApiError, *, failed: bool = False) -> AuditAnswer:
    return AuditAnswer(
        status="failed" if failed else "rejected",
        http_status=error.status,
        response={"error": error.code, "message": error.message},
        error_code=error.code,
        error_message=error.message,
    )


def fill_view(fill: m.Fill, side: str) -> dict[str, Any]:
    book_side = fill.book_side or _DIRECTION.get((fill.action or "", fill.side or ""), "bid")
    action, price = from_book(book_side, fill.yes_price_dollars, side)
    return {
        "fill_id": fill.fill_id,
        "order_id": fill.order_id,
        "ticker": fill.ticker,
        "side": side,
        "action": action,
        "count": _count(fill.count_fp),
        "price": _price(price),
        "yes_price": _price(fill.yes_price_dollars),
        "is_taker": fill.is_taker,
        "fee": _money(fill.fee_cost),
        "created_time": fill.created_time.isoformat() if fill.created_time else None,
    }


def order_view(order: m.Order, side: str | None) -> dict[str, Any]:
    """A Kalshi order in the person's terms (see :mod:`shared.trading.translate`)."""
    book_side = order.book_side or _DIRECTION.get((order.action or "", order.side or ""), "bid")
    shown = side if side in SIDES else (order.side if order.side in SIDES else "yes")
    assert shown is not None
    action, price = from_book(book_side, order.yes_price_dollars, shown)
    fees = (order.taker_fees_dollars or Decimal(0)) + (order.maker_fees_dollars or Decimal(0))
    cost = (order.taker_fill_cost_dollars or Decimal(0)) + (
        order.maker_fill_cost_dollars or Decimal(0)
    )
    return {
        "id": order.order_id,
        "client_order_id": order.client_order_id,
        "ticker": order.ticker,
        "side": shown,
        "action": action,
        "price": _price(price),
        "count": _count(order.initial_count_fp),
        "filled_count": _count(order.fill_count_fp or Decimal(0)),
        "remaining_count": _count(order.remaining_count_fp or Decimal(0)),
        "status": order.status,
        "book_side": book_side,
        "yes_price": _price(order.yes_price_dollars),
        "fill_cost": _money(cost),
        "fees": _money(fees),
        "self_trade_prevention_type": order.self_trade_prevention_type,
        "created_time": order.created_time.isoformat() if order.created_time else None,
        "last_update_time": (
            order.last_update_time.isoformat() if order.last_update_time else None
        ),
        "expiration_time": order.expiration_time.isoformat() if order.expiration_time else None,
    }


def _created_view(
    ticket: Ticket, create: CreateOrder, answer: m.CreateOrderV2Response
) -> dict[str, Any]:
    """The order as Kalshi's create answer leaves it (no extra read on the hot path)."""
    filled = answer.fill_count or Decimal(0)
    remaining = (
        answer.remaining_count if answer.remaining_count is not None else ticket.count - filled
    )
    if remaining > 0:
        status = "resting"
    elif filled >= ticket.count:
        status = "executed"
    else:
        status = "canceled"  # an IOC/FOK remainder, or a self-trade prevented
    average = None
    if answer.average_fill_price is not None:
        average = book_price(ticket.side, answer.average_fill_price)
    book_side, yes_price = ticket.book
    return {
        "id": answer.order_id,
        "client_order_id": answer.client_order_id or create.client_order_id,
        "ticker": ticket.ticker,
        "side": ticket.side,
        "action": ticket.action,
        "price": _price(ticket.price),
        "count": _count(ticket.count),
        "filled_count": _count(filled),
        "remaining_count": _count(remaining),
        "status": status,
        "time_in_force": ticket.time_in_force,
        "book_side": book_side,
        "yes_price": _price(yes_price),
        "average_fill_price": _price(average),
        "average_fee_paid": _price(answer.average_fee_paid),
        "self_trade_prevention_type": create.self_trade_prevention_type,
    }


class TradingService:
    """See the module docstring. One per instance, over the account service."""

    def __init__(self, account: AccountService, *, rules: MarketRulesCache | None = None) -> None:
        self.account = account
        self.rules = rules or MarketRulesCache()

    # ---- plumbing

    def _client(self, principal: Principal) -> KalshiClient:
        return self.account.kalshi_client(principal)

    def _kalshi(self, principal: Principal, call: Callable[[], _T]) -> _T:
        """Run a Kalshi call; a key Kalshi rejects outright is revoked as on a read."""
        try:
            return call()
        except AuthenticationError as rejected:
            self.account.key_rejected(principal.user_id, rejected.message or "rejected")
            raise ApiError(
                401,
                "kalshi_key_revoked",
                "Kalshi no longer accepts the stored key; sign in again with a working key",
            ) from None
        except KalshiError as error:
            raise kalshi_error(error) from None

    @staticmethod
    def _preferences(conn: Connection, user_id: uuid.UUID) -> TradingPreferences:
        stored = conn.execute(
            text("SELECT settings FROM user_settings WHERE user_id = :user_id"),
            {"user_id": user_id},
        ).scalar_one_or_none()
        return stored_trading(stored)

    def preferences(self, principal: Principal) -> TradingPreferences:
        with self.account.engine.begin() as conn:
            return self._preferences(conn, principal.user_id)

    def _market(self, principal: Principal, client: KalshiClient, ticker: str) -> MarketRules:
        try:
            return self._kalshi(principal, lambda: self.rules.rules(client, ticker))
        except UnknownMarket:
            raise ApiError(
                404, "unknown_market", f"there is no market {ticker} on Kalshi"
            ) from None

    @staticmethod
    def _grid_error(rules: MarketRules, ticket_price: Decimal, yes_price: Decimal) -> ApiError:
        return ApiError(
            400,
            "invalid_price",
            f"{ticket_price:.4f} is not a price on {rules.ticker}: {rules.describe_grid()}",
        )

    def _refuse(
        self,
        principal: Principal,
        action: str,
        request: Mapping[str, Any],
        error: ApiError,
        *,
        ticker: str | None = None,
        order_id: str | None = None,
    ) -> _Refused:
        with self.account.engine.begin() as conn:
            audit.record_request(
                conn,
                principal,
                action,
                request,
                ticker=ticker,
                order_id=order_id,
                answer=_error_answer(error),
            )
        return _Refused(error)

    def _send(
        self,
        principal: Principal,
        audit_id: int,
        call: Callable[[], _T],
        answer: Callable[[_T], AuditAnswer],
        *,
        conn: Connection | None = None,
    ) -> _T:
        """Send ``call`` to Kalshi and complete audit row ``audit_id`` with its answer (on
        ``conn`` when the caller holds one, else on a connection of its own)."""
        try:
            result = self._kalshi(principal, call)
        except ApiError as error:
            self._complete(
                conn, principal, audit_id, _error_answer(error, failed=error.status >= 500)
            )
            raise
        except BaseException:
            failed = AuditAnswer("failed", error_code="internal", error_message="no answer")
            self._complete(conn, principal, audit_id, failed)
            raise
        self._complete(conn, principal, audit_id, answer(result))
        self.account.cache.forget(principal.user_id)  # positions and balance just moved
        return result

    def _complete(
        self, conn: Connection | None, principal: Principal, audit_id: int, answer: AuditAnswer
    ) -> None:
        if conn is None:
            with self.account.engine.begin() as own:
                audit.record_answer(own, principal.user_id, audit_id, answer)
            return
        audit.record_answer_alone(conn, principal.user_id, audit_id, answer)

    # ---- place

    def place(self, principal: Principal, body: Any) -> dict[str, Any]:
        """``POST /orders``: the order as Kalshi took it (201)."""
        require_scope(principal, "trade")
        try:
            ticket = parse_ticket(body)
        except TicketError as bad:
            raise _bad(bad) from None
        try:
            return self._place(principal, ticket, "place", enforce_limits=True)
        except _Refused as refused:
            raise refused.error from None

    def _place(
        self, principal: Principal, ticket: Ticket, action: str, *, enforce_limits: bool
    ) -> dict[str, Any]:
        """Check, record, send, complete, on one database connection in as few round trips
        as the audit allows (ADR 0197, ADR 0205, ADR 0221): the market's rules come first,
        from this instance's cache (Kalshi only on a miss), then one statement, committed
        as Postgres answers it, inserts the audit row as ``sent`` and reads the user's
        settings; the switch and limits are checked (a refusal completes the row in one
        more statement); Kalshi's answer then completes the row in one statement sent
        outside any transaction.

        Inside a request, the connection is the one the request authenticated on
        (:meth:`AccountService.held_connection`), the authentication's statement already
        committed. Should it hold an open transaction (a caller's own), that transaction is
        committed before Kalshi is asked, so no transaction waits on the network."""
        # The client order id is fixed before anything is recorded or sent: the audit row
        # names the id Kalshi will see, and a retried create reuses it.
        ticket = replace(ticket, client_order_id=ticket.client_order_id or str(uuid.uuid4()))
        client = self._client(principal)
        held = self.account.held_connection()
        with nullcontext(held) if held is not None else self.account.engine.connect() as conn:
            refusal: ApiError | None = None
            rules = self.rules.peek(ticket.ticker)
            try:
                if rules is None:
                    if conn.in_transaction():
                        conn.commit()
                    rules = self._market(principal, client, ticket.ticker)
                refusal = self._off_grid(rules, ticket)
            except ApiError as error:
                if error.status != 404:
                    raise
                refusal = error
            if refusal is not None or rules is None:  # no such market, or off its grid
                refusal = refusal or ApiError(404, "unknown_market", "no such market")
                audit.record_request(
                    conn, principal, action, ticket.to_json(), ticker=ticket.ticker,
                    answer=_error_answer(refusal),
                )  # fmt: skip
                conn.commit()
                raise refusal
            create = self._create_order(ticket, rules)
            # Each statement commits when Postgres answers (ADR 0221): the row is durable
            # as `sent` before anything is sent, with no BEGIN/COMMIT round trips. A
            # refusal completes it in a second statement; until then (or if the instance
            # dies in between) it reads `sent`, the state ADR 0197 gives every row whose
            # fate the function never recorded.
            with audit.autocommitted(conn):
                audit_id, settings = audit.record_sent_reading_settings(
                    conn,
                    principal,
                    action,
                    {**ticket.to_json(), "kalshi": create.body()},
                    ticker=rules.ticker,
                    client_order_id=create.client_order_id,
                )
                refusal = self._gate(
                    ticket, stored_trading(settings), enforce_limits=enforce_limits
                )
                if refusal is not None:
                    audit.record_answer(
                        conn, principal.user_id, audit_id, _error_answer(refusal), unsent=True
                    )
            if refusal is not None:
                raise refusal
            # The row is committed and the connection out of any transaction: the
            # completion is one statement, sent alone (no BEGIN/COMMIT round trips).
            orders = KalshiOrders(client)
            answer = self._send(
                principal,
                audit_id,
                lambda: orders.create(create),
                lambda a: AuditAnswer("accepted", 201, a.order_id, msgspec_json(a)),
                conn=conn,
            )
        return _created_view(ticket, create, answer)

    @staticmethod
    def _gate(
        ticket: Ticket, preferences: TradingPreferences, *, enforce_limits: bool
    ) -> ApiError | None:
        """The user's switch and limits, as the refusal to answer (None: may trade)."""
        if not preferences.enabled:
            return ApiError(
                403,
                "trading_disabled",
                "trading is off for this account; turn it on in settings "
                '(PUT /api/v1/account/settings {"trading_enabled": true})',
            )
        if enforce_limits:
            try:
                check_limits(ticket, preferences)
            except LimitExceeded as over:
                return ApiError(403, over.code, over.message)
        return None

    def _off_grid(self, rules: MarketRules, ticket: Ticket) -> ApiError | None:
        _, yes_price = ticket.book
        return (
            None if rules.on_grid(yes_price) else self._grid_error(rules, ticket.price, yes_price)
        )

    @staticmethod
    def _create_order(ticket: Ticket, rules: MarketRules) -> CreateOrder:
        book_side, yes_price = ticket.book
        return CreateOrder(
            ticker=rules.ticker,
            side=book_side,
            count=ticket.count,
            price=yes_price,
            time_in_force=ticket.time_in_force,
            self_trade_prevention_type=SELF_TRADE_PREVENTION,
            client_order_id=ticket.client_order_id or str(uuid.uuid4()),
        )

    # ---- preview

    def preview(self, principal: Principal, body: Any) -> dict[str, Any]:
        """``POST /orders/preview``: what the ticket would cost (no order is sent)."""
        require_scope(principal, "read")
        try:
            ticket = parse_ticket(body)
        except TicketError as bad:
            raise _bad(bad) from None
        client = self._client(principal)
        rules = self._market(principal, client, ticket.ticker)
        _, yes_price = ticket.book
        if not rules.on_grid(yes_price):
            raise self._grid_error(rules, ticket.price, yes_price)
        with self.account.engine.begin() as conn:
            preferences = self._preferences(conn, principal.user_id)
        out = preview(ticket, rules)
        try:
            check_limits(ticket, preferences)
            within = True
        except LimitExceeded:
            within = False
        out["trading_enabled"] = preferences.enabled
        out["within_limits"] = within
        return out

    # ---- reads

    def _sides(self, principal: Principal, order_ids: list[str]) -> dict[str, str]:
        with self.account.engine.begin() as conn:
            return audit.order_sides(conn, principal.user_id, order_ids)

    @staticmethod
    def _order_id(order_id: str) -> str:
        if not _ORDER_ID.match(order_id):
            raise ApiError(404, "order_not_found", "no such order")
        return order_id

    def list_orders(
        self,
        principal: Principal,
        *,
        status: str | None,
        ticker: str | None,
        cursor: str | None,
        limit: int,
    ) -> dict[str, Any]:
        """``GET /orders``: the user's orders newest first, one page (Kalshi's cursor wrapped
        in ours, bound to the filters and the page size)."""
        require_scope(principal, "read")
        view = {"v": "orders", "s": status, "t": ticker, "l": limit}
        upstream: str | None = None
        if cursor:
            position = decode_cursor(cursor)
            if {k: position.get(k) for k in view} != view or not isinstance(position.get("k"), str):
                raise invalid_cursor()
            upstream = str(position["k"])
        client = self._client(principal)
        filters: dict[str, str] = {}
        if status:
            filters["status"] = status
        if ticker:
            filters["ticker"] = ticker
        page = self._kalshi(
            principal, lambda: client.get_orders(cursor=upstream, limit=limit, **filters)
        )
        sides = self._sides(principal, [o.order_id for o in page.orders])
        return {
            "orders": [order_view(o, sides.get(o.order_id)) for o in page.orders],
            "cursor": encode_cursor({**view, "k": page.cursor}) if page.cursor else None,
        }

    def get_order(self, principal: Principal, order_id: str) -> dict[str, Any]:
        """``GET /orders/{id}``: the order and its fills."""
        require_scope(principal, "read")
        order_id = self._order_id(order_id)
        client = self._client(principal)
        order = self._read_order(principal, KalshiOrders(client), order_id)
        fills = self._kalshi(principal, lambda: client.get_fills(order_id=order_id, limit=200))
        side = self._sides(principal, [order_id]).get(order_id)
        view = order_view(order, side)
        view["fills"] = [fill_view(f, view["side"]) for f in fills.fills]
        return view

    def _read_order(self, principal: Principal, orders: KalshiOrders, order_id: str) -> m.Order:
        try:
            return self._kalshi(principal, lambda: orders.get(order_id))
        except ApiError as error:
            if error.status == 404:
                raise ApiError(404, "order_not_found", "no such order") from None
            raise

    # ---- amend

    def amend(self, principal: Principal, order_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /orders/{id}``: a new price (of the order's side) and/or a new number of
        contracts still wanted; Kalshi's amend takes the total, so filled ones are added."""
        require_scope(principal, "trade")
        order_id = self._order_id(order_id)
        if not isinstance(body, dict) or not body:
            raise ApiError(400, "invalid_order", "send price and/or count as a JSON object")
        unknown = sorted(set(body) - {"price", "count"})
        if unknown:
            raise ApiError(
                400, "invalid_order", f"unknown field {unknown[0][:40]!r}; send price and/or count"
            )
        try:
            new_price = parse_price(body["price"]) if body.get("price") is not None else None
            remaining = parse_count(body["count"]) if body.get("count") is not None else None
        except TicketError as bad:
            raise _bad(bad) from None
        if new_price is None and remaining is None:
            raise ApiError(400, "invalid_order", "send price and/or count")
        client = self._client(principal)
        orders = KalshiOrders(client)
        order = self._read_order(principal, orders, order_id)
        side = self._sides(principal, [order_id]).get(order_id)
        current = order_view(order, side)
        if order.status != "resting":
            raise ApiError(
                409,
                "order_not_open",
                f"the order is {order.status}; only resting orders can be changed",
            )
        shown = str(current["side"])
        filled = order.fill_count_fp or Decimal(0)
        want = remaining if remaining is not None else (order.remaining_count_fp or Decimal(0))
        price = new_price if new_price is not None else Decimal(str(current["price"]))
        ticket = Ticket(
            ticker=order.ticker,
            side=shown,
            action=str(current["action"]),
            count=want + filled,
            price=price,
        )
        request = {"order_id": order_id, **ticket.to_json(), "remaining_count": f"{want:.2f}"}
        with self.account.engine.begin() as conn:
            preferences = self._preferences(conn, principal.user_id)
        if not preferences.enabled:
            raise self._refused_now(
                principal, "amend", request, order_id, ApiError(
                    403, "trading_disabled", "trading is off for this account; turn it on first"
                ),
            )  # fmt: skip
        try:
            check_limits(ticket, preferences)
        except LimitExceeded as over:
            raise self._refused_now(
                principal, "amend", request, order_id, ApiError(403, over.code, over.message)
            ) from None
        book_side, yes_price = ticket.book
        rules = self._market(principal, client, order.ticker)
        if not rules.on_grid(yes_price):
            raise self._refused_now(
                principal, "amend", request, order_id, self._grid_error(rules, price, yes_price)
            )
        with self.account.engine.begin() as conn:
            audit_id = audit.record_request(
                conn,
                principal,
                "amend",
                {**request, "kalshi": {"side": book_side, "price": f"{yes_price:.4f}"}},
                ticker=order.ticker,
                client_order_id=order.client_order_id,
                order_id=order_id,
            )
        answer = self._send(
            principal,
            audit_id,
            lambda: orders.amend(
                order_id, ticker=order.ticker, side=book_side, price=yes_price, count=ticket.count
            ),
            lambda a: AuditAnswer("accepted", 200, a.order_id, msgspec_json(a)),
        )
        amended = self._read_order(principal, orders, answer.order_id)
        return order_view(amended, shown)

    def _refused_now(
        self,
        principal: Principal,
        action: str,
        request: Mapping[str, Any],
        order_id: str,
        error: ApiError,
    ) -> ApiError:
        self._refuse(
            principal, action, request, error, ticker=request.get("ticker"), order_id=order_id
        )
        return error

    # ---- cancel

    def cancel(self, principal: Principal, order_id: str) -> dict[str, Any]:
        """``DELETE /orders/{id}``: the order as canceled (404 for an order the user's key
        does not own, or one no longer open)."""
        require_scope(principal, "trade")
        order_id = self._order_id(order_id)
        client = self._client(principal)
        orders = KalshiOrders(client)
        with self.account.engine.begin() as conn:
            audit_id = audit.record_request(
                conn, principal, "cancel", {"order_id": order_id}, order_id=order_id
            )
        try:
            self._send(
                principal,
                audit_id,
                lambda: orders.cancel(order_id),
                lambda a: AuditAnswer("accepted", 200, a.order_id, msgspec_json(a)),
            )
        except ApiError as error:
            if error.status == 404:
                raise ApiError(
                    404, "order_not_found", "no such open order (unknown, canceled or executed)"
                ) from None
            raise
        order = self._read_order(principal, orders, order_id)
        return order_view(order, self._sides(principal, [order_id]).get(order_id))

    def cancel_all(self, principal: Principal, ticker: str | None) -> dict[str, Any]:
        """``DELETE /orders``: cancel every resting order (of one market with ``ticker``)."""
        require_scope(principal, "trade")
        client = self._client(principal)
        orders = KalshiOrders(client)
        resting = self._kalshi(
            principal,
            lambda: orders.list_orders(ticker=ticker, status="resting"),
        )
        ids = [o.order_id for o in resting]
        canceled: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for start in range(0, len(ids), BATCH_CANCEL_SIZE):
            chunk = ids[start : start + BATCH_CANCEL_SIZE]
            with self.account.engine.begin() as conn:
                audit_id = audit.record_request(
                    conn, principal, "cancel_all", {"ticker": ticker, "order_ids": chunk},
                    ticker=ticker,
                )  # fmt: skip
            result = self._send(
                principal,
                audit_id,
                lambda chunk=chunk: orders.batch_cancel(chunk),  # type: ignore[misc]
                lambda a: AuditAnswer("accepted", 200, None, msgspec_json(a)),
            )
            for item in result.orders:
                if item.error is not None:
                    failed.append(
                        {
                            "id": item.order_id,
                            "error": item.error.code or "kalshi_rejected",
                            "message": item.error.message or "",
                        }
                    )
                else:
                    canceled.append({"id": item.order_id, "reduced_by": _count(item.reduced_by)})
        return {"canceled": canceled, "failed": failed}

    # ---- close a position

    def close_position(self, principal: Principal, ticker: str, body: Any) -> dict[str, Any]:
        """``POST /positions/{ticker}/close``: sell what is held with an immediate-or-cancel
        order no worse than ``worst_price`` (of the held side); ``count`` closes part.

        Per-order limits do not apply: closing only ever reduces what is at risk."""
        require_scope(principal, "trade")
        try:
            ticker = parse_ticker(ticker)
        except TicketError as bad:
            raise ApiError(404, "unknown_market", bad.message) from None
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_order", "the body must be a JSON object")
        unknown = sorted(set(body) - {"worst_price", "count", "client_order_id"})
        if unknown:
            raise ApiError(
                400,
                "invalid_order",
                f"unknown field {unknown[0][:40]!r}; send worst_price, count, client_order_id",
            )
        if body.get("worst_price") is None:
            raise ApiError(400, "invalid_order", "worst_price is required")
        try:
            worst = parse_price(body["worst_price"], "worst_price")
            count = parse_count(body["count"]) if body.get("count") is not None else None
        except TicketError as bad:
            raise _bad(bad) from None
        client_order_id = body.get("client_order_id")
        if client_order_id is not None and (
            not isinstance(client_order_id, str) or not _ORDER_ID.match(client_order_id)
        ):
            raise ApiError(
                400, "invalid_order", "client_order_id must be 1 to 64 letters, digits, '-' or '_'"
            )
        client = self._client(principal)
        authenticated_on = self.account.held_connection()
        if authenticated_on is not None and authenticated_on.in_transaction():
            authenticated_on.commit()  # nothing waits on Kalshi inside a transaction
        page = self._kalshi(principal, lambda: client.get_positions(ticker=ticker, limit=10))
        held = next(
            (p.position_fp for p in page.market_positions if p.ticker == ticker), Decimal(0)
        )
        if held == 0:
            raise ApiError(409, "no_position", f"there is no open position in {ticker}")
        side = "yes" if held > 0 else "no"
        size = abs(held)
        if count is not None and count > size:
            raise ApiError(
                400, "invalid_order", f"count {count:.2f} is more than the {size:.2f} held"
            )
        ticket = Ticket(
            ticker=ticker,
            side=side,
            action="sell",
            count=count or size,
            price=worst,
            time_in_force="immediate_or_cancel",
            client_order_id=client_order_id,
        )
        try:
            return self._place(principal, ticket, "close", enforce_limits=False)
        except _Refused as refused:
            raise refused.error from None


def msgspec_json(value: object) -> dict[str, Any]:
    """A decoded Kalshi model back as JSON-ready data (for the audit's ``response``)."""
    import msgspec

    data = msgspec.to_builtins(value)
    return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else {}
