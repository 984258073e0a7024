"""Kalshi client benchmark: model parsing and request signing, as ratios to baselines.

Run: ``.venv/bin/python -m tests.bench.bench_kalshi_client``

1. Markets parsed per second for a realistic 1,000-market ``GET /markets`` page (built from
   the recorded demo markets), typed and exact (Decimal prices, datetimes), against bare
   ``json.loads`` of the same bytes.
2. RSA-PSS signing cost per request (2048-bit key), against HMAC-SHA256 of the same message
   and ``json.loads`` of a small body.
3. The client's whole per-request overhead (build, sign, send over an in-memory transport,
   parse) against a bare ``httpx`` GET on the same transport.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from shared.kalshi.client import KalshiClient, RetryPolicy
from shared.kalshi.models import GetMarketsResponse, decode
from shared.kalshi.signing import KalshiSigner, generate_private_key_pem

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kalshi_recorded"
PAGE_SIZE = 1000


def build_market_page(size: int = PAGE_SIZE) -> bytes:
    """A ``GET /markets`` page of ``size`` distinct markets shaped like the recorded ones."""
    templates: list[dict[str, Any]] = [
        json.loads((FIXTURES / "markets__single.json").read_bytes())["market"],
        *json.loads((FIXTURES / "markets__page1.json").read_bytes())["markets"],
    ]
    markets = []
    for i in range(size):
        template = templates[i % len(templates)]
        cents = 1 + i % 98
        markets.append(
            {
                **template,
                "ticker": f"{template['ticker']}-{i:04d}",
                "yes_bid_dollars": f"{cents / 100:.4f}",
                "yes_ask_dollars": f"{(cents + 1) / 100:.4f}",
                "no_bid_dollars": f"{(99 - cents) / 100:.4f}",
                "no_ask_dollars": f"{(100 - cents) / 100:.4f}",
                "volume_fp": f"{i * 3}.00",
            }
        )
    return json.dumps({"cursor": "CgwIuKKp0QYQ-MDV3QIS", "markets": markets}).encode()


def timed(fn: Callable[[], object], *, repeat: int = 9, number: int = 5) -> float:
    """Best seconds per call over ``repeat`` batches of ``number`` calls.

    Best, not median: the machine is shared, and interference only ever adds time.
    """
    fn()  # warm up caches (decoders, imports)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number)
    return min(samples)


def bench_parse() -> dict[str, float]:
    body = build_market_page()
    page = decode(body, GetMarketsResponse)
    assert len(page.markets) == PAGE_SIZE
    json_s = timed(lambda: json.loads(body))
    model_s = timed(lambda: decode(body, GetMarketsResponse))
    return {
        "page_bytes": len(body),
        "json_loads_ms": json_s * 1e3,
        "model_ms": model_s * 1e3,
        "json_markets_per_s": PAGE_SIZE / json_s,
        "model_markets_per_s": PAGE_SIZE / model_s,
        "time_ratio": model_s / json_s,
    }


def bench_signing() -> dict[str, float]:
    signer = KalshiSigner.from_pem("bench", generate_private_key_pem(2048))
    path = "/trade-api/v2/markets/KXWTACHALLENGERMATCH-26JUN11JIMLEP-LEP/orderbook"
    secret = b"k" * 32
    message = f"1781159357356GET{path}".encode()
    small_body = (FIXTURES / "exchange__status.json").read_bytes()
    sign_s = timed(lambda: signer.headers("GET", path), number=50)
    hmac_s = timed(lambda: hmac.new(secret, message, hashlib.sha256).digest(), number=20000)
    json_s = timed(lambda: json.loads(small_body), number=20000)
    return {
        "sign_ms": sign_s * 1e3,
        "hmac_us": hmac_s * 1e6,
        "small_json_us": json_s * 1e6,
        "sign_vs_hmac": sign_s / hmac_s,
        "sign_vs_small_json": sign_s / json_s,
    }


def bench_request_overhead() -> dict[str, float]:
    body = (FIXTURES / "exchange__status.json").read_bytes()
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    signer = KalshiSigner.from_pem("bench", generate_private_key_pem(2048))
    bare = httpx.Client(transport=transport)
    url = "http://kalshi.bench/trade-api/v2/exchange/status"
    plain = KalshiClient(
        base_url="http://kalshi.bench/trade-api/v2",
        transport=transport,
        rate_limit=False,
        retry=RetryPolicy.none(),
    )
    signed = KalshiClient(
        base_url="http://kalshi.bench/trade-api/v2",
        transport=transport,
        signer=signer,
        rate_limit=False,
        retry=RetryPolicy.none(),
    )
    try:
        bare_s = timed(lambda: bare.get(url).content, number=200)
        plain_s = timed(plain.get_exchange_status, number=200)
        signed_s = timed(signed.get_exchange_status, number=50)
    finally:
        bare.close()
        plain.close()
        signed.close()
    return {
        "bare_httpx_us": bare_s * 1e6,
        "client_unsigned_us": plain_s * 1e6,
        "client_signed_us": signed_s * 1e6,
        "unsigned_vs_bare": plain_s / bare_s,
        "signed_vs_bare": signed_s / bare_s,
    }


def main() -> None:
    parse = bench_parse()
    print(
        f"markets page: {PAGE_SIZE} markets, {parse['page_bytes'] / 1e6:.2f} MB\n"
        f"  json.loads (baseline)      {parse['json_loads_ms']:8.2f} ms "
        f"{parse['json_markets_per_s']:>10,.0f} markets/s\n"
        f"  typed models (exact)       {parse['model_ms']:8.2f} ms "
        f"{parse['model_markets_per_s']:>10,.0f} markets/s\n"
        f"  ratio model/json.loads     {parse['time_ratio']:8.2f}x time"
    )
    sign = bench_signing()
    print(
        "signing (RSA-PSS 2048, SHA-256):\n"
        f"  per request                {sign['sign_ms']:8.3f} ms\n"
        f"  HMAC-SHA256 (baseline)     {sign['hmac_us']:8.2f} us  "
        f"-> signing = {sign['sign_vs_hmac']:,.0f}x HMAC\n"
        f"  json.loads small body      {sign['small_json_us']:8.2f} us  "
        f"-> signing = {sign['sign_vs_small_json']:,.0f}x"
    )
    overhead = bench_request_overhead()
    print(
        "per-request overhead over an in-memory transport:\n"
        f"  bare httpx GET (baseline)  {overhead['bare_httpx_us']:8.1f} us\n"
        f"  KalshiClient, unsigned     {overhead['client_unsigned_us']:8.1f} us  "
        f"({overhead['unsigned_vs_bare']:.2f}x)\n"
        f"  KalshiClient, signed       {overhead['client_signed_us']:8.1f} us  "
        f"({overhead['signed_vs_bare']:.2f}x)"
    )


if __name__ == "__main__":
    main()
