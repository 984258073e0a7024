"""The exchange simulator against Kalshi's published schemas, endpoint by endpoint.

Every REST route the simulator serves must have a page in ``tests/fixtures/kalshi_spec``
and its success answer (from a world with trades, orders, fills, positions, settlements,
deposits, withdrawals and a fee change, so no list is empty) must carry every required
field with its type and format. Every WebSocket message type the simulator sends must
match its ``asyncapi.yaml`` payload. Any mismatch fails, with the JSON path.

Error bodies are not checked here: the spec's flat ``ErrorResponse`` is not what Kalshi
sends (the recordings show a nested ``{"error": {...}}``), and the recordings decide;
tests/integration/emulators/kalshi_sim/test_orders.py holds them to those.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.routing import Mount
from websockets.asyncio.client import connect

from emulators.kalshi_sim.app import create_app
from emulators.kalshi_sim.config import REST_PREFIX, WS_PATH, SimConfig
from emulators.kalshi_sim.runner import SimulatorServer
from shared.kalshi.signing import KalshiSigner
from tests.conformance.spec import message_schema, response_schema, rest_operations, violations

pytestmark = pytest.mark.integration

CONFIG = SimConfig(seed=31337, n_markets=60, tick_interval_s=None, account_fill_rate=0)
ORDERS = "/portfolio/events/orders"


@dataclass
class World:
    """A simulator with one of everything, and a signed account on it."""

    sim: SimulatorServer
    http: httpx.Client
    signer: KalshiSigner
    key_id: str
    ticker: str = ""
    series: str = ""
    event: str = ""
    order_ids: list[str] = field(default_factory=list)

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.http.request(
            method,
            self.sim.base_url + path,
            params=params,
            headers=self.signer.headers(method, REST_PREFIX + path),
            content=None if body is None else json.dumps(body),
        )

    def order(self, side: str, price: str, count: str = "1.00", **extra: Any) -> dict[str, Any]:
        body = {
            "ticker": self.ticker,
            "side": side,
            "count": count,
            "price": price,
            "time_in_force": "good_till_canceled",
            "self_trade_prevention_type": "taker_at_cross",
            **extra,
        }
        response = self.call("POST", ORDERS, body)
        assert response.status_code == 201, response.text
        return dict(response.json())


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with SimulatorServer(CONFIG) as sim, httpx.Client(timeout=30) as http:
        key_id, pem = sim.create_account(balance_dollars=100_000)
        w = World(sim, http, KalshiSigner.from_pem(key_id, pem), key_id)
        # A past with positions that settled: the simulator trades for the account a while.
        sim.settings(account_fill_rate=1.0)
        sim.advance(2500)
        sim.settings(account_fill_rate=0.0)
        markets = http.get(sim.base_url + "/markets", params={"status": "open", "limit": 200})
        market = next(
            m
            for m in markets.json()["markets"]
            if m["status"] == "active"
            and m["price_level_structure"] == "linear_cent"
            and Decimal("0.10") < Decimal(m["yes_bid_dollars"])
            and Decimal(m["yes_ask_dollars"]) < Decimal("0.90")
        )
        w.ticker, w.event = market["ticker"], market["event_ticker"]
        w.series = http.get(f"{sim.base_url}/events/{w.event}").json()["event"]["series_ticker"]
        sim.schedule_fee_change(w.series, "quadratic_with_maker_fees", "1", 4_000_000_000)
        for kind in ("deposit", "withdrawal"):
            response = http.post(
                f"{sim.admin_url}/accounts/{key_id}/funds",
                json={"kind": kind, "amount_cents": 500},
            )
            assert response.status_code == 201, response.text
        w.order("bid", "0.9900", time_in_force="immediate_or_cancel")  # a taker fill
        w.order_ids.append(w.order("bid", "0.0200", count="3.00")["order_id"])  # resting
        yield w


# ---------------------------------------------------------------- REST


def served_routes() -> set[tuple[str, str]]:
    app = create_app(SimConfig(n_markets=1, tick_interval_s=None)).app
    routes = set()
    for route in app.routes:
        if isinstance(route, Mount) and route.path == REST_PREFIX:
            for sub in route.routes:
                for method in getattr(sub, "methods", None) or ():
                    if method != "HEAD":
                        routes.add((method, sub.path))  # type: ignore[attr-defined]
    return routes


def test_every_served_route_has_a_published_schema() -> None:
    missing = served_routes() - set(rest_operations())
    assert not missing, f"routes without a spec page in tests/fixtures/kalshi_spec: {missing}"


def _unindexed(problem: str) -> str:
    """One line per field, not per list item."""
    return re.sub(r"\[\d+\]", "[]", problem)


def check(response: httpx.Response, method: str, template: str, *non_empty: str) -> Any:
    assert response.status_code in (200, 201), (template, response.status_code, response.text)
    body = response.json()
    doc, schema = response_schema(method, template, response.status_code)
    problems = sorted({_unindexed(p) for p in violations(doc, schema, body)})
    assert not problems, f"{method} {template} ({doc.source}):\n" + "\n".join(problems[:40])
    for key in non_empty:
        assert body[key], f"{method} {template}: {key} is empty, nothing was checked"
    return body


def test_market_data_endpoints_conform(world: World) -> None:
    w, now = world, world.sim.state()["now_ms"] // 1000
    check(w.call("GET", "/exchange/status"), "GET", "/exchange/status")
    check(w.call("GET", "/series"), "GET", "/series", "series")
    check(
        w.call("GET", "/series/fee_changes", show_historical="true"),
        "GET",
        "/series/fee_changes",
        "series_fee_change_arr",
    )
    check(w.call("GET", f"/series/{w.series}"), "GET", "/series/{series_ticker}")
    candles = dict(start_ts=now - 3600, end_ts=now, period_interval=1)
    check(
        w.call("GET", f"/series/{w.series}/markets/{w.ticker}/candlesticks", **candles),
        "GET",
        "/series/{series_ticker}/markets/{ticker}/candlesticks",
        "candlesticks",
    )
    check(w.call("GET", "/events", limit=20), "GET", "/events", "events")
    check(w.call("GET", f"/events/{w.event}"), "GET", "/events/{event_ticker}", "markets")
    check(w.call("GET", "/markets", limit=1000), "GET", "/markets", "markets")
    check(w.call("GET", f"/markets/{w.ticker}"), "GET", "/markets/{ticker}")
    check(w.call("GET", f"/markets/{w.ticker}/orderbook"), "GET", "/markets/{ticker}/orderbook")
    check(
        w.call("GET", "/markets/orderbooks", tickers=w.ticker),
        "GET",
        "/markets/orderbooks",
        "orderbooks",
    )
    check(w.call("GET", "/markets/trades", limit=200), "GET", "/markets/trades", "trades")
    check(
        w.call("GET", "/markets/candlesticks", market_tickers=w.ticker, **candles),
        "GET",
        "/markets/candlesticks",
        "markets",
    )


def test_portfolio_and_account_endpoints_conform(world: World) -> None:
    w = world
    check(w.call("GET", "/portfolio/balance"), "GET", "/portfolio/balance")
    check(w.call("GET", "/portfolio/positions"), "GET", "/portfolio/positions", "market_positions")
    check(w.call("GET", "/portfolio/fills", limit=200), "GET", "/portfolio/fills", "fills")
    check(w.call("GET", "/portfolio/settlements"), "GET", "/portfolio/settlements", "settlements")
    check(w.call("GET", "/portfolio/deposits"), "GET", "/portfolio/deposits", "deposits")
    check(w.call("GET", "/portfolio/withdrawals"), "GET", "/portfolio/withdrawals", "withdrawals")
    check(w.call("GET", "/account/limits"), "GET", "/account/limits")
    check(
        w.call("GET", "/account/endpoint_costs"),
        "GET",
        "/account/endpoint_costs",
        "endpoint_costs",
    )


def test_historical_endpoints_conform(world: World) -> None:
    w = world
    check(w.call("GET", "/historical/cutoff"), "GET", "/historical/cutoff")
    past = check(
        w.call("GET", "/historical/markets", limit=5), "GET", "/historical/markets", "markets"
    )
    ticker = past["markets"][0]["ticker"]
    check(w.call("GET", f"/historical/markets/{ticker}"), "GET", "/historical/markets/{ticker}")
    check(
        w.call(
            "GET",
            f"/historical/markets/{ticker}/candlesticks",
            start_ts=0,
            end_ts=4_000_000_000,
            period_interval=1440,
        ),
        "GET",
        "/historical/markets/{ticker}/candlesticks",
        "candlesticks",
    )
    check(
        w.call("GET", "/historical/trades", ticker=ticker, limit=20),
        "GET",
        "/historical/trades",
        "trades",
    )


def test_order_endpoints_conform(world: World) -> None:
    w = world
    resting = w.order_ids[0]
    check(w.call("GET", "/portfolio/orders", limit=200), "GET", "/portfolio/orders", "orders")
    check(w.call("GET", f"/portfolio/orders/{resting}"), "GET", "/portfolio/orders/{order_id}")
    check(
        w.call("GET", f"/portfolio/orders/{resting}/queue_position"),
        "GET",
        "/portfolio/orders/{order_id}/queue_position",
    )
    check(
        w.call("GET", "/portfolio/orders/queue_positions", market_tickers=w.ticker),
        "GET",
        "/portfolio/orders/queue_positions",
        "queue_positions",
    )
    body = {
        "ticker": w.ticker,
        "side": "bid",
        "count": "1.00",
        "price": "0.0300",
        "time_in_force": "good_till_canceled",
        "self_trade_prevention_type": "taker_at_cross",
    }
    created = check(w.call("POST", ORDERS, body), "POST", "/portfolio/events/orders")
    taker = check(
        w.call("POST", ORDERS, {**body, "price": "0.9900", "time_in_force": "immediate_or_cancel"}),
        "POST",
        "/portfolio/events/orders",
    )
    assert "average_fill_price" in taker
    check(
        w.call(
            "POST",
            f"{ORDERS}/{resting}/amend",
            {"ticker": w.ticker, "side": "bid", "price": "0.0400", "count": "3.00"},
        ),
        "POST",
        "/portfolio/events/orders/{order_id}/amend",
    )
    check(
        w.call("POST", f"{ORDERS}/{resting}/decrease", {"reduce_by": "1.00"}),
        "POST",
        "/portfolio/events/orders/{order_id}/decrease",
    )
    check(
        w.call("DELETE", f"{ORDERS}/{created['order_id']}"),
        "DELETE",
        "/portfolio/events/orders/{order_id}",
    )
    batch = check(
        w.call(
            "POST",
            f"{ORDERS}/batched",
            {"orders": [body, {**body, "price": "0.0250"}]},  # the second one errs
        ),
        "POST",
        "/portfolio/events/orders/batched",
        "orders",
    )
    ids = [o["order_id"] for o in batch["orders"] if "order_id" in o]
    check(
        w.call("DELETE", f"{ORDERS}/batched", {"orders": [{"order_id": i} for i in [*ids, "x"]]}),
        "DELETE",
        "/portfolio/events/orders/batched",
        "orders",
    )


def test_the_validator_catches_mismatches() -> None:
    """The check fails on a missing required field, a wrong type and a bad format."""
    doc, schema = response_schema("POST", "/portfolio/events/orders", 201)
    good = {"order_id": "o", "fill_count": "1.00", "remaining_count": "0.00", "ts_ms": 1}
    assert violations(doc, schema, good) == []
    assert violations(doc, schema, {**good, "ts_ms": "1"})
    assert violations(doc, schema, {**good, "fill_count": 1})
    assert violations(doc, schema, {**good, "fill_count": "1.0"})  # FixedPointCount: 2 dp
    missing = dict(good)
    del missing["remaining_count"]
    assert violations(doc, schema, missing) == ["$: required field 'remaining_count' missing"]
    fill_doc, fill = message_schema("fill")
    assert any(
        "UUID" in v
        for v in violations(
            fill_doc, fill, {"type": "fill", "sid": 1, "msg": {"trade_id": "not-a-uuid"}}
        )
    )


# ---------------------------------------------------------------- WebSocket

# frame type -> asyncapi message
MESSAGES = {
    "subscribed": "subscribedResponse",
    "unsubscribed": "unsubscribedResponse",
    "error": "errorResponse",
    "orderbook_snapshot": "orderbookSnapshot",
    "orderbook_delta": "orderbookDelta",
    "ticker": "ticker",
    "trade": "trade",
    "fill": "fill",
    "market_position": "marketPosition",
    "user_order": "userOrder",
    "market_lifecycle_v2": "marketLifecycleV2",
    "event_lifecycle": "eventLifecycle",
}


def test_every_websocket_message_conforms(world: World) -> None:
    w = world
    channels = [
        "orderbook_delta",
        "ticker",
        "trade",
        "fill",
        "market_positions",
        "user_orders",
        "market_lifecycle_v2",
    ]

    async def scenario() -> list[dict[str, Any]]:
        frames: list[dict[str, Any]] = []
        headers = w.signer.headers("GET", WS_PATH)
        async with connect(w.sim.ws_url, additional_headers=headers, max_size=None) as ws:

            async def send(cmd: dict[str, Any]) -> None:
                await ws.send(json.dumps(cmd))

            await send(
                {
                    "id": 1,
                    "cmd": "subscribe",
                    "params": {"channels": channels[:1], "market_tickers": [w.ticker]},
                }
            )
            await send({"id": 2, "cmd": "subscribe", "params": {"channels": channels[1:]}})
            await send({"id": 3, "cmd": "no_such_command"})
            await asyncio.to_thread(w.order, "bid", "0.9900", time_in_force="immediate_or_cancel")

            async def until(cmd_id: int) -> None:
                """Read everything sent before ``list_subscriptions`` ``cmd_id`` is answered."""
                await send({"id": cmd_id, "cmd": "list_subscriptions"})
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    frames.append(frame)
                    if frame.get("id") == cmd_id and frame.get("type") == "ok":
                        return

            # New events are listed after others settle: tick until one has been.
            for round_id in range(10, 30):
                await asyncio.to_thread(w.sim.advance, 500)
                await until(round_id)
                if any(f["type"] == "event_lifecycle" for f in frames):
                    break
            await send({"id": 40, "cmd": "unsubscribe", "params": {"sids": [1]}})
            await until(41)
            return frames

    frames = asyncio.run(asyncio.wait_for(scenario(), 240))
    seen: set[str] = set()
    problems: list[str] = []
    for frame in frames:
        kind = frame["type"]
        if kind == "ok":
            name = (
                "listSubscriptionsResponse" if isinstance(frame.get("msg"), list) else "okResponse"
            )
        else:
            assert kind in MESSAGES, f"the simulator sent an unmapped frame type {kind!r}"
            name = MESSAGES[kind]
        seen.add(kind)
        doc, schema = message_schema(name)
        problems += [f"{kind}: {_unindexed(p)}" for p in violations(doc, schema, frame)]
    assert not problems, "\n".join(sorted(set(problems))[:40])
    expected = set(MESSAGES) | {"ok"}
    assert not expected - seen, f"never sent: {expected - seen}"
