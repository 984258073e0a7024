"""Kalshi's Read token bucket, metered by the simulator: what a client spent, and whether it
ever overspent.

Kalshi bills every request tokens (10 by default, ``/account/endpoint_costs`` lists the
rest) from a bucket refilling at the tier's rate up to its capacity, and answers 429 when
the bucket cannot cover a request. The simulator meters every REST request the same way
(one bucket for the whole simulator: tests use one key) and counts what it saw, so a test
can show from the server's side that a client used its budget and never exceeded it.

Metering is off until ``POST /_sim/budget`` configures it; with ``enforce`` a request the
bucket cannot cover gets Kalshi's 429, otherwise it is only counted as over budget.
``GET /account/limits`` reports the configured budget, as Kalshi reports the key's tier.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from emulators.kalshi_sim import errors
from emulators.kalshi_sim.config import REST_PREFIX

__all__ = ["Budget", "BudgetMiddleware", "admin_budget", "budget_of"]

DEFAULT_COST = 10
BASIC_READ = 200  # tokens per second, bucket of one second (Kalshi's Basic tier)


class Budget:
    """One token bucket plus counters; thread-safe (the test reads it while requests run)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.configure(rate=BASIC_READ, capacity=BASIC_READ, enabled=False, enforce=False)

    def configure(self, *, rate: float, capacity: float, enabled: bool, enforce: bool) -> None:
        if rate <= 0 or capacity < DEFAULT_COST:
            raise ValueError("rate must be positive and capacity at least one request's cost")
        with self._lock:
            self.rate = float(rate)
            self.capacity = float(capacity)
            self.enabled = enabled
            self.enforce = enforce
            self._tokens = self.capacity
            self._updated = time.monotonic()
            self.requests = 0
            self.tokens_spent = 0.0
            self.over_budget = 0
            self.first_at: float | None = None
            self.last_at: float | None = None

    def charge(self, cost: float = DEFAULT_COST) -> bool:
        """Bill one request; False when the bucket could not cover it."""
        with self._lock:
            if not self.enabled:
                return True
            now = time.monotonic()
            self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
            # A hair of slack for float rounding between the client's clock and ours.
            if self._tokens + 1e-6 < cost:
                self.over_budget += 1
                if self.enforce:
                    return False
            self._tokens -= cost
            self.requests += 1
            self.tokens_spent += cost
            return True

    def report(self) -> dict[str, Any]:
        with self._lock:
            span = (
                self.last_at - self.first_at
                if self.first_at is not None and self.last_at is not None
                else 0.0
            )
            allowed = self.capacity + self.rate * span
            return {
                "enabled": self.enabled,
                "enforce": self.enforce,
                "refill_rate": self.rate,
                "bucket_capacity": self.capacity,
                "requests": self.requests,
                "tokens_spent": self.tokens_spent,
                "over_budget": self.over_budget,
                "span_s": span,
                "tokens_allowed": allowed,
                "used_share": self.tokens_spent / allowed if span > 0 else 0.0,
            }

    def limits_body(self) -> bytes:
        rate, capacity = int(self.rate), int(self.capacity)
        return (
            b'{"grants":[],"read":{"bucket_capacity":%d,"refill_rate":%d},"usage_tier":"basic",'
            b'"write":{"bucket_capacity":100,"refill_rate":100}}' % (capacity, rate)
        )


def budget_of(state: Any) -> Budget:
    budget: Budget | None = getattr(state, "_budget", None)
    if budget is None:
        budget = Budget()
        state._budget = budget
    return budget


class BudgetMiddleware:
    """Bills each REST request before its handler runs (admin calls are free)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(REST_PREFIX):
            state = scope["app"].state.sim
            if not budget_of(state).charge():
                await errors.too_many_requests()(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def admin_budget(request: Request) -> Response:
    """``GET /_sim/budget``: the counters. ``POST``: reset and configure
    ``{"refill_rate", "bucket_capacity", "enforce"}`` (tokens; metering switches on)."""
    state = request.app.state.sim
    budget = budget_of(state)
    if request.method == "POST":
        try:
            raw = await request.body()
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
            rate = float(body.get("refill_rate", BASIC_READ))
            capacity = float(body.get("bucket_capacity", rate))
            budget.configure(
                rate=rate,
                capacity=capacity,
                enabled=bool(body.get("enabled", True)),
                enforce=bool(body.get("enforce", False)),
            )
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": "bad_request", "message": str(exc)}, 400)
    return JSONResponse(budget.report())
