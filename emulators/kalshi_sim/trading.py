"""Order entry over REST: Kalshi's V2 order writes and the order reads, Kalshi-shaped.

Writes live under ``/portfolio/events/orders`` (create, amend, decrease, cancel, batch
create, batch cancel); reads stay at ``/portfolio/orders`` (there are no V2 reads), plus the
queue positions. Request bodies are decoded the way Kalshi's Go service does: a field of the
wrong JSON type is the flat ``bad_request`` with Go's unmarshal wording (recorded), a missing
or invalid required field is the flat ``bad_request`` with Go's validator wording. Exchange
refusals use the nested bodies the recordings show (``order_already_exists`` 409,
``insufficient_balance``, ``invalid_price``, ``invalid_order``/"post only cross" 400,
``not_found`` 404). A key without the trade scope gets 403 ``forbidden``.

The matching itself is :mod:`~emulators.kalshi_sim.matching`; this module validates,
answers, and dispatches the happenings (fills, positions, ``user_orders``) to the hub.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.kalshi_sim import errors, render, wire
from emulators.kalshi_sim.matching import OrderReject
from emulators.kalshi_sim.model import SECOND_US, Happening, Market, OrderNotice
from emulators.kalshi_sim.rest import _account_page, _list_param, endpoint
from emulators.kalshi_sim.wire import COUNT_ONE, PRICE_ONE

if TYPE_CHECKING:
    from emulators.kalshi_sim.accounts import Account, Order
    from emulators.kalshi_sim.state import SimState

__all__ = ["MAX_BATCH", "routes"]

# The batch cap scales with the tier's write budget: Basic holds 100 tokens, 10 per order.
MAX_BATCH = 10

_COUNT = re.compile(r"^\d+(\.\d{1,2})?$")
_PRICE = re.compile(r"^\d+(\.\d{1,4})?$")
_TIME_IN_FORCE = ("fill_or_kill", "good_till_canceled", "immediate_or_cancel")
_STP = ("taker_at_cross", "maker")

_GO_TYPES = {str: "string", bool: "bool", int: "int64"}
_JSON_TYPES = {str: "string", bool: "bool", int: "number", float: "number", list: "array"}

# field -> Python type, for each request struct
_CREATE = {
    "ticker": str,
    "client_order_id": str,
    "side": str,
    "count": str,
    "price": str,
    "expiration_time": int,
    "time_in_force": str,
    "post_only": bool,
    "self_trade_prevention_type": str,
    "cancel_order_on_pause": bool,
    "reduce_only": bool,
    "subaccount": int,
    "order_group_id": str,
    "exchange_index": int,
}
_AMEND = {
    "ticker": str,
    "side": str,
    "price": str,
    "count": str,
    "client_order_id": str,
    "updated_client_order_id": str,
    "exchange_index": int,
}
_DECREASE = {"reduce_by": str, "reduce_to": str, "exchange_index": int, "market_ticker": str}


class _Bad(Exception):
    """A request Kalshi's decoder or validator refuses: the flat ``bad_request`` body."""

    def __init__(self, details: str) -> None:
        super().__init__(details)
        self.details = details

    def response(self) -> Response:
        return errors.flat(400, "bad_request", "bad request", self.details)


def _reply_reject(reject: OrderReject) -> Response:
    return errors.nested(reject.status, reject.code, reject.message, reject.details)


def _go_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_")).replace("Id", "ID")


def _decode(raw: bytes, struct: str, fields: dict[str, type]) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"null")
    except ValueError:
        raise _Bad("invalid character in JSON body") from None
    if not isinstance(data, dict):
        raise _Bad(f"json: cannot unmarshal {_json_type(data)} into Go value of type {struct}")
    return _typed(data, struct, fields)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    return _JSON_TYPES.get(type(value), "value")


def _typed(data: dict[str, Any], struct: str, fields: dict[str, type]) -> dict[str, Any]:
    for name, kind in fields.items():
        value = data.get(name)
        if value is None:
            continue
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if not ok:
            raise _Bad(
                f"json: cannot unmarshal {_json_type(value)} into Go struct field "
                f"{struct}.{name} of type {_GO_TYPES[kind]}"
            )
    return data


def _required(data: dict[str, Any], struct: str, name: str, choices: tuple[str, ...] = ()) -> str:
    value = data.get(name)
    if not value:
        raise _Bad(_violation(struct, name, "required"))
    if choices and value not in choices:
        raise _Bad(_violation(struct, name, "oneof"))
    return str(value)


