"""The local stack's ``account`` function: sign-in, the credential vault, the user's Kalshi data.

Runs under functions-framework as every local function, as the login ``fn_account``. It
needs what earlier services published: ``DATABASE_URL`` (postgres), ``KALSHI_BASE_URL``
(the simulator, or the real Kalshi a developer configured: sign-in checks keys against
it), ``PUBSUB_EMULATOR_HOST`` (``account-events``) and ``SECRET_MANAGER_EMULATOR_HOST``
(the credential key ring and the session signing keys). The gateway serves plain http on
loopback, so the session cookie drops ``Secure`` (a browser would not send it back
otherwise) and the only origins allowed to change state are the gateway's own.

It also runs the local stand-in of the Cloud Scheduler job that records every user's
day-boundary baseline at midnight America/New_York
(:class:`devstack.scheduler.DailyJob`), calling the function's job endpoint directly,
as Cloud Scheduler calls the deployed function.
"""

from __future__ import annotations

from devstack.functions_runner import FunctionServer
from devstack.scheduler import DailyJob
from devstack.services.base import StackContext, first_failure, stop_all
from devstack.services.functions import function_server
from devstack.state import remembered_port

__all__ = ["ROUTES", "AccountService"]

ROUTES = ("/api/v1/account", "/api/v1/openapi/account.json")
DAY_BOUNDARY_PATH = "/_jobs/day-boundary"
_NEEDS = ("DATABASE_URL", "KALSHI_BASE_URL", "PUBSUB_EMULATOR_HOST", "SECRET_MANAGER_EMULATOR_HOST")


def gateway_origins(port: int) -> str:
    """The origins a browser uses for the local gateway (the CSRF Origin check's list)."""
    return ",".join(f"http://{host}:{port}" for host in ("127.0.0.1", "localhost", "[::1]"))


class AccountService:
    name = "account"

    def __init__(self) -> None:
        self.api: FunctionServer | None = None
        self.job: DailyJob | None = None

    def start(self, ctx: StackContext) -> None:
        missing = [name for name in _NEEDS if not ctx.env.get(name)]
        if missing:
            raise RuntimeError(f"account needs {', '.join(missing)} from earlier services")
        port = remembered_port(ctx.state_dir, "account", None)
        env = {
            **ctx.env,
            "APP_ENVIRONMENT": "local",
            "GOOGLE_CLOUD_PROJECT": ctx.env.get("PUBSUB_PROJECT_ID", "kalshi-insights-local"),
            "AUTH_COOKIE_SECURE": "false",
            "AUTH_ALLOWED_ORIGINS": gateway_origins(int(getattr(ctx.options, "port", 8080))),
            # The gateway appends one X-Forwarded-For hop (the client), as the load balancer
            # appends its two.
            "AUTH_TRUSTED_PROXY_HOPS": "1",
        }
        # The simulator's account must not sign this function's requests: every request it
        # sends to Kalshi is signed with the signed-in user's own key.
        for name in ("KALSHI_KEY_ID", "KALSHI_PRIVATE_KEY_PATH"):
            env.pop(name, None)
        self.api = function_server(ctx, "account", port, env).start(timeout=90)
        for route in ROUTES:
            ctx.gateway_routes[route] = self.api.url
        self.job = DailyJob("day-boundary", self.api.url + DAY_BOUNDARY_PATH).start()

    def stop(self) -> None:
        stop_all(self.job, self.api)

    def check(self) -> str | None:
        return first_failure(self.api)

    def describe(self) -> list[str]:
        if self.api is None:
            return []
        lines = [f"Account      API {self.api.url}{ROUTES[0]}  log {self.api.log_path}"]
        if self.job is not None:
            lines.append(f"             day-boundary baselines daily at {self.job.describe()}")
        return lines
