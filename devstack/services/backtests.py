"""The local stack's backtests: the ``backtests`` API function and the ``backtest_worker``.

Both run under functions-framework like every local function. They need what earlier
services published: ``DATABASE_URL`` (postgres), ``PUBSUB_EMULATOR_HOST``/``PUBSUB_PROJECT_ID``
(pubsub) and ``CLOUD_TASKS_EMULATOR_HOST``/``CLOUD_TASKS_QUEUE`` (cloud-tasks). The API
queues each run as a task whose target is the worker's local URL; the emulator dispatches it
there with the queue header the worker checks. The gateway routes ``/api/v1/backtests`` to
the API; the worker gets no route (only the queue calls it).
"""

from __future__ import annotations

from devstack.functions_runner import FunctionServer
from devstack.services.account import gateway_origins
from devstack.services.base import StackContext, first_failure, stop_all
from devstack.services.functions import function_server
from devstack.state import remembered_port

__all__ = ["BacktestsService"]

ROUTE = "/api/v1/backtests"
_NEEDS = ("DATABASE_URL", "CLOUD_TASKS_EMULATOR_HOST", "CLOUD_TASKS_QUEUE")


class BacktestsService:
    name = "backtests"

    def __init__(self) -> None:
        self.api: FunctionServer | None = None
        self.worker: FunctionServer | None = None

    def start(self, ctx: StackContext) -> None:
        missing = [name for name in _NEEDS if not ctx.env.get(name)]
        if missing:
            raise RuntimeError(
                f"backtests need {', '.join(missing)} from the postgres and cloud-tasks services"
            )
        api_port = remembered_port(ctx.state_dir, "backtests", None)
        worker_port = remembered_port(ctx.state_dir, "backtest-worker", None)
        worker_url = f"http://127.0.0.1:{worker_port}"
        env = {
            **ctx.env,
            "BACKTEST_WORKER_URL": worker_url,
            "APP_ENVIRONMENT": "local",
            # Runs belong to users; locally a caller who is not signed in may still submit
            # (its runs are its client address's). Sessions are checked as the account
            # function issues them: plain-http cookies, the gateway's origins, one hop.
            "BACKTEST_ANONYMOUS_SUBMISSIONS": "true",
            "AUTH_COOKIE_SECURE": "false",
            "AUTH_ALLOWED_ORIGINS": gateway_origins(int(getattr(ctx.options, "port", 8080))),
            "AUTH_TRUSTED_PROXY_HOPS": "1",
        }
        self.worker = function_server(ctx, "backtest_worker", worker_port, env)
        self.api = function_server(ctx, "backtests", api_port, env)
        self.worker.start(timeout=60)
        self.api.start(timeout=60)
        ctx.gateway_routes[ROUTE] = self.api.url
        ctx.gateway_routes["/api/v1/openapi/backtests.json"] = self.api.url
        ctx.env["BACKTEST_WORKER_URL"] = worker_url

    def stop(self) -> None:
        stop_all(self.api, self.worker)

    def check(self) -> str | None:
        return first_failure(self.api, self.worker)

    def describe(self) -> list[str]:
        lines = []
        if self.api is not None:
            lines.append(f"Backtests    API {self.api.url}{ROUTE}  log {self.api.log_path}")
        if self.worker is not None:
            lines.append(f"             worker {self.worker.url}  log {self.worker.log_path}")
        return lines
