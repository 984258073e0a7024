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

import argparse
import os
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

    def __init__(
        self,
        port: int,
        log_path: Path,
        env: Mapping[str, str],
        role: str = "all",
        instance: int = 0,
    ) -> None:
        super().__init__(port, log_path)
        self._env = env
        self.role = role
        self.instance = instance

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "streamer"]

    def cwd(self) -> Path:
        return ROOT

    def process_env(self) -> Mapping[str, str | None]:
        env: dict[str, str | None] = {
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
        if self.role != "all":  # split mode only; the single instance keeps the defaults
            env.update(STREAMER_ROLE=self.role, STREAMER_INSTANCE=str(self.instance))
        return env

    def ready(self) -> Ready:
        return http_ok(self.url + "/readyz", accept=lambda status: status == 200)


class StreamerService:
    """The streamer, as one instance or split (``--streamer-split N``): one tracker (the
    Kalshi sockets and P&L, publishing ``position-events``) and N fan-outs (the SSE
    clients, each on its own ordered subscription), the gateway spreading
    ``/api/v1/stream`` across the fan-outs, as Cloud Run's load balancer would."""

    name = "streamer"

    def __init__(self) -> None:
        self.server: StreamerProcess | None = None
        self.tracker: StreamerProcess | None = None
        self.fanouts: list[StreamerProcess] = []

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--streamer-split",
            type=int,
            default=0,
            metavar="N",
            help="run the streamer split: one tracker and N fan-out processes (default: one "
            "process doing both)",
        )

    def start(self, ctx: StackContext) -> None:
        missing = [name for name in _NEEDS if not ctx.env.get(name)]
        if missing:
            raise RuntimeError(f"streamer needs {', '.join(missing)} from earlier services")
        split = int(getattr(ctx.options, "streamer_split", 0) or 0)
        if split < 0:
            raise RuntimeError("--streamer-split must be 0 (one process) or more fan-outs")
        env = dict(ctx.env)
        if split == 0:
            port = remembered_port(ctx.state_dir, "streamer", None)
            self.server = StreamerProcess(port, ctx.logs_dir / "streamer.log", env).start()
            ctx.gateway_routes[ROUTE] = self.server.url
            return
        # The topic exists before either side uses it: the fan-outs create their ordered
        # subscriptions to it, the tracker publishes to it.
        ensure_position_events(env)
        port = remembered_port(ctx.state_dir, "streamer-tracker", None)
        self.tracker = StreamerProcess(
            port, ctx.logs_dir / "streamer-tracker.log", env, role="tracker"
        ).start()
        for n in range(split):
            port = remembered_port(ctx.state_dir, f"streamer-fanout-{n}", None)
            log_path = ctx.logs_dir / f"streamer-fanout-{n}.log"
            self.fanouts.append(
                StreamerProcess(port, log_path, env, role="fanout", instance=n).start()
            )
        ctx.gateway_routes[ROUTE] = ",".join(f.url for f in self.fanouts)

    def stop(self) -> None:
        stop_all(*reversed(self.fanouts), self.tracker, self.server)

    def check(self) -> str | None:
        return first_failure(self.server, self.tracker, *self.fanouts)

    def describe(self) -> list[str]:
        if self.server is not None:
            return [f"Streamer     SSE {self.server.url}{ROUTE}  log {self.server.log_path}"]
        lines = []
        if self.tracker is not None:
            lines.append(f"Streamer     tracker {self.tracker.url}  log {self.tracker.log_path}")
        for n, fanout in enumerate(self.fanouts):
            lines.append(f"Streamer     fan-out {n} SSE {fanout.url}{ROUTE}  log {fanout.log_path}")
        return lines


def ensure_position_events(env: Mapping[str, str]) -> None:
    """Create ``position-events`` and its dead-letter topic on the emulator (idempotent)."""
    from devstack.pubsub_admin import ensure_topology
    from shared.messaging.topics import POSITION_EVENTS

    os.environ.update({k: v for k, v in env.items() if k.startswith("PUBSUB_")})
    ensure_topology(
        env.get("PUBSUB_PROJECT_ID", "kalshi-insights-local"), topics=(POSITION_EVENTS,)
    )
