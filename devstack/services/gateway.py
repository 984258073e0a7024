"""The local gateway as a stack service: the last one to start, on 127.0.0.1:``--port``.

It runs in a child process (uvicorn), so a slow or stuck upstream stream can never block
the launcher, and it is stopped like every other process: SIGTERM to its group. It starts
last because it serves the routes every earlier service registered in ``ctx.gateway_routes``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from devstack.gateway import HEALTH_PATH, default_dist_dir
from devstack.process import ManagedProcess, http_url
from devstack.services.base import StackContext, stop_all

__all__ = ["GatewayService"]


class GatewayService:
    name = "gateway"

    def __init__(self) -> None:
        self.process: ManagedProcess | None = None
        self.origin: str | None = None
        self.routes: dict[str, str] = {}
        self.dist_dir = default_dist_dir()

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        # --port itself belongs to the launcher (devstack.commands.up): it names the origin.
        parser.add_argument(
            "--frontend-dist",
            default=None,
            help="built dashboard to serve (default: frontend/dist of this checkout)",
        )

    def start(self, ctx: StackContext) -> None:
        port = int(ctx.options.port)
        if getattr(ctx.options, "frontend_dist", None):
            self.dist_dir = Path(ctx.options.frontend_dist).resolve()
        self.origin = f"http://127.0.0.1:{port}"
        self.routes = dict(ctx.gateway_routes)
        config_path = ctx.state_dir / "gateway.json"
        config_path.write_text(
            json.dumps(
                {
                    "port": port,
                    "routes": self.routes,
                    "summary": ctx.summary,
                    "dist_dir": str(self.dist_dir),
                    # The status page counts polls in the stack's own database.
                    "database_url": ctx.env.get("DATABASE_URL"),
                },
                indent=2,
            )
        )
        self.process = ManagedProcess(
            "gateway",
            [sys.executable, "-m", "devstack.gateway", "--config", str(config_path)],
            log_path=ctx.logs_dir / "gateway.log",
            env={**ctx.env, "PYTHONUNBUFFERED": "1"},
            ready=http_url(self.origin + HEALTH_PATH),
            stop_grace=5.0,
        )
        self.process.start(timeout=30)
        ctx.dashboard_url = self.origin

    def stop(self) -> None:
        stop_all(self.process)

    def check(self) -> str | None:
        if self.process is not None and not self.process.is_running():
            return f"the gateway exited (code {self.process.poll()}); see {self.process.log_path}"
        return None

    def describe(self) -> list[str]:
        if self.origin is None:
            return []
        lines = [
            f"Gateway      {self.origin}  (log {self.process.log_path if self.process else ''})"
        ]
        lines += [
            f"             {prefix} -> {upstream}"
            for prefix, upstream in sorted(self.routes.items())
        ]
        dashboard = self.dist_dir if (self.dist_dir / "index.html").is_file() else None
        lines.append(
            f"             / -> {dashboard or 'a status page (frontend/dist is not built)'}"
        )
        return lines
