"""``SimulatorServer``: the simulator on a loopback port in a background thread.

Used by the pytest fixtures, the benchmark and the in-process local stack. The server
owns its own event loop; callers talk to it only over HTTP (the admin API), never by
touching exchange state across threads.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from decimal import Decimal
from types import TracebackType
from typing import Any

import httpx
import uvicorn

from emulators.kalshi_sim.app import create_app
from emulators.kalshi_sim.config import ADMIN_PREFIX, REST_PREFIX, WS_PATH, SimConfig
from shared.kalshi.signing import generate_private_key_pem, load_private_key, public_key_pem


class _DenialNoiseFilter(logging.Filter):
    """uvicorn logs an error after every refused WebSocket handshake even though the
    denial response (our 401) went out; that line is noise, not a failure."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing handshake" not in record.getMessage()


_FILTER = _DenialNoiseFilter()


def uvicorn_config(app: Any, *, log_level: str = "warning") -> uvicorn.Config:
    """Uvicorn settings the simulator needs: sans-I/O websockets (for heartbeat pings
    with Kalshi's payload) and uvicorn's own keepalive pings off (we send our own)."""
    error_log = logging.getLogger("uvicorn.error")
    if _FILTER not in error_log.filters:
        error_log.addFilter(_FILTER)
    return uvicorn.Config(
        app,
        log_level=log_level,
        ws="websockets-sansio",
        ws_ping_interval=None,
        ws_ping_timeout=None,
        lifespan="on",
        access_log=False,
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound, listening IPv4 TCP socket for uvicorn's ``sockets=`` argument.

    The protocol must be named (``IPPROTO_TCP``), not left as 0: accepted connections
    inherit the listener's ``proto``, and asyncio switches Nagle's algorithm off
    (``TCP_NODELAY``) only on sockets whose ``proto`` is ``IPPROTO_TCP``. With ``proto``
    0 every response that uvicorn writes as two segments (headers, then body) had its
    body held back until the client's delayed ACK of the headers, about 40 ms later on
    Linux: each in-process request took ~44 ms instead of ~1 ms
    (``tests/integration/emulators/kalshi_sim/test_in_process_latency.py``). A listener
    that uvicorn or ``loop.create_server`` open themselves comes from ``getaddrinfo``
    and already carries the protocol, which is why the simulator in its own process
    never had the delay.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class SimulatorServer:
    """Run the simulator on ``host:port`` (port 0 picks a free one) until closed."""

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 30.0,
    ) -> None:
        self.config = config or SimConfig()
        self.host = host
        self._requested_port = port
        self._startup_timeout = startup_timeout
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SimulatorServer:
        app = create_app(self.config)
        sock = listening_socket(self.host, self._requested_port)
        self.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn_config(app))
        self._server = server

        def serve() -> None:
            asyncio.run(server.serve(sockets=[sock]))

        self._thread = threading.Thread(target=serve, name=f"kalshi-sim-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._startup_timeout
        while not server.started:
            if not self._thread.is_alive():
                raise RuntimeError("simulator server thread exited during startup")
            if time.monotonic() > deadline:
                self.close()
                raise TimeoutError("simulator did not start in time")
            time.sleep(0.01)
        self._client = httpx.Client(base_url=self.origin, timeout=30.0)
        return self

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None
        self._server = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ addresses

    @property
    def origin(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin + REST_PREFIX

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    @property
    def admin_url(self) -> str:
        return self.origin + ADMIN_PREFIX

    # ------------------------------------------------------------------ admin calls

    def _admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._client is None:
            raise RuntimeError("simulator is not running")
        response = self._client.request(method, ADMIN_PREFIX + path, json=body)
        if response.status_code >= 400:
            raise RuntimeError(
                f"simulator admin {path} failed: {response.status_code} {response.text}"
            )
        return response.json()

    def create_account(
        self,
        balance_dollars: Decimal | int | str = 1000,
        scopes: list[str] | None = None,
        balance_precision: str | None = None,
    ) -> tuple[str, str]:
        """A funded account: returns ``(key_id, private_key_pem)``. The key pair is made
        here; only the public half goes to the simulator. ``scopes``: the key's scopes
        (default full access; ``["read"]`` cannot trade). ``balance_precision``: ``"0.01"``
        for a member whose balance stays on whole cents (default ``"0.0001"``, as the
        recorded demo account)."""
        pem = generate_private_key_pem()
        public = public_key_pem(load_private_key(pem))
        body: dict[str, Any] = {"balance_dollars": str(balance_dollars), "public_key_pem": public}
        if scopes is not None:
            body["scopes"] = scopes
        if balance_precision is not None:
            body["balance_precision"] = balance_precision
        result = self._admin("POST", "/accounts", body)
        return str(result["key_id"]), pem

    def schedule_fee_change(
        self,
        series_ticker: str,
        fee_type: str,
        fee_multiplier: str = "1",
        scheduled_ts: int | None = None,
    ) -> dict[str, Any]:
        """Schedule a series fee change (``None``: effective now)."""
        body: dict[str, Any] = {
            "series_ticker": series_ticker,
            "fee_type": fee_type,
            "fee_multiplier": fee_multiplier,
        }
        if scheduled_ts is not None:
            body["scheduled_ts"] = scheduled_ts
        return dict(self._admin("POST", "/fee_changes", body))

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Switch faults; with no arguments every fault is cleared."""
        body: dict[str, Any] = dict(faults) if faults else {"reset": True}
        return dict(self._admin("POST", "/faults", body))

    def advance(self, steps: int = 1) -> dict[str, Any]:
        """Tick the exchange ``steps`` times (deterministic under the seed)."""
        return dict(self._admin("POST", "/tick", {"steps": steps}))

    def fill(self, key_id: str, ticker: str | None = None) -> dict[str, Any]:
        """Make the simulator trade once for the account now (fill + market_position)."""
        body = {"ticker": ticker} if ticker else {}
        return dict(self._admin("POST", f"/accounts/{key_id}/fill", body))

    def settings(self, **values: float) -> dict[str, Any]:
        return dict(self._admin("POST", "/settings", values))

    def state(self) -> dict[str, Any]:
        return dict(self._admin("GET", "/state"))
