"""Pagination over a large exchange, and the project's REST client against the simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer
from shared.domain.fees import DIRECT_MEMBER_PRECISION_MICRO, fill_charge_micro
from shared.kalshi.client import KalshiClient

pytestmark = pytest.mark.integration


def test_pagination_over_1500_markets_returns_each_exactly_once() -> None:
    with (
        SimulatorServer(SimConfig(seed=7, n_markets=1500, tick_interval_s=None)) as sim,
        httpx.Client(timeout=30, trust_env=False) as http,
    ):
        sim.advance(5)
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            body = http.get(sim.base_url + "/markets", params=params).json()
            seen.extend(mk["ticker"] for mk in body["markets"])
            pages += 1
            cursor = body["cursor"]
            if cursor == "":
                break
            sim.advance(1)  # the exchange keeps moving between pages
        assert pages == 8
        assert len(seen) == 1500 == len(set(seen))

        # The project's client walks the same pages.
        with KalshiClient(base_url=sim.base_url, rate_limit=False) as client:
            tickers = [mk.ticker for mk in client.iter_markets(limit=333)]
        assert sorted(tickers) == sorted(seen)

        # A filtered walk: each open market once, and every one really is open.
        with KalshiClient(base_url=sim.base_url, rate_limit=False) as client:
            open_markets = list(client.iter_markets(limit=100, status="open"))
        assert len({mk.ticker for mk in open_markets}) == len(open_markets) > 100
        assert all(mk.status in ("active", "inactive") for mk in open_markets)


def test_project_client_uses_every_endpoint_against_the_simulator(
    simulator: Any, sim_account: Any
) -> None:
    simulator.advance(20)
    simulator.fill(sim_account.key_id)
    simulator.fill(sim_account.key_id)
    with KalshiClient(
        base_url=simulator.base_url, signer=sim_account.signer, rate_limit=False
    ) as client:
        assert client.get_exchange_status().trading_active
        page = client.get_markets(limit=50, status="open")
        market = next(mk for mk in page.markets if mk.yes_bid_dollars > 0)
        assert client.get_market(market.ticker).ticker == market.ticker
        book = client.get_orderbook(market.ticker)
        assert book is not None
        event = client.get_event(market.event_ticker)
        series_ticker = event.event.series_ticker
        assert client.get_series(series_ticker).ticker == series_ticker
        assert client.get_series_list()
        assert client.get_events(limit=10).events
        assert client.get_trades(limit=5).trades
        state = simulator.state()
        client.get_market_candlesticks(
            series_ticker,
            market.ticker,
            start_ts=state["now_ms"] // 1000 - 600,
            end_ts=state["now_ms"] // 1000,
            period_interval=1,
        )
        balance = client.get_balance()
        assert balance.balance < 100_000
        positions = client.get_all_positions()
        assert positions.market_positions
        fills = client.get_fills(limit=10).fills
        assert len(fills) >= 2
        assert client.get_order(fills[0].order_id).order_id == fills[0].order_id
        assert client.get_orders(limit=10).orders
        assert client.get_settlements(limit=10).settlements == []
        assert client.get_account_limits().usage_tier == "basic"
        # Balance bookkeeping: fills' cost and fees explain the whole balance change, each
        # simulated fill its own order charged as Kalshi does (trade fee, then the balance
        # floored to the account's precision, $0.0001 as the recorded demo account's).
        spent = Decimal(0)
        for f in client.get_fills(limit=100).fills:
            price = f.yes_price_dollars if f.side == "yes" else f.no_price_dollars
            revenue = price * f.count_fp * (-1 if f.action == "buy" else 1)
            charge = fill_charge_micro(
                int(revenue * 1_000_000), int(f.fee_cost * 1_000_000), DIRECT_MEMBER_PRECISION_MICRO
            )
            spent -= Decimal(charge.balance_delta) / 1_000_000
        assert Decimal(1000) - spent == balance.balance_dollars
