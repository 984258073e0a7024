"""The project's order helpers against the real simulator over loopback.

A create whose answer is lost (the simulator drops the connection after placing the order)
is retried with the same ``client_order_id`` and leaves exactly one order; the duplicate
answer of the retry is resolved by listing. Amend, decrease, queue position, cancel and
batches go through the typed helpers, with bucket costs read from the simulator's
``/account/endpoint_costs``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal

import pytest

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer
from shared.kalshi.client import AsyncKalshiClient, KalshiClient, RetryPolicy
from shared.kalshi.orders import (
    AsyncKalshiOrders,
    ClientOrderIdConflict,
    CreateOrder,
    KalshiOrders,
)
from shared.kalshi.signing import KalshiSigner

pytestmark = pytest.mark.integration

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    config = SimConfig(seed=4242, n_markets=30, tick_interval_s=None, account_fill_rate=0)
    with SimulatorServer(config) as server:
        server.advance(3)
        yield server


@pytest.fixture
def orders(sim: SimulatorServer) -> Iterator[KalshiOrders]:
    key_id, pem = sim.create_account(balance_dollars=1000)
    with KalshiClient(
        base_url=sim.base_url, signer=KalshiSigner.from_pem(key_id, pem), retry=FAST
    ) as client:
        yield KalshiOrders(client)


def a_market(orders: KalshiOrders) -> tuple[str, Decimal, Decimal]:
    """(ticker, best YES bid, best YES ask) of a two-sided cent market."""
    for market in orders.client.iter_markets(status="open", limit=100):
        if (
            market.status == "active"
            and market.price_level_structure == "linear_cent"
            and Decimal("0.05") < market.yes_bid_dollars < market.yes_ask_dollars < Decimal("0.95")
        ):
            return market.ticker, market.yes_bid_dollars, market.yes_ask_dollars
    raise AssertionError("no two-sided market")


def test_a_create_whose_answer_is_lost_is_retried_and_leaves_one_order(
    sim: SimulatorServer, orders: KalshiOrders
) -> None:
    ticker, _bid, _ask = a_market(orders)
    request = CreateOrder(ticker, "bid", Decimal(2), Decimal("0.02"))
    sim.set_faults(order_drop_after_accept=1)
    try:
        result = orders.create(request)
    finally:
        sim.set_faults()
    placed = orders.list_orders(ticker=ticker)
    assert [o.client_order_id for o in placed] == [request.client_order_id]
    assert result.order_id == placed[0].order_id
    assert result.remaining_count == Decimal(2)
    stats = orders.client.stats
    assert stats.transport_errors == 1 and stats.retries == 1


def test_the_same_id_on_another_order_is_refused(orders: KalshiOrders) -> None:
    ticker, _bid, _ask = a_market(orders)
    first = CreateOrder(ticker, "bid", Decimal(1), Decimal("0.03"))
    orders.create(first)
    again = orders.create(first)  # a plain resubmission is the same order: success
    assert again.client_order_id == first.client_order_id
    assert len(orders.list_orders(ticker=ticker)) == 1
    other = CreateOrder(
        ticker, "bid", Decimal(1), Decimal("0.04"), client_order_id=first.client_order_id
    )
    with pytest.raises(ClientOrderIdConflict):
        orders.create(other)


def test_the_order_lifecycle_through_the_helpers(orders: KalshiOrders) -> None:
    costs = orders.load_costs()
    assert costs.cost("DELETE", "/portfolio/events/orders/x") == pytest.approx(0.2)
    ticker, bid, ask = a_market(orders)
    resting = orders.create(CreateOrder(ticker, "bid", Decimal(5), bid))
    ahead = orders.queue_position(resting.order_id)
    assert ahead > 0  # the crowd was at the best bid first
    assert [q.order_id for q in orders.queue_positions(market_tickers=[ticker])] == [
        resting.order_id
    ]
    decreased = orders.decrease(resting.order_id, reduce_by=Decimal(2))
    assert decreased.remaining_count == Decimal(3)
    amended = orders.amend(
        resting.order_id, ticker=ticker, side="bid", price=bid - Decimal("0.01"), count=Decimal(4)
    )
    assert amended.remaining_count == Decimal(4)
    order = orders.get(resting.order_id)
    assert (order.yes_price_dollars, order.remaining_count_fp) == (bid - Decimal("0.01"), 4)
    canceled = orders.cancel(resting.order_id)
    assert canceled.reduced_by == Decimal(4)
    assert orders.get(resting.order_id).status == "canceled"

    taker = orders.create(
        CreateOrder(ticker, "bid", Decimal(1), Decimal("0.99"), time_in_force="immediate_or_cancel")
    )
    assert taker.fill_count == Decimal(1) and taker.average_fill_price == ask
    assert orders.get(taker.order_id).status == "executed"

    batch = orders.batch_create(
        [CreateOrder(ticker, "bid", Decimal(1), Decimal(p)) for p in ("0.01", "0.02")]
    )
    ids = [o.order_id for o in batch.orders]
    assert all(ids) and not any(o.error for o in batch.orders)
    canceled_batch = orders.batch_cancel([i for i in ids if i])
    assert [o.reduced_by for o in canceled_batch.orders] == [Decimal(1), Decimal(1)]


def test_the_async_helpers_retry_a_lost_create_too(sim: SimulatorServer) -> None:
    key_id, pem = sim.create_account(balance_dollars=1000)
    signer = KalshiSigner.from_pem(key_id, pem)

    async def scenario() -> tuple[str, list[str]]:
        async with AsyncKalshiClient(base_url=sim.base_url, signer=signer, retry=FAST) as client:
            orders = AsyncKalshiOrders(client)
            ticker = ""
            async for market in client.iter_markets(status="open", limit=100):
                if market.status == "active" and market.price_level_structure == "linear_cent":
                    ticker = market.ticker
                    break
            request = CreateOrder(ticker, "bid", Decimal(1), Decimal("0.02"))
            sim.set_faults(order_drop_after_accept=1)
            try:
                result = await orders.create(request)
            finally:
                sim.set_faults()
            listed = await orders.list_orders(ticker=ticker)
            assert await orders.queue_position(result.order_id) >= 0
            await orders.cancel(result.order_id)
            return result.order_id, [o.order_id for o in listed]

    order_id, listed = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert listed == [order_id]
