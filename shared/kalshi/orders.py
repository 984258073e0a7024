"""Typed order entry on Kalshi's Orders V2: create, amend, decrease, cancel, batches, reads.

Why a layer of its own over :class:`~shared.kalshi.client.KalshiClient`: placing an order is
the one call where a retry can cost money. Every create carries a ``client_order_id``
(generated when the caller gives none), and a create that timed out or got a 5xx is sent
again with the *same* id, so Kalshi itself refuses a second copy (409
``order_already_exists``). That answer carries no order id, so it is resolved by listing the
ticker's orders: the order with that id and the same parameters is the one we placed
(success); one with different parameters is a :class:`ClientOrderIdConflict`.

V2 quotes everything on the YES book: ``bid`` buys YES, ``ask`` sells YES. Counts and prices
travel as fixed-point strings (``"10.00"``, ``"0.5600"``) and stay :class:`~decimal.Decimal`
here. Writes draw on the key's Write bucket, reads on the Read bucket; a call's cost is
Kalshi's token cost over the default (``GET /account/endpoint_costs``, when loaded with
:meth:`KalshiOrders.load_costs`), so a cancel (2 tokens) takes a fifth of a create's share.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Generic, TypeVar

from shared.kalshi import models as m
from shared.kalshi.client import AsyncKalshiClient, KalshiClient, api_path
from shared.kalshi.errors import ConflictError, KalshiError

__all__ = [
    "AsyncKalshiOrders",
    "ClientOrderIdConflict",
    "CreateOrder",
    "EndpointCosts",
    "KalshiOrders",
    "format_count",
    "format_price",
]

_CREATE_PATH = "/portfolio/events/orders"


def format_count(count: Decimal) -> str:
    """Contracts -> Kalshi's fixed-point count (2 decimals); finer is refused, not rounded."""
    if count <= 0 or count != count.quantize(Decimal("0.01")):
        raise ValueError("count must be positive with at most 2 decimal places")
    return f"{count:.2f}"


def format_price(price: Decimal) -> str:
    """YES price in dollars -> ``"0.5600"``; must lie strictly between 0 and 1."""
    if not Decimal(0) < price < Decimal(1) or price != price.quantize(Decimal("0.0001")):
        raise ValueError("price must be within (0, 1) with at most 4 decimal places")
    return f"{price:.4f}"


class ClientOrderIdConflict(KalshiError):
    """The ``client_order_id`` is taken by an order with different parameters."""

    def __init__(self, client_order_id: str, existing: m.Order | None) -> None:
        super().__init__(
            f"client_order_id {client_order_id!r} already names a different order"
            + (f" ({existing.order_id})" if existing is not None else "")
        )
        self.client_order_id = client_order_id
        self.existing = existing


@dataclass(frozen=True)
class CreateOrder:
    """One V2 limit order. ``side``: ``bid`` (buy YES) or ``ask`` (sell YES)."""

    ticker: str
    side: str
    count: Decimal
    price: Decimal
    time_in_force: str = "good_till_canceled"
    self_trade_prevention_type: str = "taker_at_cross"
    post_only: bool = False
    client_order_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    expiration_time: int | None = None

    def __post_init__(self) -> None:
        if self.side not in ("bid", "ask"):
            raise ValueError("side must be 'bid' or 'ask'")
        if self.time_in_force not in ("good_till_canceled", "immediate_or_cancel", "fill_or_kill"):
            raise ValueError("unknown time_in_force")
        if self.self_trade_prevention_type not in ("taker_at_cross", "maker"):
            raise ValueError("unknown self_trade_prevention_type")
        if not self.client_order_id:
            raise ValueError("client_order_id must not be empty")
        format_count(self.count)
        format_price(self.price)

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "ticker": self.ticker,
            "client_order_id": self.client_order_id,
            "side": self.side,
            "count": format_count(self.count),
            "price": format_price(self.price),
            "time_in_force": self.time_in_force,
            "self_trade_prevention_type": self.self_trade_prevention_type,
            "post_only": self.post_only,
        }
        if self.expiration_time is not None:
            body["expiration_time"] = self.expiration_time
        return body

    def matches(self, order: m.Order) -> bool:
        """Whether ``order`` (as listed) is this request: same id, market, side, price, size."""
        return (
            order.client_order_id == self.client_order_id
            and order.ticker == self.ticker
            and (order.book_side or ("bid" if order.side == "yes" else "ask")) == self.side
            and order.yes_price_dollars == self.price
            and order.initial_count_fp == self.count
        )


