"""The local stack's streamer: ``python -m streamer`` behind the gateway at ``/api/v1/stream``.

Runs as the login ``fn_streamer`` (docs/decisions/0080) with what earlier services
published: ``DATABASE_URL`` (postgres: sessions, credentials, ``position_cache``),
``KALSHI_BASE_URL``/``KALSHI_WS_URL`` (the simulator, or the Kalshi a developer set),
``PUBSUB_EMULATOR_HOST`` (``market-snapshots``, ``backtest-events``, ``account-events``; the
streamer creates its own pull subscriptions locally) and ``SECRET_MANAGER_EMULATOR_HOST``
(the session signing keys and the credential key ring). Ready once ``/readyz`` answers 200
(the position cache restored). The gateway streams its responses unbuffered, so Server-Sent
Events reach the browser as they are written.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from devstack.harness import ProcessHarness
from devstack.process import Ready, http_ok
from devstack.services.base import StackContext, first_failure, stop_all
from devstack.services.postgres import as_role
from devstack.state import remembered_port

__all__ = ["ROUTE", "StreamerProcess", "StreamerService"]

ROUTE = "/api/v1/stream"
ROOT = Path(__file__).resolve().parents[2]
_NEEDS = ("DATABASE_URL", "KALSHI_BASE_URL", "PUBSUB_EMULATOR_HOST", "SECRET_MANAGER_EMULATOR_HOST")


class StreamerProcess(ProcessHarness):
    """``python -m streamer`` on ``127.0.0.1:port``; ready when ``/readyz`` answers 200."""

    description = "streamer"
    start_timeout = 90.0

    def __init__(self, port: int, log_path: Path, env: Mapping[str, str]) -> None:
        super().__init__(port, log_path)
        self._env = env

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "streamer"]

    def cwd(self) -> Path:
        return ROOT

    def process_env(self) -> Mapping[str, str | None]:
        return {
            **as_role(dict(self._env), "streamer"),
            "PORT": str(self.port),
            "STREAMER_HOST": "127.0.0.1",
            "STREAMER_CREATE_SUBSCRIPTIONS": "true",
            "APP_ENVIRONMENT": "local",
            "GOOGLE_CLOUD_PROJECT": self._env.get("PUBSUB_PROJECT_ID", "kalshi-insights-local"),
            # Every Kalshi request is signed with the signed-in user's own key, never the
            # simulator's demo account.
            "KALSHI_KEY_ID": None,
            "KALSHI_PRIVATE_KEY_PATH": None,
        }

    def ready(self) -> Ready:
        return http_ok(self.url + "/readyz", accept=lambda status: status == 200)


class StreamerService:
    name = "streamer"

    def __init__(self) -> None:
        self.server: StreamerProcess | None = None

    def start(self, ctx: StackContext) -> None:
        missing = [name for name in _NEEDS if not ctx.env.get(name)]
        if missing:
            raise RuntimeError(f"streamer needs {', '.join(missing)} from earlier services")
        port = remembered_port(ctx.state_dir, "streamer", None)
        self.server = StreamerProcess(port, ctx.logs_dir / "streamer.log", dict(ctx.env)).start()
        ctx.gateway_routes[ROUTE] = self.server.url

    def stop(self) -> None:
        stop_all(self.server)

    def check(self) -> str | None:
        return first_failure(self.server)

    def describe(self) -> list[str]:
        if self.server is None:
            return []
        return [f"Streamer     SSE {self.server.url}{ROUTE}  log {self.server.log_path}"]
