"""Retries, rate limiting, timeouts and error mapping against a real HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import pytest

from shared.kalshi.client import KalshiClient, RetryPolicy
from shared.kalshi.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    KalshiAPIError,
    KalshiTransportError,
    NotFoundError,
    RateLimitedError,
)
from shared.kalshi.ratelimit import KalshiRateLimiter
from shared.kalshi.signing import KalshiSigner, generate_private_key_pem

from .loopback import Answer, LoopbackKalshi, Seen, recorded

pytestmark = pytest.mark.integration

TOO_MANY = b'{"error": "too many requests"}'


def market_body(template: dict[str, Any], ticker: str) -> bytes:
    return json.dumps({"market": {**template, "ticker": ticker}}).encode()


def assert_within_rate(stamps: list[float], rate: float, burst: float, jitter: float) -> None:
    """At most burst + rate * (window + jitter) arrivals in any window between two arrivals.

    ``jitter`` covers the variable delay between the client taking its token and the request
    reaching the server (thread scheduling on a shared machine).
    """
    stamps = sorted(stamps)
    for i in range(len(stamps)):
        for j in range(i, len(stamps)):
            window = stamps[j] - stamps[i]
            allowed = burst + rate * (window + jitter)
            assert j - i + 1 <= allowed, (
                f"{j - i + 1} requests in {window:.3f}s exceed {allowed:.1f} "
                f"(rate {rate}/s, burst {burst})"
            )


def test_429s_are_retried_without_exceeding_the_configured_rate(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    rate, burst = 25.0, 4.0
    lock = threading.Lock()
    refused: set[str] = set()

    def flaky(seen: Seen) -> Answer:
        """Refuse the first request for each of T-0..T-19 with Kalshi's 429 body."""
        ticker = seen.path.rsplit("/", 1)[1]
        with lock:
            if int(ticker.split("-")[1]) < 20 and ticker not in refused:
                refused.add(ticker)
                return Answer(429, TOO_MANY)
        return Answer(200, market_body(market_template, ticker))

    for n in range(40):
        kalshi.route(f"/markets/T-{n}", flaky)

    limiter = KalshiRateLimiter.per_second(rate, read_burst=burst)
    # No backoff at all: the limiter alone must hold the client to the rate.
    retry = RetryPolicy(max_attempts=12, base_delay=0.0, max_delay=0.0)
    results: dict[int, str] = {}
    errors: list[BaseException] = []

    def worker(client: KalshiClient, numbers: range) -> None:
        try:
            for n in numbers:
                results[n] = client.get_market(f"T-{n}").ticker
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    with KalshiClient(
        base_url=kalshi.base_url, signer=signer, rate_limiter=limiter, retry=retry, timeout=5.0
    ) as client:
        threads = [
            threading.Thread(target=worker, args=(client, range(k, 40, 4))) for k in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        stats = client.stats

    assert not errors, errors
    assert results == {n: f"T-{n}" for n in range(40)}
    assert len(refused) == 20
    assert (stats.rate_limited, stats.retries, stats.requests_sent) == (20, 20, 60)
    stamps = [s.at for s in kalshi.seen]
    assert len(stamps) == 60
    assert all(s.signature_ok for s in kalshi.seen)
    assert_within_rate(stamps, rate, burst, jitter=0.08)
    # And the limiter is what paced it: 60 requests at 25/s after a burst of 4 take >= 2.2 s.
    assert max(stamps) - min(stamps) >= (60 - burst) / rate * 0.9


def test_503_is_retried_with_a_fresh_signature_each_time(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    answers = iter([Answer(503, b"<html>Service Unavailable</html>", content_type="text/html")] * 2)

    def route(seen: Seen) -> Answer:
        return next(answers, Answer(200, market_body(market_template, "KX-1")))

    kalshi.route("/markets/KX-1", route)
    with KalshiClient(
        base_url=kalshi.base_url,
        signer=signer,
        retry=RetryPolicy(max_attempts=4, base_delay=0.02, max_delay=0.05),
    ) as client:
        market = client.get_market("KX-1")
        stats = client.stats
    assert market.ticker == "KX-1"
    seen = kalshi.requests_to("/markets/KX-1")
    assert len(seen) == 3
    assert (stats.server_errors, stats.retries) == (2, 2)
    assert all(s.signature_ok for s in seen)
    signatures = {s.headers["kalshi-access-signature"] for s in seen}
    assert len(signatures) == 3  # re-signed per attempt


def test_timeout_is_retried(
    kalshi: LoopbackKalshi, signer: KalshiSigner, market_template: dict[str, Any]
) -> None:
    calls = 0

    def slow_then_fast(seen: Seen) -> Answer:
        nonlocal calls
        calls += 1
        delay = 1.0 if calls == 1 else 0.0
        return Answer(200, market_body(market_template, "SLOW"), delay=delay)

    kalshi.route("/markets/SLOW", slow_then_fast)
    with KalshiClient(
        base_url=kalshi.base_url,
        signer=signer,
        timeout=0.3,
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02),
    ) as client:
        assert client.get_market("SLOW").ticker == "SLOW"
        stats = client.stats
    assert calls == 2
    assert (stats.transport_errors, stats.retries) == (1, 1)


def test_timeouts_exhausted_raise_transport_error(
    kalshi: LoopbackKalshi, signer: KalshiSigner
) -> None:
    kalshi.route("/exchange/status", lambda seen: Answer(200, b"{}", delay=0.6))
    with (
        KalshiClient(
            base_url=kalshi.base_url,
            signer=signer,
            timeout=0.15,
            retry=RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0),
        ) as client,
        pytest.raises(KalshiTransportError) as info,
    ):
        client.get_exchange_status()
    assert info.value.attempts == 2
    assert "timed out" in str(info.value)
    assert "KALSHI-ACCESS" not in str(info.value)