def _violation(struct: str, name: str, tag: str) -> str:
    go = _go_name(name)
    return f"Key: '{struct}.{go}' Error:Field validation for '{go}' failed on the '{tag}' tag"


def parse_count(text: str, name: str = "count") -> int:
    """``"10"``, ``"10.5"``, ``"10.50"`` -> hundredths; anything else is a bad request."""
    if not _COUNT.match(text):
        raise _Bad(f"invalid {name}: {text!r} is not a fixed-point count")
    whole, _, frac = text.partition(".")
    return int(whole) * COUNT_ONE + int((frac + "00")[:2])


def parse_price(text: str, market: Market) -> int:
    """``"0.56"``/``"0.5600"`` -> centi-cents on the market's grid, else ``invalid_price``."""
    if not _PRICE.match(text):
        raise _Bad(f"invalid price: {text!r} is not a fixed-point dollar amount")
    whole, _, frac = text.partition(".")
    value = int(whole) * PRICE_ONE + int((frac + "0000")[:4])
    if not 0 < value < PRICE_ONE or value % market.step:
        raise OrderReject(400, "invalid_price", "invalid price")
    return value


def _known_market(state: SimState, ticker: str) -> Market:
    market = state.exchange.markets.get(ticker)
    if market is None:
        raise OrderReject(404, "not_found", "not found")
    return market


def _own_order(account: Account, order_id: str) -> Order:
    order = account.orders.get(order_id)
    if order is None:
        raise OrderReject(404, "not_found", "not found")
    return order


def _open_order(account: Account, order_id: str) -> Order:
    """A resting order of the account; unknown, canceled and executed ones are 404."""
    order = _own_order(account, order_id)
    if order.status != "resting":
        raise OrderReject(404, "not_found", "not found")
    return order


def _require_trading(account: Account) -> None:
    if not account.trading:
        raise OrderReject(403, "forbidden", "forbidden", "api key lacks the write::trade scope")


