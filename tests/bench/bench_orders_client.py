"""Order placement through the project's helpers against a bare signed request.

Run: ``.venv/bin/python -m tests.bench.bench_orders_client``

Both place the same resting V2 limit order on the exchange simulator over loopback (and
cancel it, untimed, so the book does not grow): the baseline is a bare ``httpx`` POST with
Kalshi's signature headers, what one would write without the helpers; the measured path is
``KalshiOrders.create`` (typed request, generated ``client_order_id``, the client's
protocol and retry loop, typed answer). Figures: p50/p95 latency of each and their ratio.

The simulator runs in its own process: served from a thread of the measuring process,
every request took ~44 ms on this machine (against ~1 ms from a separate process), which
would drown what is measured.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal

import httpx

from shared.kalshi.client import KalshiClient, RetryPolicy
from shared.kalshi.orders import CreateOrder, KalshiOrders
from shared.kalshi.signing import (
    KalshiSigner,
    generate_private_key_pem,
    load_private_key,
    public_key_pem,
)

ROUNDS = 400
PATH = "/trade-api/v2/portfolio/events/orders"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def run(
    first: Callable[[], str], second: Callable[[], str], cancel: Callable[[str], None]
) -> tuple[list[float], list[float]]:
    """Alternate the two round by round, so load on the shared machine hits both alike."""
    for _ in range(20):  # warm up connections and caches
        cancel(first())
        cancel(second())
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(ROUNDS):
        for place, out in ((first, samples[0]), (second, samples[1])):
            start = time.perf_counter()
            order_id = place()
            out.append(time.perf_counter() - start)
            cancel(order_id)
    return samples


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulator() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "emulators.kalshi_sim", "--port", str(port)),
            *("--markets", "40", "--tick-interval", "0", "--seed", "99", "--fill-rate", "0"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(origin + "/_sim/state", timeout=1)
            return process, origin
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("simulator did not start") from None
            time.sleep(0.1)


def main() -> None:
    process, origin = start_simulator()
    base_url = origin + "/trade-api/v2"
    try:
        pem = generate_private_key_pem()
        account = httpx.post(
            origin + "/_sim/accounts",
            json={
                "balance_dollars": "1000000",
                "public_key_pem": public_key_pem(load_private_key(pem)),
            },
        ).json()
        signer = KalshiSigner.from_pem(account["key_id"], pem)
        ticker = next(
            m["ticker"]
            for m in httpx.get(base_url + "/markets", params={"status": "open"}).json()["markets"]
            if m["status"] == "active" and m["price_level_structure"] == "linear_cent"
        )
        bare = httpx.Client(timeout=10, trust_env=False)
        janitor = httpx.Client(timeout=10, trust_env=False)  # cancels on its own connection
        client = KalshiClient(
            base_url=base_url, signer=signer, rate_limit=False, retry=RetryPolicy.none()
        )
        orders = KalshiOrders(client)

        def cancel(order_id: str) -> None:
            janitor.delete(
                f"{base_url}/portfolio/events/orders/{order_id}",
                headers=signer.headers("DELETE", f"{PATH}/{order_id}"),
            )

        def bare_place() -> str:
            body = json.dumps(
                {
                    "ticker": ticker,
                    "client_order_id": str(uuid.uuid4()),
                    "side": "bid",
                    "count": "1.00",
                    "price": "0.0100",
                    "time_in_force": "good_till_canceled",
                    "self_trade_prevention_type": "taker_at_cross",
                }
            ).encode()
            headers = {**signer.headers("POST", PATH), "Content-Type": "application/json"}
            response = bare.post(
                base_url + "/portfolio/events/orders", content=body, headers=headers
            )
            return str(response.json()["order_id"])

        def helper_place() -> str:
            return orders.create(CreateOrder(ticker, "bid", Decimal(1), Decimal("0.01"))).order_id

        try:
            bare_s, helper_s = run(bare_place, helper_place, cancel)
        finally:
            bare.close()
            janitor.close()
            client.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
    b50, b95 = percentiles(bare_s)
    h50, h95 = percentiles(helper_s)
    print(
        f"order create on the simulator over loopback, {ROUNDS} rounds each\n"
        f"  bare signed httpx POST (baseline)  p50 {b50 * 1e3:6.2f} ms  p95 {b95 * 1e3:6.2f} ms\n"
        f"  KalshiOrders.create                p50 {h50 * 1e3:6.2f} ms  p95 {h95 * 1e3:6.2f} ms\n"
        f"  ratio (helper / bare)              p50 {h50 / b50:6.2f}x    p95 {h95 / b95:6.2f}x\n"
        f"  helper adds                        p50 {(h50 - b50) * 1e3:6.2f} ms  "
        f"p95 {(h95 - b95) * 1e3:6.2f} ms"
    )


if __name__ == "__main__":
    main()