@dataclass(frozen=True)
class EndpointCosts:
    """Token cost per endpoint relative to the default (a default request costs 1)."""

    default_cost: int = 10
    costs: Mapping[tuple[str, str], int] = field(default_factory=dict)

    @classmethod
    def from_response(cls, response: m.EndpointCostsResponse) -> EndpointCosts:
        costs = {
            (c.method.upper(), _template(c.path.removeprefix("/trade-api/v2"))): c.cost
            for c in response.endpoint_costs
        }
        return cls(response.default_cost, costs)

    def cost(self, method: str, path: str) -> float:
        tokens = self.costs.get((method.upper(), _template(path)), self.default_cost)
        return tokens / self.default_cost if self.default_cost else 1.0


def _template(path: str) -> str:
    """``/portfolio/orders/abc`` and ``/portfolio/orders/:order_id`` compare equal."""
    parts = path.rstrip("/").split("/")
    fixed = {"portfolio", "events", "orders", "batched", "amend", "decrease", "queue_positions"}
    fixed |= {"queue_position", "account", "markets", "series", "trade-api", "v2"}
    return "/".join(p if (p in fixed or not p) else ":id" for p in parts)


_M = TypeVar("_M")


@dataclass(frozen=True)
class _OrderCall(Generic[_M]):
    """One order endpoint call, described once for the sync and the async helpers."""

    method: str
    path: str
    model: type[_M]
    body: object = None
    params: Mapping[str, str] | None = None
    idempotent: bool = False
    items: int = 1


def _create_call(order: CreateOrder) -> _OrderCall[m.CreateOrderV2Response]:
    # idempotent: the body carries the client_order_id, so a resend cannot place twice
    return _OrderCall("POST", _CREATE_PATH, m.CreateOrderV2Response, order.body(), None, True)


def _resolve_duplicate(order: CreateOrder, listed: Iterable[m.Order]) -> m.CreateOrderV2Response:
    """The 409 answer to ``order``: ours if the listed order with its id matches it."""
    for existing in listed:
        if existing.client_order_id != order.client_order_id:
            continue
        if not order.matches(existing):
            raise ClientOrderIdConflict(order.client_order_id, existing)
        return m.CreateOrderV2Response(
            order_id=existing.order_id,
            client_order_id=existing.client_order_id,
            fill_count=existing.fill_count_fp or Decimal(0),
            remaining_count=existing.remaining_count_fp,
        )
    raise ClientOrderIdConflict(order.client_order_id, None)


def _is_duplicate(error: ConflictError) -> bool:
    return error.code == "order_already_exists"


def _amend_call(
    order_id: str,
    ticker: str,
    side: str,
    price: Decimal,
    count: Decimal,
    updated_client_order_id: str | None,
) -> _OrderCall[m.AmendOrderV2Response]:
    body: dict[str, object] = {
        "ticker": ticker,
        "side": side,
        "price": format_price(price),
        "count": format_count(count),
    }
    if updated_client_order_id:
        body["updated_client_order_id"] = updated_client_order_id
    path = api_path("portfolio", "events", "orders", order_id, "amend")
    return _OrderCall("POST", path, m.AmendOrderV2Response, body)


def _decrease_call(
    order_id: str, reduce_by: Decimal | None, reduce_to: Decimal | None
) -> _OrderCall[m.DecreaseOrderV2Response]:
    if (reduce_by is None) == (reduce_to is None):
        raise ValueError("give exactly one of reduce_by and reduce_to")
    body = (
        {"reduce_by": format_count(reduce_by)}
        if reduce_by is not None
        else {"reduce_to": f"{reduce_to:.2f}"}
    )
    path = api_path("portfolio", "events", "orders", order_id, "decrease")
    return _OrderCall("POST", path, m.DecreaseOrderV2Response, body)