def _averages(filled: int, cost: int, fees: int) -> dict[str, str]:
    if not filled:
        return {}
    return {
        # cost is yes-price centi-cents x hundredths: / hundredths -> centi-cents
        "average_fill_price": wire.price(cost // filled),
        # fees are micro-dollars; per contract: x 100 / hundredths, shown to $0.0001
        "average_fee_paid": wire.micro_4dp(fees * COUNT_ONE // filled),
    }


def _dispatch(state: SimState, out: list[Happening]) -> None:
    state.exchange.clock.version += 1
    state.hub.dispatch(out)


# ---------------------------------------------------------------- create


def _create_one(
    state: SimState, account: Account, data: dict[str, Any], out: list[Happening]
) -> dict[str, Any]:
    """Validate and place one order; returns the V2 create answer. Raises on refusal."""
    struct = "CreateOrderV2Request"
    ticker = _required(data, struct, "ticker")
    side = _required(data, struct, "side", ("bid", "ask"))
    count_text = _required(data, struct, "count")
    price_text = _required(data, struct, "price")
    tif = _required(data, struct, "time_in_force", _TIME_IN_FORCE)
    stp = _required(data, struct, "self_trade_prevention_type", _STP)
    expiration = data.get("expiration_time")
    if expiration is not None and tif == "immediate_or_cancel":
        raise _Bad("expiration_time cannot be combined with immediate_or_cancel")
    count = parse_count(count_text)
    if count <= 0:
        raise _Bad(_violation(struct, "count", "gt"))
    client_order_id = data.get("client_order_id") or state.exchange.clock.new_uuid()
    if client_order_id in account.client_order_ids:
        raise OrderReject(409, "order_already_exists", "order already exists")
    market = _known_market(state, ticker)
    price = parse_price(price_text, market)
    if market.status != "active":
        raise OrderReject(400, "market_inactive", "market inactive")
    matcher = state.exchange.book.matcher
    if data.get("reduce_only"):
        # the count is capped by the position it can reduce; nothing to reduce is refused
        count = min(count, matcher.closable(account, ticker, side))
        if count <= 0:
            raise OrderReject(400, "invalid_order", "invalid order", "reduce only")
    order = matcher.new_order(
        account,
        ticker=ticker,
        book_side=side,
        price=price,
        count=count,
        time_in_force=tif,
        self_trade_prevention_type=stp,
        post_only=bool(data.get("post_only")),
        client_order_id=client_order_id,
        expiration_us=expiration * SECOND_US if expiration is not None else None,
        cancel_on_pause=bool(data.get("cancel_order_on_pause")),
    )
    if order.post_only and matcher.crosses(market, order):
        raise OrderReject(400, "invalid_order", "invalid order", "post only cross")
    matcher.check_balance(account, market, order)
    account.orders[order.order_id] = order
    account.client_order_ids[client_order_id] = order.order_id
    if tif == "fill_or_kill" and matcher.fillable(market, order) < count:
        order.remaining_count = 0
        order.status = "canceled"
        out.append(OrderNotice(order))
        filled, cost, fees = 0, 0, 0
    else:
        result = matcher.execute(market, order, out)
        filled, cost, fees = result.filled, result.cost, result.fees
    answer: dict[str, Any] = {
        "order_id": order.order_id,
        "client_order_id": client_order_id,
        "fill_count": wire.count(filled),
        "remaining_count": wire.count(order.remaining_count),
        "ts_ms": state.exchange.now_ms,
    }
    answer.update(_averages(filled, cost, fees))
    return answer


@endpoint(auth_required=True)
async def create_order(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    out: list[Happening] = []
    try:
        _require_trading(account)
        data = _decode(await request.body(), "CreateOrderV2Request", _CREATE)
        answer = _create_one(state, account, data, out)
    except _Bad as bad:
        return bad.response()
    except OrderReject as reject:
        return _reply_reject(reject)
    finally:
        _dispatch(state, out)
    if state.faults.take_order_drop():
        _drop_connection(request)
    return errors.json_response(wire.encode(answer), 201)


def _drop_connection(request: Request) -> None:
    """Cut the TCP connection with no response: the order stands, the answer is lost.

    ASGI cannot drop a connection, uvicorn's protocol can: the app's outermost layer hands
    the server's own ``send`` down (``sim.raw_send``), whose owner holds the transport.
    """
    raw = request.scope.get("sim.raw_send")
    transport = getattr(getattr(raw, "__self__", None), "transport", None)
    if transport is not None:
        transport.abort()


@endpoint(auth_required=True)
async def batch_create(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    out: list[Happening] = []
    try:
        _require_trading(account)
        data = _decode(await request.body(), "BatchCreateOrdersV2Request", {"orders": list})
        items = data.get("orders")
        if not items:
            raise _Bad(_violation("BatchCreateOrdersV2Request", "orders", "required"))
        if len(items) > MAX_BATCH:
            raise _Bad(f"batch of {len(items)} orders exceeds the maximum of {MAX_BATCH}")
        answers = []
        for item in items:
            item_cid = item.get("client_order_id") if isinstance(item, dict) else None
            try:
                if not isinstance(item, dict):
                    raise _Bad(
                        f"json: cannot unmarshal {_json_type(item)} into Go value of type "
                        "CreateOrderV2Request"
                    )
                typed = _typed(item, "CreateOrderV2Request", _CREATE)
                answers.append(_create_one(state, account, typed, out))
            except _Bad as bad:
                answers.append(
                    {
                        "client_order_id": item_cid,
                        "error": {
                            "code": "bad_request",
                            "message": "bad request",
                            "details": bad.details,
                        },
                    }
                )
            except OrderReject as reject:
                error = {"code": reject.code, "message": reject.message}
                if reject.details:
                    error["details"] = reject.details
                answers.append({"client_order_id": item_cid, "error": error})
    except _Bad as bad:
        return bad.response()
    except OrderReject as reject:
        return _reply_reject(reject)
    finally:
        _dispatch(state, out)
    return errors.json_response(wire.encode({"orders": answers}), 201)


# ---------------------------------------------------------------- cancel, amend, decrease


def _cancel_answer(
    state: SimState, account: Account, order_id: str, out: list[Happening]
) -> dict[str, Any]:
    order = _open_order(account, order_id)
    market = state.exchange.markets[order.ticker]
    reduced = state.exchange.book.matcher.cancel(market, order, out)
    return {
        "order_id": order.order_id,
        "reduced_by": wire.count(reduced),
        "ts_ms": state.exchange.now_ms,
    }


@endpoint(auth_required=True)
async def cancel_order(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    out: list[Happening] = []
    try:
        _require_trading(account)
        answer = _cancel_answer(state, account, request.path_params["order_id"], out)
    except OrderReject as reject:
        return _reply_reject(reject)
    finally:
        _dispatch(state, out)
    return errors.json_response(wire.encode(answer))


@endpoint(auth_required=True)
async def batch_cancel(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    out: list[Happening] = []
    try:
        _require_trading(account)
        data = _decode(await request.body(), "BatchCancelOrdersV2Request", {"orders": list})
        items = data.get("orders")
        if not items:
            raise _Bad(_violation("BatchCancelOrdersV2Request", "orders", "required"))
        if len(items) > MAX_BATCH * 5:  # a cancel item costs 2 tokens, not 10
            raise _Bad(f"batch of {len(items)} cancels exceeds the maximum of {MAX_BATCH * 5}")
        answers = []
        for item in items:
            order_id = item.get("order_id") if isinstance(item, dict) else None
            if not isinstance(order_id, str) or not order_id:
                raise _Bad(_violation("BatchCancelOrdersV2Request", "order_id", "required"))
            try:
                answer = _cancel_answer(state, account, order_id, out)
                answer["client_order_id"] = account.orders[order_id].client_order_id
                answers.append(answer)
            except OrderReject as reject:
                answers.append(
                    {
                        "order_id": order_id,
                        "reduced_by": "0.00",
                        "error": {"code": reject.code, "message": reject.message},
                    }
                )
    except _Bad as bad:
        return bad.response()
    except OrderReject as reject:
        return _reply_reject(reject)
    finally:
        _dispatch(state, out)
    return errors.json_response(wire.encode({"orders": answers}))


@endpoint(auth_required=True)
async def amend_order(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    out: list[Happening] = []
    struct = "AmendOrderV2Request"
    try:
        _require_trading(account)
        data = _decode(await request.body(), struct, _AMEND)
        ticker = _required(data, struct, "ticker")
        side = _required(data, struct, "side", ("bid", "ask"))
        price_text = _required(data, struct, "price")
        count = parse_count(_required(data, struct, "count"))
        order = _open_order(account, request.path_params["order_id"])
        if ticker != order.ticker or side != order.book_side:
            raise OrderReject(400, "invalid_order", "invalid order", "ticker or side differs")
        cid = data.get("client_order_id")
        if cid and cid != order.client_order_id:
            raise OrderReject(400, "invalid_order", "invalid order", "client_order_id differs")
        market = state.exchange.markets[order.ticker]
        price = parse_price(price_text, market)
        if market.status != "active":
            raise OrderReject(400, "market_inactive", "market inactive")
        remaining = count - order.fill_count
        if remaining <= 0:
            raise OrderReject(400, "invalid_order", "invalid order", "count must exceed filled")
        new_cid = data.get("updated_client_order_id")
        if new_cid and new_cid != order.client_order_id and new_cid in account.client_order_ids:
            raise OrderReject(409, "order_already_exists", "order already exists")
        matcher = state.exchange.book.matcher
        if order.post_only and price != order.price:
            probe_price, order.price = order.price, price
            crossing = matcher.crosses(market, order)
            order.price = probe_price
            if crossing:
                raise OrderReject(400, "invalid_order", "invalid order", "post only cross")
        before = order.remaining_count
        if remaining > before or price != order.price:
            extra = order.remaining_count
            order.remaining_count = remaining
            probe_price, order.price = order.price, price
            try:
                matcher.check_balance(account, market, order)
            finally:
                order.remaining_count, order.price = extra, probe_price
        if new_cid and new_cid != order.client_order_id:
            account.client_order_ids[new_cid] = order.order_id
            order.client_order_id = new_cid
        order.initial_count = count
        result = matcher.amend(market, order, price, remaining, out)
    except _Bad as bad:
        return bad.response()
    except OrderReject as reject:
        return _reply_reject(reject)
    finally:
        _dispatch(state, out)
    answer: dict[str, Any] = {
        "order_id": order.order_id,
        "client_order_id": order.client_order_id,
        "remaining_count": wire.count(order.remaining_count),
        "fill_count": wire.count(result.filled),
        "ts_ms": state.exchange.now_ms,
    }
    answer.update(_averages(result.filled, result.cost, result.fees))
    return errors.json_response(wire.encode(answer))


@endpoint(auth_required=True)
async def decrease_order(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    out: list[Happening] = []
    struct = "DecreaseOrderV2Request"
    try:
        _require_trading(account)
        data = _decode(await request.body(), struct, _DECREASE)
        by, to = data.get("reduce_by"), data.get("reduce_to")
        if (by is None) == (to is None):
            raise _Bad("exactly one of reduce_by or reduce_to must be provided")
        order = _open_order(account, request.path_params["order_id"])
        if by is not None:
            target = order.remaining_count - parse_count(str(by), "reduce_by")
        else:
            target = parse_count(str(to), "reduce_to")
        if target >= order.remaining_count:
            raise OrderReject(400, "invalid_order", "invalid order", "decrease must reduce")
        market = state.exchange.markets[order.ticker]
        state.exchange.book.matcher.decrease(market, order, max(0, target), out)
    except _Bad as bad:
        return bad.response()
    except OrderReject as reject:
        return _reply_reject(reject)
    finally:
        _dispatch(state, out)
    return errors.json_response(
        wire.encode(
            {
                "order_id": order.order_id,
                "client_order_id": order.client_order_id,
                "remaining_count": wire.count(order.remaining_count),
                "ts_ms": state.exchange.now_ms,
            }
        )
    )


# ---------------------------------------------------------------- reads


@endpoint(auth_required=True)
async def orders(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    q = request.query_params
    status = q.get("status") or None
    if status is not None and status not in ("resting", "canceled", "executed"):
        return errors.bare_validation(
            "GetOrders",
            "Key: 'GetOrdersParams.Status' Error:Field validation for 'Status' failed on the "
            "'oneof' tag",
        )
    ticker = q.get("ticker") or None
    events = set(_list_param(request, "event_ticker"))
    markets = state.exchange.markets
    rows = [
        o
        for o in account.orders.values()
        if (ticker is None or o.ticker == ticker)
        and (status is None or o.status == status)
        and (not events or markets[o.ticker].event_ticker in events)
    ]
    rows.sort(key=lambda o: o.seq)
    return _account_page(
        request,
        "GetOrders",
        "o",
        rows,
        render.order_dict,
        "orders",
        lambda o: o.created_us // SECOND_US,
    )


@endpoint(auth_required=True)
async def order_one(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    order = account.orders.get(request.path_params["order_id"])
    if order is None:
        return errors.not_found()
    return errors.json_response(wire.encode({"order": render.order_dict(order)}))


@endpoint(auth_required=True)
async def queue_position(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    order = account.orders.get(request.path_params["order_id"])
    if order is None:
        return errors.not_found()
    market = state.exchange.markets[order.ticker]
    ahead = state.exchange.book.matcher.queue_position(market, order)
    return errors.json_response(wire.encode({"queue_position_fp": wire.count(ahead)}))


@endpoint(auth_required=True)
async def queue_positions(request: Request, state: SimState, account: Account | None) -> Response:
    assert account is not None
    tickers = set(_list_param(request, "market_tickers"))
    event = request.query_params.get("event_ticker") or None
    markets = state.exchange.markets
    matcher = state.exchange.book.matcher
    rows = []
    for order in account.orders.values():
        if order.status != "resting":
            continue
        market = markets[order.ticker]
        if (tickers and order.ticker not in tickers) or (event and market.event_ticker != event):
            continue
        rows.append(
            {
                "order_id": order.order_id,
                "market_ticker": order.ticker,
                "queue_position_fp": wire.count(matcher.queue_position(market, order)),
            }
        )
    return errors.json_response(wire.encode({"queue_positions": rows}))


def routes() -> list[Route]:
    """Mounted before :func:`emulators.kalshi_sim.rest.routes` (fixed paths first)."""
    return [
        Route("/portfolio/events/orders", create_order, methods=["POST"]),
        Route("/portfolio/events/orders/batched", batch_create, methods=["POST"]),
        Route("/portfolio/events/orders/batched", batch_cancel, methods=["DELETE"]),
        Route("/portfolio/events/orders/{order_id}", cancel_order, methods=["DELETE"]),
        Route("/portfolio/events/orders/{order_id}/amend", amend_order, methods=["POST"]),
        Route("/portfolio/events/orders/{order_id}/decrease", decrease_order, methods=["POST"]),
        Route("/portfolio/orders", orders),
        Route("/portfolio/orders/queue_positions", queue_positions),
        Route("/portfolio/orders/{order_id}", order_one),
        Route("/portfolio/orders/{order_id}/queue_position", queue_position),
    ]
