"""AsyncKalshiClient on the wire: pagination, signing and 429 retries under the limiter."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from shared.kalshi.client import AsyncKalshiClient, RetryPolicy
from shared.kalshi.errors import PaginationError
from shared.kalshi.ratelimit import KalshiRateLimiter
from shared.kalshi.signing import KalshiSigner

from .conftest import cursor_offset, make_markets, offset_cursor
from .loopback import Answer, LoopbackKalshi, Seen
from .test_retries_wire import TOO_MANY, assert_within_rate

pytestmark = pytest.mark.integration


def test_async_pagination_with_429s_under_the_rate(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    markets = make_markets(market_template, 1200)
    refused: set[str] = set()

    def route(seen: Seen) -> Answer:
        cursor = seen.query.get("cursor") or ""
        if cursor not in refused:  # every page is refused once before it is served
            refused.add(cursor)
            return Answer(429, TOO_MANY)
        start = cursor_offset(cursor) if cursor else 0
        limit = int(seen.query["limit"])
        nxt = offset_cursor(start + limit) if start + limit < len(markets) else ""
        body = {"markets": markets[start : start + limit], "cursor": nxt}
        return Answer(200, json.dumps(body).encode())

    kalshi.route("/markets", route)
    rate, burst = 20.0, 2.0

    async def scenario() -> list[str]:
        async with AsyncKalshiClient(
            base_url=kalshi.base_url,
            signer=signer,
            rate_limiter=KalshiRateLimiter.per_second(rate, read_burst=burst),
            retry=RetryPolicy(max_attempts=5, base_delay=0.0, max_delay=0.0),
        ) as client:
            tickers = [m.ticker async for m in client.iter_markets(limit=100)]
            assert client.stats.rate_limited == 12
            return tickers

    tickers = asyncio.run(scenario())
    assert tickers == [m["ticker"] for m in markets]
    seen = kalshi.requests_to("/markets")
    assert len(seen) == 24  # 12 pages, each refused once
    assert all(s.signature_ok for s in seen)
    assert_within_rate([s.at for s in seen], rate, burst, jitter=0.08)


def test_async_repeating_cursor(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    page = make_markets(market_template, 2)
    kalshi.route(
        "/markets", lambda seen: Answer(200, json.dumps({"markets": page, "cursor": "x"}).encode())
    )

    async def scenario() -> None:
        async with AsyncKalshiClient(base_url=kalshi.base_url, signer=signer) as client:
            await client.get_all_markets()

    with pytest.raises(PaginationError):
        asyncio.run(scenario())
    assert len(kalshi.seen) == 2


def test_async_concurrent_calls_share_the_limiter(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    kalshi.route(
        "/exchange/status",
        lambda seen: Answer(200, b'{"exchange_active":true,"trading_active":true}'),
    )
    rate, burst = 40.0, 5.0

    async def scenario() -> None:
        async with AsyncKalshiClient(
            base_url=kalshi.base_url,
            signer=signer,
            rate_limiter=KalshiRateLimiter.per_second(rate, read_burst=burst),
        ) as client:
            statuses = await asyncio.gather(*(client.get_exchange_status() for _ in range(45)))
            assert all(s.exchange_active for s in statuses)

    asyncio.run(scenario())
    stamps = [s.at for s in kalshi.seen]
    assert len(stamps) == 45
    assert_within_rate(stamps, rate, burst, jitter=0.08)
    assert max(stamps) - min(stamps) >= (45 - burst) / rate * 0.9
