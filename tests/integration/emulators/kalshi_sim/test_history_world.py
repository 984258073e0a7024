"""Today's world in Kalshi's historical tier.

A world starts with a few events already finalized (seed 77 at ``START``: the six markets of
``KXHIGHMIA-26OCT15``, settled minutes before the world began). The default cutoff is the
world's start, so those markets "settled before ``market_settled_ts``": on Kalshi they are
served by ``/historical/markets*``, and a backfill reads them there. The simulator used to
serve them from ``/markets/{ticker}`` only, answering 404 on ``/historical/markets/{ticker}``
and its candlesticks. Moving the cutoff back (``live_days``) puts them in the live tier again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.rest_history import _historical_shape
from emulators.kalshi_sim.runner import SimulatorServer

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 10, 15, 12, 0, tzinfo=dt.UTC)
EVENT = "KXHIGHMIA-26OCT15"
SERIES = "KXHIGHMIA"


@pytest.fixture
def server() -> Iterator[SimulatorServer]:
    config = SimConfig(seed=77, n_markets=40, tick_interval_s=None, start_time_s=START.timestamp())
    with SimulatorServer(config) as s:
        yield s


def _get(server: SimulatorServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(server.base_url + path, params=params, timeout=60)


def _settled_world_markets(server: SimulatorServer) -> list[dict[str, Any]]:
    markets: list[dict[str, Any]] = _get(server, "/markets", event_ticker=EVENT).json()["markets"]
    return markets


def _candles(server: SimulatorServer, path: str, market: dict[str, Any]) -> list[dict[str, Any]]:
    opened = int(dt.datetime.fromisoformat(market["open_time"]).timestamp())
    closed = int(dt.datetime.fromisoformat(market["close_time"]).timestamp())
    response = _get(server, path, start_ts=opened, end_ts=closed + 3600, period_interval=60)
    assert response.status_code == 200, response.text
    candles: list[dict[str, Any]] = response.json()["candlesticks"]
    return candles


def test_world_markets_settled_before_the_cutoff_are_served_by_the_historical_tier(
    server: SimulatorServer,
) -> None:
    cutoff = dt.datetime.fromisoformat(
        _get(server, "/historical/cutoff").json()["market_settled_ts"]
    )
    markets = _settled_world_markets(server)
    assert len(markets) == 6
    listed = _get(server, "/historical/markets", series_ticker=SERIES, limit=1000).json()
    listed_tickers = {m["ticker"] for m in listed["markets"]}
    by_event = _get(server, "/historical/markets", event_ticker=EVENT).json()["markets"]
    assert {m["ticker"] for m in by_event} == {m["ticker"] for m in markets}
    for market in markets:
        ticker = market["ticker"]
        assert dt.datetime.fromisoformat(market["settlement_ts"]) < cutoff
        assert ticker in listed_tickers
        one = _get(server, f"/historical/markets/{ticker}")
        assert one.status_code == 200, one.text
        assert one.json()["market"] == market
        historical = _candles(server, f"/historical/markets/{ticker}/candlesticks", market)
        live = _candles(server, f"/series/{SERIES}/markets/{ticker}/candlesticks", market)
        # The world began after they settled, so it recorded no candle for them.
        assert historical == live == []
    # An unknown ticker and a world market still trading stay 404 on the historical tier.
    assert _get(server, "/historical/markets/NOPE-1").status_code == 404
    open_market = _get(server, "/markets", status="open", limit=1).json()["markets"][0]
    assert _get(server, f"/historical/markets/{open_market['ticker']}").status_code == 404


def test_the_historical_shape_of_a_world_candle(server: SimulatorServer) -> None:
    """What the historical candles of a world market look like (the world records candles
    only while it runs, so the ones above are empty): suffixes dropped, values kept."""
    httpx.post(server.admin_url + "/tick", json={"steps": 400}).raise_for_status()
    market = _get(server, "/markets", status="open", limit=1).json()["markets"][0]
    series = _get(server, f"/events/{market['event_ticker']}").json()["event"]["series_ticker"]
    live = _candles(server, f"/series/{series}/markets/{market['ticker']}/candlesticks", market)
    assert live
    for c in live:
        h = _historical_shape(c)
        assert set(h) == {
            "end_period_ts", "yes_bid", "yes_ask", "price", "volume", "open_interest"
        }  # fmt: skip
        assert h["end_period_ts"] == c["end_period_ts"]
        assert h["yes_bid"] == {k: c["yes_bid"][f"{k}_dollars"] for k in h["yes_bid"]}
        assert h["yes_ask"] == {k: c["yes_ask"][f"{k}_dollars"] for k in h["yes_ask"]}
        assert set(h["price"]) == {"open", "high", "low", "close", "mean", "previous"}
        assert h["price"]["close"] == c["price"]["close_dollars"]
        assert (h["volume"], h["open_interest"]) == (c["volume_fp"], c["open_interest_fp"])


def test_a_cutoff_moved_back_puts_them_in_the_live_tier_only(server: SimulatorServer) -> None:
    httpx.post(server.admin_url + "/history", json={"live_days": 1}).raise_for_status()
    for market in _settled_world_markets(server):
        assert _get(server, f"/historical/markets/{market['ticker']}").status_code == 404
    listed = _get(server, "/historical/markets", event_ticker=EVENT).json()
    assert listed["markets"] == []
