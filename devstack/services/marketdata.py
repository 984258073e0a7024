"""The local stack's market data: ``poll_markets`` + ``markets`` functions and a scheduler.

Starts after Postgres, the simulator and Pub/Sub (it reads their ``DATABASE_URL``,
``KALSHI_BASE_URL`` and ``PUBSUB_EMULATOR_HOST``):

1. serves both functions with functions-framework, each in its own process, as Cloud Run
   would: ``poll_markets`` (CloudEvent) and ``markets`` (HTTP);
2. creates the ``poll-trigger`` push subscription that delivers to ``poll_markets``, with
   the retry and dead-letter policy Terraform gives it (``market-snapshots`` subscribers,
   the streamer, create their own subscriptions);
3. starts the local scheduler publishing ``poll-trigger`` every ``--poll-every`` (default
   1m, the Cloud Scheduler cron), firing once at start so the dashboard fills at once;
4. routes ``/api/v1/markets``, ``/api/v1/health`` and ``/api/v1/openapi/markets.json``
   through the gateway.
"""

from __future__ import annotations

import argparse
import os

from devstack.functions_runner import FunctionServer
from devstack.postgres import free_port
from devstack.scheduler import PollScheduler, parse_interval
from devstack.services.base import StackContext, first_failure, stop_all
from devstack.services.functions import function_server

__all__ = ["MarketDataService"]

ROUTES = ("/api/v1/markets", "/api/v1/health", "/api/v1/openapi/markets.json")


class MarketDataService:
    name = "market data"

    def __init__(self) -> None:
        self.poller: FunctionServer | None = None
        self.api: FunctionServer | None = None
        self.scheduler: PollScheduler | None = None
        self.interval: float = 60.0

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--poll-every",
            default="1m",
            help="how often the local scheduler triggers poll_markets (e.g. 5s, 1m; default 1m)",
        )

    def start(self, ctx: StackContext) -> None:
        from devstack.pubsub_admin import ensure_topology, push_url
        from shared.messaging.topics import MARKET_SNAPSHOTS, POLL_TRIGGER

        self.interval = parse_interval(str(getattr(ctx.options, "poll_every", "1m") or "1m"))
        missing = [
            k
            for k in ("DATABASE_URL", "PUBSUB_EMULATOR_HOST", "KALSHI_BASE_URL")
            if k not in ctx.env
        ]
        if missing:
            raise RuntimeError(f"market data needs {', '.join(missing)} from earlier services")
        project = ctx.env.get("PUBSUB_PROJECT_ID", "kalshi-insights-local")
        # The snapshot archive (ADR 0174): a directory of the state dir locally; the
        # backtest worker, started after, reads it through the same variable.
        ctx.env.setdefault("HISTORY_ARCHIVE_URL", str(ctx.state_dir / "archive"))
        env = {
            **ctx.env,
            "GOOGLE_CLOUD_PROJECT": project,
            "APP_ENVIRONMENT": "local",  # emulators, no OIDC: only ever on the local stack
            # A trigger that waited longer than two intervals is stale: skip it.
            "POLL_MAX_EVENT_AGE_SECONDS": str(max(60, int(self.interval * 2))),
            # /health calls a poll older than three of these "degraded".
            "POLL_INTERVAL_SECONDS": f"{self.interval:g}",
        }
        self.poller = function_server(
            ctx, "poll_markets", free_port(), env, signature_type="cloudevent"
        ).start(timeout=90)
        self.api = function_server(ctx, "markets", free_port(), env).start(timeout=90)

        os.environ.update({k: v for k, v in ctx.env.items() if k.startswith("PUBSUB_")})
        ensure_topology(
            project,
            push_endpoints={POLL_TRIGGER: push_url(self.poller.url, project, POLL_TRIGGER)},
            topics=(POLL_TRIGGER, MARKET_SNAPSHOTS),
        )
        self.scheduler = PollScheduler(project, self.interval, topic=POLL_TRIGGER)
        self.scheduler.start(fire_now=True)
        for route in ROUTES:
            ctx.gateway_routes[route] = self.api.url

    def stop(self) -> None:
        stop_all(self.scheduler, self.api, self.poller)

    def check(self) -> str | None:
        return first_failure(self.poller, self.api)

    def describe(self) -> list[str]:
        lines: list[str] = []
        if self.poller is not None:
            lines.append(f"poll_markets {self.poller.url}  (push from poll-trigger)")
            lines.append(f"             log {self.poller.log_path}")
        if self.api is not None:
            lines.append(f"markets      {self.api.url}  (/api/v1/markets, /api/v1/health)")
        if self.scheduler is not None:
            lines.append(
                f"scheduler    poll-trigger every {self.interval:g}s "
                f"({self.scheduler.published} published so far)"
            )
        return lines
