"""Account benchmark: ``GET /api/v1/account/positions`` with 200 positions, from the cache.

Run: ``.venv/bin/python -m tests.bench.bench_account`` (about a minute). It starts a
throwaway Postgres cluster and the Kalshi simulator in this process, signs a user in
through the account router, gives them 200 positions with the simulator's admin ``fill``,
reads the view once (so Kalshi's answers are in the per-user cache) and then times:

- **the endpoint**: the whole request in process, a werkzeug request through
  :func:`shared.account.http_api.respond`: routing, the session JWT's EdDSA check, the one
  Postgres query that the session is live and the key valid, the cached view, JSON
  rendering and the ``Cache-Control``/cookie handling;
- **the baseline**: the same response built without the router and without auth: the
  service's cached positions view (the same cache entry the endpoint serves) and
  ``json_response`` of it. It is the least any implementation serving this JSON from a
  cache must do, so the ratio is what routing and authenticating every request cost.

Target: p95 <= 20 ms for the endpoint. Figures go to docs/performance.md.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from werkzeug.test import EnvironBuilder

from devstack.postgres import LocalPostgres
from shared.db.migrate import upgrade
from tests.bench.cluster import throwaway_postgres

POSITIONS = 200
REQUESTS = 400
TARGET_P95_MS = 20.0


class _Secrets:
    """Secret Manager's interface over the local stack's seeded formats (in memory)."""

    def __init__(self) -> None:
        from devstack.services.secret_manager import SEEDED_SECRETS

        self._values = {name: make() for name, make in SEEDED_SECRETS.items()}

    def get(self, name: str, version: str = "latest") -> bytes:
        return self._values[name]


def _request(method: str, path: str, **kwargs: Any) -> Any:
    return EnvironBuilder(method=method, path=path, **kwargs).get_request()


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.95) - 1]


def _time(call: Callable[[], object], n: int) -> list[float]:
    for _ in range(20):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run(server: LocalPostgres) -> dict[str, float]:
    from emulators.kalshi_sim.config import SimConfig
    from emulators.kalshi_sim.runner import SimulatorServer
    from shared.account.cache import AccountCache
    from shared.account.http_api import AccountApi, build_router, respond
    from shared.account.service import AccountService
    from shared.account.settings import AccountSettings
    from shared.api.http import json_response
    from shared.auth.principal import AuthContext, parse_cookies
    from shared.auth.settings import AuthSettings
    from shared.kalshi.client import KalshiClient
    from shared.kalshi.environments import custom_environment
    from shared.kalshi.signing import KalshiSigner

    upgrade(server.url_for("postgres"))
    engine = sa.create_engine(server.url_for("postgres"), pool_size=2)
    config = SimConfig(seed=7, n_markets=400, tick_interval_s=None)
    with SimulatorServer(config) as sim:
        key_id, pem = sim.create_account(balance_dollars=1_000_000)
        signer = KalshiSigner.from_pem(key_id, pem)
        with KalshiClient(base_url=sim.base_url, signer=signer) as client:
            tickers = [m.ticker for m in client.get_all_markets(status="open")]
            held: set[str] = set()
            for ticker in tickers:
                if len(held) >= POSITIONS:
                    break
                try:
                    held.add(sim.fill(key_id, ticker)["ticker"])
                except RuntimeError:
                    continue  # no book on that market now
        settings = AccountSettings(
            kalshi=custom_environment(sim.base_url),
            auth=AuthSettings(cookie_secure=False),
            cache_ttl_s=3600.0,  # every timed request is served from the cache
            local=True,
        )
        cache = AccountCache(3600.0, max_stale_seconds=3600.0)
        service = AccountService(
            engine, AuthContext(settings.auth, _Secrets()), settings, cache=cache
        )
        router = build_router(AccountApi(lambda: service))
        body, status, headers = respond(
            router,
            _request(
                "POST",
                "/api/v1/account/authenticate",
                json={"key_id": key_id, "private_key_pem": pem},
            ),
        )
        assert status == 200, body
        cookie = "; ".join(
            value.split(";", 1)[0] for name, value in headers if name == "Set-Cookie"
        )
        session = parse_cookies(cookie)["ki_session"]

        def endpoint() -> None:
            request = _request(
                "GET", "/api/v1/account/positions", headers={"Cookie": f"ki_session={session}"}
            )
            answer = respond(router, request)
            assert answer[1] == 200

        endpoint()  # warm the cache: the views' Kalshi reads happen here, once
        first = respond(
            router,
            _request(
                "GET", "/api/v1/account/positions", headers={"Cookie": f"ki_session={session}"}
            ),
        )
        count = first[0].count(b'"ticker"')
        principal = service.authenticate(
            _request("GET", "/", headers={"Cookie": f"ki_session={session}"})
        )

        def baseline() -> None:
            # The same cached view the endpoint serves, rendered; no router, no auth.
            json_response(service.positions(principal), etag=False)

        endpoint_ms = _time(endpoint, REQUESTS)
        baseline_ms = _time(baseline, REQUESTS)
    engine.dispose()
    e50, e95 = _percentiles(endpoint_ms)
    b50, b95 = _percentiles(baseline_ms)
    print(f"positions in the view: {count} (target {POSITIONS}); {REQUESTS} requests each")
    print(
        f"endpoint (router + session + Postgres check + cache): p50 {e50:.2f} ms, p95 {e95:.2f} ms"
    )
    print(
        f"baseline (cached view + JSON, no router, no auth):    p50 {b50:.2f} ms, p95 {b95:.2f} ms"
    )
    print(
        f"ratio p95 endpoint / baseline: {e95 / b95:.2f}x; target p95 <= {TARGET_P95_MS} ms: "
        f"{'met' if e95 <= TARGET_P95_MS else 'MISSED'}"
    )
    return {"p50": e50, "p95": e95, "baseline_p50": b50, "baseline_p95": b95, "positions": count}


def main(argv: list[str] | None = None) -> None:
    with throwaway_postgres("ki-bench-account-") as (server, _):
        run(server)


if __name__ == "__main__":
    main()
    sys.exit(0)
