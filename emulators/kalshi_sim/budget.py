"""Kalshi's Read token bucket, metered by the simulator: what a client spent, and whether it
ever overspent.

Kalshi bills every request tokens (10 by default, ``/account/endpoint_costs`` lists the
rest) from a bucket refilling at the tier's rate up to its capacity, and answers 429 when
the bucket cannot cover a request. The simulator meters every REST request the same way
(one bucket for the whole simulator: tests use one key) and counts what it saw, so a test
can show from the server's side that a client used its budget and never exceeded it.

Kalshi's limiter sits at its edge and bills a request when it arrives there. The simulator
bills it at the same moment, not when its handler runs: on a loaded machine the simulator's
thread can be descheduled for a second or more while requests that left the client paced
queue in its socket, and billing them when the event loop gets to them saw a burst nobody
sent (ADR 0222). A signed request carries the moment it was signed, just before it left
(``KALSHI-ACCESS-TIMESTAMP``, milliseconds); over loopback that is its arrival, so the meter
bills a signed request then (never later than now, never before the previous bill: out of
order is judged where it belongs in time). Unsigned requests are billed when the middleware
sees them. The report also keeps, for diagnosis, what a meter billing at handler time would
have counted (``over_budget_at_handler``) and the longest arrival-to-handler lag.

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
from shared.kalshi.signing import HEADER_TIMESTAMP

_TIMESTAMP = HEADER_TIMESTAMP.lower().encode("ascii")

__all__ = ["Budget", "BudgetMiddleware", "admin_budget", "budget_of"]

DEFAULT_COST = 10
BASIC_READ = 200  # tokens per second, bucket of one second (Kalshi's Basic tier)
MAX_SEND_AGE_S = 30.0  # an older signed timestamp is not believed: billed at handler time
HORIZON_S = 10.0  # bills older than this are folded; a later one is never placed before


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
            # The bucket after every bill older than the horizon, and the bills since, in
            # the order they were sent (requests on different connections can be handled
            # out of order after a stall; a bill is judged where it belongs in time).
            self._checkpoint_tokens = self.capacity
            self._checkpoint_at = time.monotonic()
            self._events: list[tuple[float, float]] = []
            self._late_tokens = self.capacity  # the same bucket, billed at handler time
            self._late_updated = self._checkpoint_at
            self.out_of_order = 0
            self.over_budget_at_handler = 0
            self.max_lag_s = 0.0
            self.requests = 0
            self.tokens_spent = 0.0
            self.over_budget = 0
            self.first_at: float | None = None
            self.last_at: float | None = None

    def charge(self, cost: float = DEFAULT_COST, *, sent_at: float | None = None) -> bool:
        """Bill one request at ``sent_at`` (wall-clock seconds the client signed it, if
        signed) or now; False when the bucket could not cover it."""
        with self._lock:
            if not self.enabled:
                return True
            now = time.monotonic()
            at = now
            if sent_at is not None:
                age = time.time() - sent_at
                if 0.0 <= age <= MAX_SEND_AGE_S:
                    at = now - age
            self._fold(now - HORIZON_S)
            at = min(now, max(self._checkpoint_at, at))
            self.max_lag_s = max(self.max_lag_s, now - at)
            self._late_tokens = min(
                self.capacity, self._late_tokens + (now - self._late_updated) * self.rate
            )
            self._late_updated = now
            if self._late_tokens + 1e-6 < cost:
                self.over_budget_at_handler += 1
            self._late_tokens -= cost
            if self._events and at < self._events[-1][0]:
                self.out_of_order += 1
            candidate = sorted([*self._events, (at, cost)])
            if not self._covers(candidate):
                # Over budget: counted; not taken from the bucket, so later requests are
                # judged on what it really held.
                self.over_budget += 1
                if self.enforce:
                    return False
            else:
                self._events = candidate
            self.requests += 1
            self.tokens_spent += cost
            self.first_at = at if self.first_at is None else min(self.first_at, at)
            self.last_at = at if self.last_at is None else max(self.last_at, at)
            return True

    def _covers(self, events: list[tuple[float, float]]) -> bool:
        """Whether the bucket, from the checkpoint, covers every bill in time order."""
        tokens, then = self._checkpoint_tokens, self._checkpoint_at
        for at, cost in events:
            tokens = min(self.capacity, tokens + (at - then) * self.rate)
            then = at
            # A hair of slack for float rounding, plus the millisecond the signed timestamp
            # was truncated to (a bill may be up to 1 ms early).
            if tokens + 1e-6 + self.rate * 1e-3 < cost:
                return False
            tokens -= cost
        return True

    def _fold(self, before: float) -> None:
        """Replay the bills older than ``before`` into the checkpoint (a later bill is never
        placed before it)."""
        while self._events and self._events[0][0] < before:
            at, cost = self._events.pop(0)
            elapsed = at - self._checkpoint_at
            self._checkpoint_tokens = min(
                self.capacity, self._checkpoint_tokens + elapsed * self.rate
            )
            self._checkpoint_tokens -= cost
            self._checkpoint_at = at

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
                "over_budget_at_handler": self.over_budget_at_handler,
                "max_lag_s": self.max_lag_s,
                "out_of_order": self.out_of_order,
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
            if not budget_of(state).charge(sent_at=_signed_at(scope)):
                await errors.too_many_requests()(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _signed_at(scope: Scope) -> float | None:
    """When the client signed the request (seconds), from its signature's timestamp."""
    for name, value in scope.get("headers") or ():
        if name == _TIMESTAMP:
            try:
                return int(value) / 1000.0
            except ValueError:
                return None
    return None


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
