"""Client decisions at the HTTP boundary (httpx.MockTransport as the far end).

Wire-level behaviour against a real server lives in tests/integration/kalshi.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest

from shared.kalshi.client import (
    AsyncKalshiClient,
    CursorWalk,
    KalshiClient,
    RetryPolicy,
    api_path,
    signer_from_env,
)
from shared.kalshi.environments import (
    DEMO,
    PRODUCTION,
    KalshiEnvironmentError,
    custom_environment,
    environment_from_env,
    resolve_environment,
)
from shared.kalshi.errors import (
    BadRequestError,
    KalshiTransportError,
    NotFoundError,
    PaginationError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
)
from shared.kalshi.signing import KalshiSigner

Handler = Callable[[httpx.Request], httpx.Response]
NO_WAIT = RetryPolicy(max_attempts=3, base_delay=0, max_delay=0)


def make_client(handler: Handler, **kwargs: object) -> KalshiClient:
    options: dict[str, object] = {
        "base_url": "http://kalshi.test/trade-api/v2",
        "transport": httpx.MockTransport(handler),
        "retry": NO_WAIT,
        "rate_limit": False,
    }
    options.update(kwargs)
    return KalshiClient(**options)  # type: ignore[arg-type]


def test_query_parameters_are_encoded_for_kalshi() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"markets": [], "cursor": ""})

    with make_client(handler) as client:
        page = client.get_markets(
            status="open",
            tickers=["A-1", "B-2"],
            min_close_ts=dt.datetime(2026, 6, 11, tzinfo=dt.UTC),
            mve_filter=None,
            limit=100,
        )
    assert page.markets == [] and page.cursor == ""
    params = dict(seen[0].url.params)
    assert params == {
        "status": "open",
        "tickers": "A-1,B-2",
        "min_close_ts": "1781136000",
        "limit": "100",
    }


def test_booleans_are_lowercase_words() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            200,
            json={"event": {"event_ticker": "E", "series_ticker": "S"}, "markets": []},
        )

    with make_client(handler) as client:
        event = client.get_event("E", with_nested_markets=True)
    assert event.event.series_ticker == "S"
    assert seen[0].url.params["with_nested_markets"] == "true"


def test_naive_datetime_query_is_refused() -> None:
    with make_client(lambda r: httpx.Response(200)) as client, pytest.raises(ValueError):
        client.get_trades(min_ts=dt.datetime(2026, 1, 1))


def test_request_accepts_relative_or_absolute_paths_and_refuses_queries() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"series_fee_change_arr": []})

    with make_client(handler) as client:
        assert client.request("GET", "/series/fee_changes") == {"series_fee_change_arr": []}
        client.request("GET", "/trade-api/v2/series/fee_changes", {"show_historical": True})
        client.request("get", "series/fee_changes")
        with pytest.raises(ValueError, match="params"):
            client.request("GET", "/markets?limit=5")
    assert paths == [
        "/trade-api/v2/series/fee_changes",
        "/trade-api/v2/series/fee_changes?show_historical=true",
        "/trade-api/v2/series/fee_changes",
    ]


def test_request_with_model_and_json_body() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        assert request.headers["content-type"] == "application/json"
        return httpx.Response(
            201, json={"order_id": "o1", "fill_count": "0.00", "remaining_count": "1.00"}
        )

    from shared.kalshi.models import CreateOrderV2Response

    with make_client(handler) as client:
        created = client.request(
            "POST",
            "/portfolio/events/orders",
            json={"ticker": "T", "count": "1.00", "price": Decimal("0.0100")},
            model=CreateOrderV2Response,
        )
    assert isinstance(created, CreateOrderV2Response)
    assert created.remaining_count == Decimal("1.00")
    assert bodies[0] == b'{"ticker":"T","count":"1.00","price":"0.0100"}'


def test_get_retries_5xx_then_succeeds_and_counts() -> None:
    statuses = iter([503, 502, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(statuses)
        if status == 200:
            return httpx.Response(200, json={"balance": 5, "balance_dollars": "0.0500"})
        return httpx.Response(status, text="upstream unavailable")

    with make_client(handler) as client:
        balance = client.get_balance()
        stats = client.stats
    assert balance.exact_balance_dollars == Decimal("0.0500")
    assert (stats.requests_sent, stats.retries, stats.server_errors) == (3, 2, 2)


def test_gives_up_after_max_attempts_with_the_last_error() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(429, json={"error": "too many requests"})

    with make_client(handler) as client, pytest.raises(RateLimitedError) as info:
        client.get_market("T")
    assert calls == 3
    assert info.value.attempts == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_other_4xx_are_never_retried(status: int) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(status, json={"error": {"code": "x", "message": "y"}})

    with make_client(handler) as client, pytest.raises(Exception) as info:
        client.get_market("T")
    assert calls == 1
    assert getattr(info.value, "status", None) == status


def test_post_is_not_retried_on_5xx_but_is_on_429() -> None:
    answers = iter([429, 503])
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(next(answers), json={"error": "too many requests"})

    with make_client(handler) as client, pytest.raises(ServerError):
        client.request("POST", "/portfolio/events/orders", json={"ticker": "T"})
    assert calls == 2  # 429 retried (nothing executed); 503 not (the order may exist)


def test_transport_errors_retry_when_safe() -> None:
    calls = 0

    def refused_then_ok(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, json={"exchange_active": True, "trading_active": False})

    with make_client(refused_then_ok) as client:
        assert client.get_exchange_status().trading_active is False
        assert client.stats.transport_errors == 1

    def read_timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with make_client(read_timeout) as client, pytest.raises(KalshiTransportError) as info:
        client.request("POST", "/portfolio/events/orders", json={})
    assert info.value.attempts == 1  # the POST may have executed: not resent
    assert "timed out" in str(info.value) and "POST /trade-api/v2/portfolio/events/orders" in str(
        info.value
    )


def test_exchange_status_body_on_503_is_an_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            503,
            json={
                "exchange_active": False,
                "trading_active": False,
                "exchange_estimated_resume_time": "2026-06-11T09:00:00Z",
            },
        )

    with make_client(handler) as client:
        status = client.get_exchange_status()
    assert status.exchange_active is False
    assert status.exchange_estimated_resume_time == dt.datetime(2026, 6, 11, 9, tzinfo=dt.UTC)

    with make_client(lambda r: httpx.Response(503, text="<html>down</html>")) as client:
        with pytest.raises(ServerError):
            client.get_exchange_status()
        assert client.stats.requests_sent == 3


def test_mismatched_success_body_is_unexpected_response() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"market": {"ticker": 5}})

    with make_client(handler) as client, pytest.raises(UnexpectedResponseError) as info:
        client.get_market("T")
    assert "GetMarketResponse" in str(info.value)
    assert "$.market" in str(info.value)


def test_nan_price_is_rejected() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"balance": 1, "balance_dollars": "NaN"})

    with make_client(handler) as client, pytest.raises(UnexpectedResponseError, match="finite"):
        client.get_balance()


def test_error_bodies_map_to_types_from_the_client() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/markets"):
            return httpx.Response(400, json={"msg": "Parameter validation failed"})
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "not found"}})

    with make_client(handler) as client:
        with pytest.raises(BadRequestError, match="Parameter validation failed"):
            client.get_markets(limit=1001)
        with pytest.raises(NotFoundError) as info:
            client.get_order("missing")
    assert info.value.path == "/trade-api/v2/portfolio/orders/missing"


def test_cursor_walk_rules() -> None:
    walk = CursorWalk("GET /markets", max_pages=10)
    assert walk.next_cursor("a") == "a"
    assert walk.next_cursor("b") == "b"
    with pytest.raises(PaginationError, match="repeated cursor 'a'"):
        walk.next_cursor("a")
    assert CursorWalk("x", 10).next_cursor("") is None
    assert CursorWalk("x", 10).next_cursor(None) is None
    with pytest.raises(PaginationError, match="repeated"):
        CursorWalk("x", 10, start_cursor="s").next_cursor("s")
    capped = CursorWalk("x", max_pages=2)
    capped.next_cursor("1")
    with pytest.raises(PaginationError, match="more than 2 pages"):
        capped.next_cursor("2")
    last_allowed = CursorWalk("x", max_pages=2)
    last_allowed.next_cursor("1")
    assert last_allowed.next_cursor("") is None  # exactly max_pages pages is fine


def test_retry_policy_full_jitter_bounds() -> None:
    policy = RetryPolicy(max_attempts=8, base_delay=0.5, max_delay=3.0)
    rng = random.Random(7)
    for retry_number, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (7, 3.0)]:
        delays = [policy.backoff(retry_number, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # full jitter spreads over the whole range
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_api_path_quotes_each_segment() -> None:
    assert api_path("markets", "KX-1.5", "orderbook") == "/markets/KX-1.5/orderbook"
    assert api_path("markets", "a/b c") == "/markets/a%2Fb%20c"


def test_environments() -> None:
    assert resolve_environment("production") is PRODUCTION
    assert resolve_environment("DEMO") is DEMO
    assert PRODUCTION.rest_base_url == "https://external-api.kalshi.com/trade-api/v2"
    assert DEMO.ws_url == "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"
    sim = custom_environment("http://127.0.0.1:8123/trade-api/v2/")
    assert sim.rest_base_url == "http://127.0.0.1:8123/trade-api/v2"
    assert sim.ws_url == "ws://127.0.0.1:8123/trade-api/ws/v2"
    assert custom_environment("https://h.example").rest_base_url == "https://h.example/trade-api/v2"
    with pytest.raises(KalshiEnvironmentError):
        resolve_environment("staging")
    with pytest.raises(KalshiEnvironmentError):
        custom_environment("ftp://x/trade-api/v2")
    with pytest.raises(KalshiEnvironmentError):
        custom_environment("http://x/trade-api/v2?debug=1")
    from_env = environment_from_env(
        {
            "KALSHI_BASE_URL": "http://127.0.0.1:9/trade-api/v2",
            "KALSHI_WS_URL": "ws://127.0.0.1:9/w",
        }
    )
    assert (from_env.rest_base_url, from_env.ws_url) == (
        "http://127.0.0.1:9/trade-api/v2",
        "ws://127.0.0.1:9/w",
    )
    assert environment_from_env({"KALSHI_ENV": "production"}) is PRODUCTION
    assert environment_from_env({}) is DEMO


def test_signer_from_env(tmp_path: object, private_key_pem: str) -> None:
    from pathlib import Path

    assert signer_from_env({}) is None
    key_file = Path(str(tmp_path)) / "key.pem"
    key_file.write_text(private_key_pem)
    signer = signer_from_env({"KALSHI_KEY_ID": "k1", "KALSHI_PRIVATE_KEY_PATH": str(key_file)})
    assert isinstance(signer, KalshiSigner) and signer.key_id == "k1"
    with pytest.raises(ValueError, match="KALSHI_PRIVATE_KEY_PATH"):
        signer_from_env({"KALSHI_KEY_ID": "k1"})
    env = {
        "KALSHI_BASE_URL": "http://127.0.0.1:9/trade-api/v2",
        "KALSHI_KEY_ID": "k2",
        "KALSHI_PRIVATE_KEY_PATH": str(key_file),
    }
    with KalshiClient.from_env(env, rate_limit=False) as client:
        assert client.environment.rest_base_url == "http://127.0.0.1:9/trade-api/v2"
        assert "key_id='k2'" in repr(client)
        assert client.rate_limiter is None
    async_client = AsyncKalshiClient.from_env({"KALSHI_ENV": "production"})
    assert async_client.environment is PRODUCTION
    asyncio.run(async_client.aclose())


def test_client_repr_shows_no_key_material(signer: KalshiSigner) -> None:
    with make_client(lambda r: httpx.Response(200), signer=signer) as client:
        text = repr(client)
    assert "key_id='a952bcbe" in text
    assert "PRIVATE" not in text and "RSAPrivateKey" not in text


def test_environment_and_base_url_are_exclusive() -> None:
    with pytest.raises(ValueError, match="either"):
        KalshiClient("demo", base_url="http://x/trade-api/v2")


def test_async_client_same_behaviour() -> None:
    statuses = iter([429, 200, 200])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.params.get("cursor", "")))
        status = next(statuses)
        if status == 429:
            return httpx.Response(429, json={"error": "too many requests"})
        cursor = "" if request.url.params.get("cursor") else "next"
        return httpx.Response(200, json={"trades": [_trade(len(seen))], "cursor": cursor})

    async def scenario() -> list[str]:
        async with AsyncKalshiClient(
            base_url="http://kalshi.test/trade-api/v2",
            transport=httpx.MockTransport(handler),
            retry=NO_WAIT,
        ) as client:
            trades = [trade.trade_id async for trade in client.iter_trades(ticker="T")]
            assert client.stats.retries == 1
            return trades

    assert asyncio.run(scenario()) == ["t2", "t3"]
    assert seen == ["", "", "next"]


def _trade(n: int) -> dict[str, object]:
    return {
        "trade_id": f"t{n}",
        "ticker": "T",
        "count_fp": "1.00",
        "yes_price_dollars": "0.4000",
        "no_price_dollars": "0.6000",
        "created_time": "2026-06-15T15:48:42.609997Z",
    }
