"""The simulator started inside the test process answers in about a millisecond.

Its listening socket used to be created with protocol 0; accepted connections inherit
that, asyncio then leaves Nagle's algorithm on, and every response uvicorn writes as two
segments (headers, then body) waited for the client's delayed ACK: ~44 ms a request on
Linux, whatever the load, against ~1 ms once ``TCP_NODELAY`` is on. The bounds below sit
far above the fixed figure (a loaded 2-core machine still passes) and far below the 40 ms
delayed-ACK floor of the broken one.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer, listening_socket

pytestmark = pytest.mark.integration

REQUESTS = 20
# Median per request. Broken: >= 40 ms (the kernel's minimum delayed ACK); fixed: ~1 ms.
MEDIAN_BOUND_MS = 20.0


@pytest.fixture(scope="module")
def small_simulator() -> Iterator[SimulatorServer]:
    """Its own server, so no fault another test left on the session one can skew this."""
    config = SimConfig(seed=7, n_markets=10, tick_interval_s=None)
    with SimulatorServer(config) as server:
        yield server


def _median_ms(call: Callable[[], object]) -> float:
    call()  # warm-up: connection set up, routes and caches touched
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def test_rest_requests_to_an_in_process_simulator_take_about_a_millisecond(
    small_simulator: SimulatorServer,
) -> None:
    with httpx.Client(base_url=small_simulator.base_url, timeout=30, trust_env=False) as http:

        def get_markets() -> None:
            response = http.get("/markets", params={"limit": 2})
            assert response.status_code == 200, response.text

        median = _median_ms(get_markets)
    assert median < MEDIAN_BOUND_MS, f"median {median:.1f} ms per REST request"


def test_admin_calls_through_the_server_helper_take_about_a_millisecond(
    small_simulator: SimulatorServer,
) -> None:
    # The helper's own keep-alive client: what fixtures call for every account and tick.
    median = _median_ms(lambda: small_simulator.advance(1))
    assert median < MEDIAN_BOUND_MS, f"median {median:.1f} ms per admin call"


def test_connections_accepted_on_the_listening_socket_have_nagle_off() -> None:
    """The mechanism, without timing: asyncio sets ``TCP_NODELAY`` on what it accepts."""

    async def accepted_nodelay() -> int:
        listener = listening_socket("127.0.0.1", 0)
        port = listener.getsockname()[1]
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                return await asyncio.wait_for(seen, timeout=10)
            finally:
                writer.close()

    assert asyncio.run(accepted_nodelay()) != 0
