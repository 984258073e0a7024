"""The simulator's seeded past over REST: the historical endpoints, the live tier, the
metered budget, and that the past never changes today's world."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 10, 15, 12, 0, tzinfo=dt.UTC)
MARKET_REQUIRED = {
    "ticker", "event_ticker", "market_type", "yes_sub_title", "no_sub_title", "created_time",
    "updated_time", "open_time", "close_time", "latest_expiration_time",
    "settlement_timer_seconds", "status", "notional_value_dollars", "yes_bid_dollars",
    "yes_ask_dollars", "no_bid_dollars", "no_ask_dollars", "yes_bid_size_fp",
    "yes_ask_size_fp", "last_price_dollars", "previous_yes_bid_dollars",
    "previous_yes_ask_dollars", "previous_price_dollars", "volume_fp", "volume_24h_fp",
    "open_interest_fp", "result", "can_close_early", "expiration_value", "rules_primary",
    "rules_secondary", "price_level_structure", "price_ranges",
}  # fmt: skip
TRADE_REQUIRED = {
    "trade_id", "ticker", "count_fp", "yes_price_dollars", "no_price_dollars",
    "taker_outcome_side", "taker_book_side", "created_time", "is_block_trade",
}  # fmt: skip


def _config(seed: int = 77) -> SimConfig:
    return SimConfig(seed=seed, n_markets=40, tick_interval_s=None, start_time_s=START.timestamp())


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(_config()) as s:
        yield s


def _get(server: SimulatorServer, path: str, **params: Any) -> httpx.Response:
    return httpx.get(server.base_url + path, params=params, timeout=60)


def test_cutoff_is_the_worlds_start_by_default(server: SimulatorServer) -> None:
    body = _get(server, "/historical/cutoff").json()
    assert set(body) == {
        "market_settled_ts",
        "trades_created_ts",
        "orders_updated_ts",
        "market_positions_last_updated_ts",
    }
    assert dt.datetime.fromisoformat(body["market_settled_ts"]) == START


def test_historical_markets_page_with_a_cursor_and_carry_every_required_field(
    server: SimulatorServer,
) -> None:
    first = _get(server, "/historical/markets", series_ticker="KXHIGHNY", limit=100).json()
    assert len(first["markets"]) == 100 and first["cursor"]
    market = first["markets"][0]
    assert set(market) >= MARKET_REQUIRED
    assert market["status"] == "finalized" and market["result"] in ("yes", "no")
    settled = dt.datetime.fromisoformat(market["settlement_ts"])
    assert settled < START
    seen = {m["ticker"] for m in first["markets"]}
    cursor = first["cursor"]
    while cursor:
        page = _get(
            server, "/historical/markets", series_ticker="KXHIGHNY", limit=100, cursor=cursor
        ).json()
        assert not seen & {m["ticker"] for m in page["markets"]}
        seen |= {m["ticker"] for m in page["markets"]}
        cursor = page["cursor"]
    oldest = min(dt.datetime.fromisoformat(m["close_time"]) for m in first["markets"])
    assert START - oldest >= dt.timedelta(days=90)  # at least 90 days of past
    assert len(seen) >= 90 * 6
    one = _get(server, f"/historical/markets/{market['ticker']}").json()["market"]
    assert one == market
    assert _get(server, "/historical/markets/NOPE-1").status_code == 404
    both = _get(server, "/historical/markets", series_ticker="KXHIGHNY", event_ticker="X")
    assert both.status_code == 400 and "msg" in both.json()


def test_historical_candles_use_the_historical_shape_and_agree_across_periods(
    server: SimulatorServer,
) -> None:
    market = _get(server, "/historical/markets", series_ticker="KXBTCD", limit=1).json()["markets"][
        0
    ]
    path = f"/historical/markets/{market['ticker']}/candlesticks"
    opened = int(dt.datetime.fromisoformat(market["open_time"]).timestamp())
    closed = int(dt.datetime.fromisoformat(market["close_time"]).timestamp())
    minutes = _get(server, path, start_ts=opened, end_ts=closed, period_interval=1).json()
    hours = _get(server, path, start_ts=opened, end_ts=closed + 3600, period_interval=60).json()
    candle = minutes["candlesticks"][0]
    assert set(candle) == {
        "end_period_ts",
        "yes_bid",
        "yes_ask",
        "price",
        "volume",
        "open_interest",
    }
    assert set(candle["yes_bid"]) == {"open", "high", "low", "close"}
    assert set(candle["price"]) == {"open", "high", "low", "close", "mean", "previous"}
    assert len(minutes["candlesticks"]) == (closed - opened) // 60
    ends = [c["end_period_ts"] for c in minutes["candlesticks"]]
    assert ends == list(range(opened + 60, closed + 1, 60))
    # An hour's volume is the sum of its minutes' volumes.
    first_hour = hours["candlesticks"][0]
    in_hour = [
        c for c in minutes["candlesticks"] if c["end_period_ts"] <= first_hour["end_period_ts"]
    ]
    assert sum(float(c["volume"]) for c in in_hour) == pytest.approx(float(first_hour["volume"]))
    assert first_hour["yes_bid"]["open"] == in_hour[0]["yes_bid"]["open"]
    assert first_hour["yes_bid"]["close"] == in_hour[-1]["yes_bid"]["close"]
    bad = _get(server, path, start_ts=opened, end_ts=closed, period_interval=5)
    assert bad.status_code == 400


def test_historical_trades_page_newest_first_within_the_window(server: SimulatorServer) -> None:
    market = _get(server, "/historical/markets", series_ticker="KXHIGHCHI", limit=1).json()[
        "markets"
    ][0]
    trades: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = _get(
            server, "/historical/trades", ticker=market["ticker"], limit=50, cursor=cursor or ""
        ).json()
        trades.extend(page["trades"])
        cursor = page["cursor"]
        if not cursor:
            break
    assert trades and set(trades[0]) >= TRADE_REQUIRED
    times = [t["created_time"] for t in trades]
    assert times == sorted(times, reverse=True)
    assert len({t["trade_id"] for t in trades}) == len(trades)
    assert sum(float(t["count_fp"]) for t in trades) == pytest.approx(float(market["volume_fp"]))
    middle = dt.datetime.fromisoformat(times[len(times) // 2])
    later = _get(
        server, "/historical/trades", ticker=market["ticker"], min_ts=int(middle.timestamp())
    ).json()["trades"]
    assert later and all(t["created_time"] >= times[len(times) // 2][:19] for t in later)


def test_the_past_is_deterministic_and_leaves_todays_world_byte_identical() -> None:
    with SimulatorServer(_config(5)) as a, SimulatorServer(_config(5)) as b:
        before = _get(a, "/markets", limit=1000).content
        assert (
            _get(a, "/historical/markets", limit=50).content
            == _get(b, "/historical/markets", limit=50).content
        )
        httpx.post(a.admin_url + "/history", json={"live_days": 2}).raise_for_status()
        assert _get(a, "/markets", limit=1000).content == before  # no status=settled: as is
        assert _get(b, "/markets", limit=1000).content == before
        assert _get(a, "/markets/trades", limit=100).status_code == 200


def test_live_tier_serves_the_recent_past_on_the_live_endpoints() -> None:
    with SimulatorServer(_config(9)) as s:
        httpx.post(s.admin_url + "/history", json={"live_days": 3}).raise_for_status()
        cutoff = dt.datetime.fromisoformat(
            _get(s, "/historical/cutoff").json()["market_settled_ts"]
        )
        assert cutoff == START - dt.timedelta(days=3)
        settled = _get(s, "/markets", series_ticker="KXHIGHNY", status="settled", limit=1000).json()
        recent = [
            m for m in settled["markets"] if m["ticker"].count("-") == 2 and "settlement_ts" in m
        ]
        past = [m for m in recent if dt.datetime.fromisoformat(m["settlement_ts"]) < START]
        assert past, "the live tier lists the recently settled past"
        ticker = past[-1]["ticker"]
        assert _get(s, f"/markets/{ticker}").status_code == 200
        assert _get(s, f"/historical/markets/{ticker}").status_code == 404
        candles = _get(
            s,
            f"/series/KXHIGHNY/markets/{ticker}/candlesticks",
            start_ts=0,
            end_ts=2**40,
            period_interval=60,
        ).json()["candlesticks"]
        assert candles and "volume_fp" in candles[0] and "open_dollars" in candles[0]["yes_bid"]
        trades = _get(s, "/markets/trades", ticker=ticker, limit=1000).json()["trades"]
        assert trades and all(
            dt.datetime.fromisoformat(t["created_time"]) >= cutoff for t in trades
        )


def test_budget_meters_and_enforces_and_limits_report_it() -> None:
    with SimulatorServer(_config(3)) as s:
        httpx.post(
            s.admin_url + "/budget",
            json={"refill_rate": 50, "bucket_capacity": 50, "enforce": True},
        ).raise_for_status()
        codes = [_get(s, "/historical/cutoff").status_code for _ in range(12)]
        assert codes.count(429) >= 1 and codes[:5] == [200] * 5
        report = httpx.get(s.admin_url + "/budget").json()
        assert report["over_budget"] == codes.count(429)
        assert report["requests"] == codes.count(200)
        key_id, pem = s.create_account()
        from shared.kalshi.client import KalshiClient
        from shared.kalshi.signing import KalshiSigner

        httpx.post(s.admin_url + "/budget", json={"refill_rate": 300, "enforce": False})
        with KalshiClient(
            base_url=s.base_url, signer=KalshiSigner.from_pem(key_id, pem), rate_limit=False
        ) as client:
            limits = client.get_account_limits()
        assert limits.read.refill_rate == 300
