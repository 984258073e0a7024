"""The REST client against the project's Kalshi simulator (real server, real signatures).

The loopback tests script Kalshi's edge cases; these check that the client and the
simulator agree on the wire for the calls the rest of the system makes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from shared.kalshi.client import KalshiClient, RetryPolicy
from shared.kalshi.models import MarketStatus

if TYPE_CHECKING:
    from emulators.kalshi_sim.runner import SimulatorServer
    from tests.plugins.kalshi_sim import SimAccount

pytestmark = pytest.mark.integration


def test_all_markets_once_each_and_consistent_quotes(
    simulator: SimulatorServer, sim_account: SimAccount
) -> None:
    with KalshiClient(base_url=simulator.base_url, signer=sim_account.signer) as client:
        paged = client.get_all_markets(limit=37)  # many short pages
        one_page = client.get_markets(limit=1000)
        open_markets = client.get_all_markets(status="open", limit=100)
        market = open_markets[0]
        book = client.get_orderbook(market.ticker)
        event = client.get_event(market.event_ticker, with_nested_markets=True)

    tickers = [m.ticker for m in paged]
    assert len(tickers) == len(set(tickers)) == len(one_page.markets)
    assert set(tickers) == {m.ticker for m in one_page.markets}
    assert client.stats.requests_sent >= len(tickers) // 37
    assert all(m.status == MarketStatus.ACTIVE for m in open_markets)
    if book.best_yes_bid is not None:
        assert book.best_yes_bid[0] == market.yes_bid_dollars
    assert market.ticker in {m.ticker for m in event.all_markets}
    assert event.event.series_ticker


def test_signed_portfolio_calls(simulator: SimulatorServer, sim_account: SimAccount) -> None:
    with KalshiClient(base_url=simulator.base_url, signer=sim_account.signer) as client:
        balance = client.get_balance()
        positions = client.get_all_positions()
        limits = client.get_account_limits()
    assert balance.exact_balance_dollars == Decimal(1000)
    assert balance.balance == 100_000  # integer cents on the wire
    assert positions.cursor == ""
    assert limits.read.refill_rate > 0


def test_injected_429s_and_503s_are_absorbed(
    simulator: SimulatorServer, sim_account: SimAccount
) -> None:
    with KalshiClient(base_url=simulator.base_url, signer=sim_account.signer) as clean:
        expected = {m.ticker for m in clean.get_all_markets(limit=1000)}
    simulator.set_faults(rest_429_rate=0.3, rest_503_rate=0.2)
    try:
        with KalshiClient(
            base_url=simulator.base_url,
            signer=sim_account.signer,
            retry=RetryPolicy(max_attempts=12, base_delay=0.005, max_delay=0.02),
        ) as client:
            markets = client.get_all_markets(limit=50)
            stats = client.stats
    finally:
        simulator.set_faults()  # clears every fault
    assert len({m.ticker for m in markets}) == len(markets) > 0
    # Every market arrived, none lost to a retried page: the same set as without faults.
    assert {m.ticker for m in markets} == expected
    assert stats.rate_limited + stats.server_errors == stats.retries > 0