def _cancel_call(order_id: str) -> _OrderCall[m.CancelOrderV2Response]:
    path = api_path("portfolio", "events", "orders", order_id)
    return _OrderCall("DELETE", path, m.CancelOrderV2Response, idempotent=True)


def _batch_create_call(orders: Sequence[CreateOrder]) -> _OrderCall[m.BatchCreateOrdersV2Response]:
    # Not idempotent as a whole: after a lost answer resolve item by item with create().
    body = {"orders": [o.body() for o in orders]}
    path = "/portfolio/events/orders/batched"
    return _OrderCall("POST", path, m.BatchCreateOrdersV2Response, body, items=len(orders))


def _batch_cancel_call(order_ids: Sequence[str]) -> _OrderCall[m.BatchCancelOrdersV2Response]:
    body = {"orders": [{"order_id": i} for i in order_ids]}
    path = "/portfolio/events/orders/batched"
    return _OrderCall(
        "DELETE", path, m.BatchCancelOrdersV2Response, body, None, True, len(order_ids)
    )


def _get_call(order_id: str) -> _OrderCall[m.GetOrderResponse]:
    return _OrderCall("GET", api_path("portfolio", "orders", order_id), m.GetOrderResponse)


def _queue_position_call(order_id: str) -> _OrderCall[m.QueuePositionResponse]:
    path = api_path("portfolio", "orders", order_id, "queue_position")
    return _OrderCall("GET", path, m.QueuePositionResponse)


def _queue_positions_call(
    market_tickers: Sequence[str], event_ticker: str | None
) -> _OrderCall[m.QueuePositionsResponse]:
    params: dict[str, str] = {}
    if market_tickers:
        params["market_tickers"] = ",".join(market_tickers)
    if event_ticker:
        params["event_ticker"] = event_ticker
    path = "/portfolio/orders/queue_positions"
    return _OrderCall("GET", path, m.QueuePositionsResponse, params=params)


_COSTS_CALL = _OrderCall("GET", "/account/endpoint_costs", m.EndpointCostsResponse)


class KalshiOrders:
    """Order entry for one key through ``client`` (its limiter and retry policy apply)."""

    def __init__(self, client: KalshiClient, costs: EndpointCosts | None = None) -> None:
        self.client = client
        self.costs = costs or EndpointCosts()

    def _send(self, call: _OrderCall[_M]) -> _M:
        return self.client.order_call(
            call.method,
            call.path,
            call.model,
            params=call.params,
            body=call.body,
            cost=self.costs.cost(call.method, call.path) * call.items,
            idempotent=call.idempotent,
        )

    def load_costs(self) -> EndpointCosts:
        """Fetch ``GET /account/endpoint_costs``; keeps the defaults when it fails."""
        with contextlib.suppress(KalshiError):  # the defaults stand
            self.costs = EndpointCosts.from_response(self._send(_COSTS_CALL))
        return self.costs

    # ------------------------------------------------------------ writes

    def create(self, order: CreateOrder) -> m.CreateOrderV2Response:
        """Place ``order`` exactly once, retrying a lost answer with the same id."""
        try:
            return self._send(_create_call(order))
        except ConflictError as conflict:
            if not _is_duplicate(conflict):
                raise
            return _resolve_duplicate(order, self.client.iter_orders(ticker=order.ticker))

    def amend(
        self,
        order_id: str,
        *,
        ticker: str,
        side: str,
        price: Decimal,
        count: Decimal,
        updated_client_order_id: str | None = None,
    ) -> m.AmendOrderV2Response:
        """New price and/or total count (already filled + wanted resting)."""
        return self._send(
            _amend_call(order_id, ticker, side, price, count, updated_client_order_id)
        )

    def decrease(
        self, order_id: str, *, reduce_by: Decimal | None = None, reduce_to: Decimal | None = None
    ) -> m.DecreaseOrderV2Response:
        return self._send(_decrease_call(order_id, reduce_by, reduce_to))

    def cancel(self, order_id: str) -> m.CancelOrderV2Response:
        return self._send(_cancel_call(order_id))

    def batch_create(self, orders: Sequence[CreateOrder]) -> m.BatchCreateOrdersV2Response:
        """Each item succeeds or carries its own ``error``; billed per item."""
        return self._send(_batch_create_call(orders))

    def batch_cancel(self, order_ids: Sequence[str]) -> m.BatchCancelOrdersV2Response:
        return self._send(_batch_cancel_call(order_ids))

    # ------------------------------------------------------------ reads (no V2 reads exist)

    def get(self, order_id: str) -> m.Order:
        return self._send(_get_call(order_id)).order

    def list_orders(self, *, ticker: str | None = None, status: str | None = None) -> list[m.Order]:
        """Every order of the key, newest first, optionally of one market and status."""
        return [*self.client.iter_orders(ticker=ticker, status=status)]

    def queue_position(self, order_id: str) -> Decimal:
        return self._send(_queue_position_call(order_id)).queue_position_fp

    def queue_positions(
        self, *, market_tickers: Sequence[str] = (), event_ticker: str | None = None
    ) -> list[m.OrderQueuePosition]:
        return self._send(_queue_positions_call(market_tickers, event_ticker)).queue_positions


