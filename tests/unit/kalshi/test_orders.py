"""Order helpers at the HTTP boundary (httpx.MockTransport as the far end): request bodies,
one client_order_id across retries, duplicate resolution, bucket costs.

Against the real simulator: tests/integration/kalshi/test_orders_client.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from shared.kalshi import models as m
from shared.kalshi.client import AsyncKalshiClient, KalshiClient, RetryPolicy
from shared.kalshi.errors import BadRequestError, ConflictError, KalshiTransportError
from shared.kalshi.orders import (
    AsyncKalshiOrders,
    ClientOrderIdConflict,
    CreateOrder,
    EndpointCosts,
    KalshiOrders,
    format_count,
    format_price,
)
from shared.kalshi.ratelimit import KalshiRateLimiter, RateLimitWaitExceeded, TokenBucket

Handler = Callable[[httpx.Request], httpx.Response]
NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0, max_delay=0)
TICKER = "KXTEST-26NOV29-T50"
CREATED = {
    "order_id": "o-1",
    "client_order_id": "c-1",
    "fill_count": "0.00",
    "remaining_count": "1.00",
    "ts_ms": 1,
}
DUPLICATE = {"error": {"code": "order_already_exists", "message": "order already exists"}}


def orders_for(handler: Handler, **kwargs: object) -> KalshiOrders:
    options: dict[str, object] = {
        "base_url": "http://kalshi.test/trade-api/v2",
        "transport": httpx.MockTransport(handler),
        "retry": NO_WAIT,
        "rate_limit": False,
    }
    options.update(kwargs)
    return KalshiOrders(KalshiClient(**options))  # type: ignore[arg-type]


def listed(client_order_id: str, price: str = "0.5600", count: str = "1.00") -> dict[str, object]:
    return {
        "order_id": "o-1",
        "client_order_id": client_order_id,
        "ticker": TICKER,
        "status": "resting",
        "book_side": "bid",
        "side": "yes",
        "yes_price_dollars": price,
        "no_price_dollars": f"{1 - Decimal(price):.4f}",
        "initial_count_fp": count,
        "fill_count_fp": "0.00",
        "remaining_count_fp": count,
    }


def order(**overrides: object) -> CreateOrder:
    fields: dict[str, object] = {
        "ticker": TICKER,
        "side": "bid",
        "count": Decimal(1),
        "price": Decimal("0.56"),
        "client_order_id": "c-1",
    }
    fields.update(overrides)
    return CreateOrder(**fields)  # type: ignore[arg-type]


def test_fixed_point_formats_refuse_what_kalshi_would_not_accept() -> None:
    assert format_count(Decimal("10")) == "10.00"
    assert format_count(Decimal("2.5")) == "2.50"
    assert format_price(Decimal("0.56")) == "0.5600"
    assert format_price(Decimal("0.0550")) == "0.0550"
    for bad in ("0", "-1", "0.001"):
        with pytest.raises(ValueError):
            format_count(Decimal(bad))
    for bad in ("0", "1", "0.00001", "-0.5"):
        with pytest.raises(ValueError):
            format_price(Decimal(bad))


def test_a_create_without_an_id_gets_one_and_the_body_is_kalshis_v2_shape() -> None:
    generated = CreateOrder(TICKER, "ask", Decimal(3), Decimal("0.4"))
    assert len(generated.client_order_id) == 36
    assert (
        generated.client_order_id
        != CreateOrder(TICKER, "ask", Decimal(3), Decimal("0.4")).client_order_id
    )
    assert generated.body() == {
        "ticker": TICKER,
        "client_order_id": generated.client_order_id,
        "side": "ask",
        "count": "3.00",
        "price": "0.4000",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
        "post_only": False,
    }
    with pytest.raises(ValueError):
        CreateOrder(TICKER, "yes", Decimal(1), Decimal("0.5"))
    with pytest.raises(ValueError):
        CreateOrder(TICKER, "bid", Decimal(1), Decimal("0.5"), time_in_force="day")


def test_a_5xx_or_timeout_on_create_is_retried_with_the_same_client_order_id() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        if len(bodies) == 1:
            return httpx.Response(503, json={"error": {"code": "service_unavailable"}})
        if len(bodies) == 2:
            raise httpx.ReadTimeout("lost", request=request)
        return httpx.Response(201, json=CREATED)

    result = orders_for(handler).create(order())
    assert result.order_id == "o-1"
    assert len(bodies) == 3
    assert {b["client_order_id"] for b in bodies} == {"c-1"}


def test_a_plain_post_is_still_not_retried_after_a_timeout() -> None:
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.ReadTimeout("lost", request=request)

    client = KalshiClient(
        base_url="http://kalshi.test/trade-api/v2",
        transport=httpx.MockTransport(handler),
        retry=NO_WAIT,
        rate_limit=False,
    )
    with pytest.raises(KalshiTransportError):
        client.request("POST", "/portfolio/orders", json={})
    assert len(sent) == 1


def test_a_duplicate_answer_for_the_same_order_is_success() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(409, json=DUPLICATE)
        assert request.url.params["ticker"] == TICKER
        return httpx.Response(200, json={"orders": [listed("other"), listed("c-1")], "cursor": ""})

    result = orders_for(handler).create(order())
    assert (result.order_id, result.client_order_id) == ("o-1", "c-1")
    assert result.remaining_count == Decimal(1)


def test_a_duplicate_id_on_a_different_order_is_a_typed_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(409, json=DUPLICATE)
        return httpx.Response(200, json={"orders": [listed("c-1", price="0.5700")], "cursor": ""})

    with pytest.raises(ClientOrderIdConflict) as conflict:
        orders_for(handler).create(order())
    assert conflict.value.existing is not None and conflict.value.client_order_id == "c-1"


def test_other_conflicts_and_refusals_pass_through() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "amend" in request.url.path:
            return httpx.Response(409, json={"error": {"code": "other", "message": "x"}})
        return httpx.Response(
            400, json={"error": {"code": "insufficient_balance", "message": "insufficient"}}
        )

    orders = orders_for(handler)
    with pytest.raises(BadRequestError) as refused:
        orders.create(order())
    assert refused.value.code == "insufficient_balance"
    with pytest.raises(ConflictError):
        orders.amend("o-1", ticker=TICKER, side="bid", price=Decimal("0.5"), count=Decimal(2))


def test_write_and_read_paths_and_bodies() -> None:
    seen: list[tuple[str, str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.path, body))
        path = request.url.path
        if path.endswith("/amend"):
            return httpx.Response(200, json={"order_id": "o-1", "ts_ms": 1})
        if path.endswith("/decrease"):
            return httpx.Response(200, json={"order_id": "o-1", "remaining_count": "1.00"})
        if path.endswith("/queue_position"):
            return httpx.Response(200, json={"queue_position_fp": "12.50"})
        if path.endswith("/queue_positions"):
            return httpx.Response(200, json={"queue_positions": []})
        if path.endswith("/batched"):
            return httpx.Response(200, json={"orders": []})
        if request.method == "DELETE":
            return httpx.Response(200, json={"order_id": "o-1", "reduced_by": "1.00"})
        return httpx.Response(200, json={"order": listed("c-1")})

    orders = orders_for(handler)
    orders.amend(
        "o-1",
        ticker=TICKER,
        side="bid",
        price=Decimal("0.57"),
        count=Decimal(2),
        updated_client_order_id="c-2",
    )
    orders.decrease("o-1", reduce_by=Decimal(1))
    orders.decrease("o-1", reduce_to=Decimal(0))
    with pytest.raises(ValueError):
        orders.decrease("o-1")
    assert orders.cancel("o-1").reduced_by == Decimal(1)
    orders.batch_cancel(["o-1", "o-2"])
    assert orders.queue_position("o-1") == Decimal("12.5")
    assert orders.queue_positions(market_tickers=[TICKER]) == []
    assert orders.get("o-1").client_order_id == "c-1"
    prefix = "/trade-api/v2/portfolio"
    assert seen[:5] == [
        (
            "POST",
            f"{prefix}/events/orders/o-1/amend",
            {
                "ticker": TICKER,
                "side": "bid",
                "price": "0.5700",
                "count": "2.00",
                "updated_client_order_id": "c-2",
            },
        ),
        ("POST", f"{prefix}/events/orders/o-1/decrease", {"reduce_by": "1.00"}),
        ("POST", f"{prefix}/events/orders/o-1/decrease", {"reduce_to": "0.00"}),
        ("DELETE", f"{prefix}/events/orders/o-1", None),
        (
            "DELETE",
            f"{prefix}/events/orders/batched",
            {"orders": [{"order_id": "o-1"}, {"order_id": "o-2"}]},
        ),
    ]


def test_endpoint_costs_map_onto_the_buckets() -> None:
    parsed = EndpointCosts.from_response(
        m.EndpointCostsResponse(
            default_cost=10,
            endpoint_costs=[
                m.EndpointCost(
                    method="DELETE", path="/trade-api/v2/portfolio/events/orders/:order_id", cost=2
                ),
                m.EndpointCost(
                    method="GET", path="/trade-api/v2/portfolio/orders/:order_id", cost=2
                ),
            ],
        )
    )
    assert parsed.cost("DELETE", "/portfolio/events/orders/abc") == 0.2
    assert parsed.cost("GET", "/portfolio/orders/abc") == 0.2
    assert parsed.cost("POST", "/portfolio/events/orders") == 1.0
    assert parsed.cost("GET", "/portfolio/orders/abc/queue_position") == 1.0

    # Writes draw on the Write bucket at their cost; reads never touch it.
    frozen = 0.0
    write = TokenBucket(0.001, 1, max_wait=0, clock=lambda: frozen)
    read = TokenBucket(1000, 1000, clock=lambda: frozen)
    limiter = KalshiRateLimiter(read, write)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"order": listed("c-1")})
        return httpx.Response(200, json={"order_id": "o-1", "reduced_by": "1.00"})

    orders = orders_for(handler, rate_limit=True, rate_limiter=limiter)
    orders.costs = parsed
    for _ in range(5):  # 5 x 0.2 = the whole write bucket
        orders.cancel("o-1")
    for _ in range(20):
        orders.get("o-1")  # the read bucket pays
    with pytest.raises(RateLimitWaitExceeded):
        orders.cancel("o-1")


def test_load_costs_keeps_the_defaults_when_the_endpoint_fails() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "nf"}})

    orders = orders_for(handler)
    assert orders.load_costs() == EndpointCosts()


def test_the_async_twin_retries_with_the_same_id_and_resolves_duplicates() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"orders": [listed("c-1")], "cursor": ""})
        bodies.append(json.loads(request.content))
        if len(bodies) == 1:
            return httpx.Response(502, json={"error": {"code": "bad_gateway"}})
        return httpx.Response(409, json=DUPLICATE)  # the first attempt had gone through

    async def scenario() -> m.CreateOrderV2Response:
        async with AsyncKalshiClient(
            base_url="http://kalshi.test/trade-api/v2",
            transport=httpx.MockTransport(handler),
            retry=NO_WAIT,
            rate_limit=False,
        ) as client:
            orders = AsyncKalshiOrders(client)
            return await orders.create(order())

    result = asyncio.run(scenario())
    assert result.order_id == "o-1"
    assert [b["client_order_id"] for b in bodies] == ["c-1", "c-1"]