def test_400_is_not_retried(kalshi: LoopbackKalshi, signer: KalshiSigner) -> None:
    kalshi.route("/markets", lambda seen: Answer(400, recorded("markets__limit_over_max")))
    with KalshiClient(base_url=kalshi.base_url, signer=signer) as client:
        with pytest.raises(BadRequestError) as info:
            client.get_markets(limit=1001)
        assert client.stats.retries == 0
    assert len(kalshi.requests_to("/markets")) == 1
    assert "GetMarketsParams.Limit" in str(info.value)


@pytest.mark.parametrize(
    ("fixture", "status", "expected"),
    [
        ("auth__bad_signature", 401, AuthenticationError),
        ("auth__skew_minus30s", 401, AuthenticationError),
        ("orders__cancel_unknown_id", 404, NotFoundError),
        ("orders__duplicate_client_order_id", 409, ConflictError),
        ("orders__numeric_field_types", 400, BadRequestError),
        ("orders__post_only_cross", 400, BadRequestError),
        ("markets__limit_over_max", 400, BadRequestError),
    ],
)
def test_recorded_error_bodies_from_the_wire(
    kalshi: LoopbackKalshi,
    signer: KalshiSigner,
    fixture: str,
    status: int,
    expected: type[KalshiAPIError],
) -> None:
    kalshi.route("/portfolio/events/orders", lambda seen: Answer(status, recorded(fixture)))
    client = KalshiClient(base_url=kalshi.base_url, signer=signer)
    with client, pytest.raises(KalshiAPIError) as info:
        client.request("POST", "/portfolio/events/orders", json={"ticker": "T"})
    assert type(info.value) is expected
    assert info.value.status == status
    assert len(kalshi.seen) == 1


def test_429_exhausted_is_rate_limited_error(kalshi: LoopbackKalshi, signer: KalshiSigner) -> None:
    kalshi.route("/portfolio/balance", lambda seen: Answer(429, TOO_MANY))
    with (
        KalshiClient(
            base_url=kalshi.base_url,
            signer=signer,
            retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02),
        ) as client,
        pytest.raises(RateLimitedError) as info,
    ):
        client.get_balance()
    assert info.value.attempts == 3
    assert info.value.message == "too many requests"
    assert len(kalshi.seen) == 3


def test_wrong_key_is_rejected_by_the_server(kalshi: LoopbackKalshi) -> None:
    """The loopback server really verifies: a different key gets Kalshi's 401."""
    stranger = KalshiSigner.from_pem("unknown", generate_private_key_pem(2048))
    kalshi.route("/portfolio/balance", lambda seen: Answer(200, recorded("auth__balance_ok")))
    client = KalshiClient(base_url=kalshi.base_url, signer=stranger)
    with client, pytest.raises(AuthenticationError) as info:
        client.get_balance()
    assert "INCORRECT_API_KEY_SIGNATURE" in str(info.value)
    assert "signature did not verify" in str(info.value)
    assert kalshi.seen[0].signature_ok is False


def test_signed_balance_round_trip(kalshi: LoopbackKalshi, signer: KalshiSigner) -> None:
    kalshi.route("/portfolio/balance", lambda seen: Answer(200, recorded("auth__balance_ok")))
    with KalshiClient(base_url=kalshi.base_url, signer=signer) as client:
        balance = client.get_balance(subaccount=0)
    assert str(balance.exact_balance_dollars) == "98.0186"
    assert kalshi.seen[0].query == {"subaccount": "0"}
    assert kalshi.seen[0].signature_ok is True


def test_connection_refused_is_retried_then_raised() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with KalshiClient(
        base_url=f"http://127.0.0.1:{port}/trade-api/v2",
        retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.02),
    ) as client:
        with pytest.raises(KalshiTransportError) as info:
            client.get_exchange_status()
        assert client.stats.requests_sent == 3
    assert info.value.attempts == 3
    assert "ConnectError" in str(info.value)
