"""Order placement through the API against a bare signed V2 create, over loopback.

Run: ``.venv/bin/python -m tests.bench.bench_orders [rounds]`` (default 300)

Starts a real ``kalshi-insights up`` (Postgres, the Kalshi simulator, the emulators, the
account function under functions-framework, the gateway) in a temporary state directory,
signs in two demo accounts and turns trading on for one, then places the same order (buy 1
YES at $0.01, good till canceled: it rests, so both paths do the same matching work) both
ways, interleaved round by round so the machine's noise falls on both alike:

- **baseline**: what a competent script does without us: one keep-alive ``httpx`` client,
  RSA-PSS signing per request, ``POST /trade-api/v2/portfolio/events/orders`` straight to
  the simulator (account B's key);
- **API**: ``POST /api/v1/account/orders`` with a trade-scoped API token, straight to the
  account function (what the API adds: HTTP to the function, authentication, settings,
  limits, the market-rules cache, two ``order_audit`` writes, the same signed create);
- **API via gateway**: the same through the local gateway (a stand-in for the load
  balancer, which the cloud pays differently);
- **API with a session**: the dashboard's way, straight to the function: the session
  cookie, ``Origin`` and the CSRF token (its check is one statement, as a token's is:
  ADR 0205).

Rounds are paced at 2.5 per second (the API user places three orders a round: 7.5 writes
a second): Kalshi's Basic tier allows 10 writes a second per key and the account
function's client keeps under it by waiting, which would be measured as overhead. Prints
p50/p95/p99 per path, each API path's p95 overhead over the baseline (target: at most
10 ms) and the machine's load average.

To compare two versions under the same load, run two of these at once, one from an export
of the older commit with ``PYTHONPATH`` pointing at it (the stack's processes inherit it, so
the functions import that tree's ``shared``). To see where the function's time goes, attach
``py-spy record --idle --threads --pid <account worker>`` (the gunicorn worker is the
child of the functions-framework process serving the ``account`` port in ``ports.json``).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROUNDS = 300
WARMUP = 10
PACE_S = 0.4
ROOT = Path(__file__).resolve().parents[2]


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def _demo_account(state_dir: Path) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "devstack.cli", "demo-account", "--state-dir", str(state_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(done.stdout))


def _cent_market(simulator: str) -> str:
    markets = httpx.get(
        f"{simulator}/trade-api/v2/markets", params={"status": "open", "limit": 1000}, timeout=30
    ).json()["markets"]
    for market in markets:
        steps = [r["step"] for r in market.get("price_ranges") or []]
        if steps == ["0.0100"] and float(market["yes_bid_dollars"]) >= 0.05:
            return str(market["ticker"])
    raise RuntimeError("no open cent market")


def run(rounds: int = ROUNDS) -> dict[str, Any]:
    from shared.kalshi.signing import KalshiSigner
    from tests.live_stack import live_stack

    # The whole stack on a free port; the simulator's random fills of demo accounts off.
    with live_stack("ki-bench-orders-") as (gateway, state, _launcher):
        ports = json.loads((state / "ports.json").read_text())
        simulator = f"http://127.0.0.1:{ports['simulator']}"
        function = f"http://127.0.0.1:{ports['account']}"
        ticker = _cent_market(simulator)

        # API user: sign in, trading on, a trade-scoped token for the script.
        browser = httpx.Client(base_url=gateway, timeout=30)
        signed = browser.post(
            "/api/v1/account/authenticate",
            json=_demo_account(state),
            headers={"Origin": gateway},
        )
        signed.raise_for_status()
        changing = {"Origin": gateway, "X-CSRF-Token": browser.cookies["ki_csrf"]}
        browser.put(
            "/api/v1/account/settings",
            json={"trading_enabled": True, "max_order_contracts": "10"},
            headers=changing,
        ).raise_for_status()
        made = browser.post(
            "/api/v1/account/tokens", json={"name": "bench", "scope": "trade"}, headers=changing
        )
        made.raise_for_status()
        bearer = {"Authorization": f"Bearer {made.json()['token']}"}

        # Baseline user: the bare signed create.
        bare_account = _demo_account(state)
        signer = KalshiSigner.from_pem(bare_account["key_id"], bare_account["private_key_pem"])
        bare = httpx.Client(base_url=simulator, timeout=30)
        create_path = "/trade-api/v2/portfolio/events/orders"

        def bare_create() -> None:
            body = {
                "ticker": ticker,
                "client_order_id": str(uuid.uuid4()),
                "side": "bid",
                "count": "1.00",
                "price": "0.0100",
                "time_in_force": "good_till_canceled",
                "self_trade_prevention_type": "taker_at_cross",
                "post_only": False,
            }
            answer = bare.post(create_path, json=body, headers=signer.headers("POST", create_path))
            assert answer.status_code == 201, answer.text

        ticket = {"ticker": ticker, "side": "yes", "action": "buy", "count": "1", "price": "0.01"}
        direct = httpx.Client(base_url=function, timeout=30, headers=bearer)
        through = httpx.Client(base_url=gateway, timeout=30, headers=bearer)
        # The dashboard's way: the session cookie with Origin and the CSRF token (the
        # session check covers the stored key, as a token's statement does).
        session = httpx.Client(
            base_url=function, timeout=30, cookies=browser.cookies, headers=changing
        )

        def api_create(client: httpx.Client) -> None:
            answer = client.post("/api/v1/account/orders", json=ticket)
            assert answer.status_code == 201, answer.text

        paths = {
            "baseline": bare_create,
            "api": lambda: api_create(direct),
            "api_via_gateway": lambda: api_create(through),
            "api_session": lambda: api_create(session),
        }
        samples: dict[str, list[float]] = {name: [] for name in paths}
        for i in range(WARMUP + rounds):
            started = time.perf_counter()
            order = list(paths.items())
            if i % 2:
                order.reverse()
            for name, call in order:
                t0 = time.perf_counter()
                call()
                if i >= WARMUP:
                    samples[name].append((time.perf_counter() - t0) * 1000)
            time.sleep(max(0.0, PACE_S - (time.perf_counter() - started)))
        for client in (browser, bare, direct, through, session):
            client.close()

    # The machine's load: every extra hop of the API path (function, Postgres) waits for a
    # CPU, so its overhead grows with load far more than the two-hop baseline's does.
    figures: dict[str, Any] = {"rounds": rounds, "load_average_1m": round(os.getloadavg()[0], 2)}
    for name, values in samples.items():
        figures[name] = {
            "p50_ms": round(statistics.median(values), 2),
            "p95_ms": round(percentile(values, 95), 2),
            "p99_ms": round(percentile(values, 99), 2),
        }
    base_p95 = figures["baseline"]["p95_ms"]
    for name in ("api", "api_via_gateway", "api_session"):
        figures[name]["p95_overhead_ms"] = round(figures[name]["p95_ms"] - base_p95, 2)
        figures[name]["p50_ratio"] = round(
            figures[name]["p50_ms"] / figures["baseline"]["p50_ms"], 2
        )
    figures["target_met"] = figures["api"]["p95_overhead_ms"] <= 10.0
    return figures


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else ROUNDS
    print(json.dumps(run(rounds), indent=2), flush=True)


if __name__ == "__main__":
    main()