class AsyncKalshiOrders:
    """The asyncio twin of :class:`KalshiOrders` over an :class:`AsyncKalshiClient`."""

    def __init__(self, client: AsyncKalshiClient, costs: EndpointCosts | None = None) -> None:
        self.client = client
        self.costs = costs or EndpointCosts()

    async def _send(self, call: _OrderCall[_M]) -> _M:
        return await self.client.order_call(
            call.method,
            call.path,
            call.model,
            params=call.params,
            body=call.body,
            cost=self.costs.cost(call.method, call.path) * call.items,
            idempotent=call.idempotent,
        )

    async def load_costs(self) -> EndpointCosts:
        with contextlib.suppress(KalshiError):  # the defaults stand
            self.costs = EndpointCosts.from_response(await self._send(_COSTS_CALL))
        return self.costs

    async def create(self, order: CreateOrder) -> m.CreateOrderV2Response:
        try:
            return await self._send(_create_call(order))
        except ConflictError as conflict:
            if not _is_duplicate(conflict):
                raise
            listed = [o async for o in self.client.iter_orders(ticker=order.ticker)]
            return _resolve_duplicate(order, listed)

    async def amend(
        self,
        order_id: str,
        *,
        ticker: str,
        side: str,
        price: Decimal,
        count: Decimal,
        updated_client_order_id: str | None = None,
    ) -> m.AmendOrderV2Response:
        call = _amend_call(order_id, ticker, side, price, count, updated_client_order_id)
        return await self._send(call)

    async def decrease(
        self, order_id: str, *, reduce_by: Decimal | None = None, reduce_to: Decimal | None = None
    ) -> m.DecreaseOrderV2Response:
        return await self._send(_decrease_call(order_id, reduce_by, reduce_to))

    async def cancel(self, order_id: str) -> m.CancelOrderV2Response:
        return await self._send(_cancel_call(order_id))

    async def batch_create(self, orders: Sequence[CreateOrder]) -> m.BatchCreateOrdersV2Response:
        return await self._send(_batch_create_call(orders))

    async def batch_cancel(self, order_ids: Sequence[str]) -> m.BatchCancelOrdersV2Response:
        return await self._send(_batch_cancel_call(order_ids))

    async def get(self, order_id: str) -> m.Order:
        return (await self._send(_get_call(order_id))).order

    async def list_orders(
        self, *, ticker: str | None = None, status: str | None = None
    ) -> list[m.Order]:
        return [o async for o in self.client.iter_orders(ticker=ticker, status=status)]

    async def queue_position(self, order_id: str) -> Decimal:
        return (await self._send(_queue_position_call(order_id))).queue_position_fp

    async def queue_positions(
        self, *, market_tickers: Sequence[str] = (), event_ticker: str | None = None
    ) -> list[m.OrderQueuePosition]:
        call = _queue_positions_call(market_tickers, event_ticker)
        return (await self._send(call)).queue_positions
