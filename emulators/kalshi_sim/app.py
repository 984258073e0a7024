"""``create_app(config)``: the simulator as one ASGI app (REST, WebSocket, admin).

All state lives in one :class:`~emulators.kalshi_sim.state.SimState` owned by the server's
event loop. In ticking
mode a background task advances the exchange every ``tick_interval_s``; with a manual
clock only ``POST /_sim/tick`` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from emulators.kalshi_sim import errors, funds, rest, trading
from emulators.kalshi_sim.config import ADMIN_PREFIX, REST_PREFIX, WS_PATH, SimConfig
from emulators.kalshi_sim.exchange import Exchange
from emulators.kalshi_sim.faults import FaultError
from emulators.kalshi_sim.persist import SAVE_INTERVAL_S, save_world
from emulators.kalshi_sim.state import SimState
from emulators.kalshi_sim.ws import websocket_endpoint

log = logging.getLogger("kalshi_sim")


# ---------------------------------------------------------------- admin endpoints


def _admin_error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": "bad_request" if status == 400 else "not_found", "message": message}, status
    )


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    """A string field or None; any other JSON type is a 400, not a TypeError's 500."""
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


async def admin_faults(request: Request) -> Response:
    state: SimState = request.app.state.sim
    if request.method == "POST":
        try:
            body = await _json_body(request)
            if body.get("reset"):
                state.faults.reset()
                body = {k: v for k, v in body.items() if k != "reset"}
            state.faults.update(body)
        except (ValueError, FaultError) as exc:
            return _admin_error(400, str(exc))
        if state.faults.ws_drop:
            state.faults.ws_drop = False
            state.hub.drop_all()
    return JSONResponse(state.faults.as_dict())


async def admin_accounts(request: Request) -> Response:
    state: SimState = request.app.state.sim
    try:
        body = await _json_body(request)
        public_key_pem = _optional_text(body, "public_key_pem")
        key_id = _optional_text(body, "key_id")
        scopes = body.get("scopes")
        if scopes is not None and (
            not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes)
        ):
            raise ValueError("scopes must be a list of strings")
        precision = body.get("balance_precision", "0.0001")
        if precision not in ("0.01", "0.0001"):
            raise ValueError("balance_precision must be '0.01' (member) or '0.0001' (direct)")
        account, private_pem = state.create_account(
            body.get("balance_dollars", "1000"), public_key_pem, key_id
        )
        if scopes is not None:  # Kalshi's key scopes: orders need write or write::trade
            account.trading = bool({"write", "write::trade"} & set(scopes))
        account.precision_micro = 10_000 if precision == "0.01" else 100
    except (ValueError, ArithmeticError) as exc:  # ArithmeticError: Decimal overflow
        return _admin_error(400, str(exc) or "invalid account request")
    result: dict[str, Any] = {"key_id": account.key_id, "user_id": account.user_id}
    if private_pem is not None:
        result["private_key_pem"] = private_pem
    return JSONResponse(result, 201)


async def admin_fee_changes(request: Request) -> Response:
    """Schedule a series fee change (served by ``/series/fee_changes``, charged from then)."""
    state: SimState = request.app.state.sim
    try:
        body = await _json_body(request)
        change = state.schedule_fee_change(
            _optional_text(body, "series_ticker") or "",
            _optional_text(body, "fee_type") or "",
            str(body.get("fee_multiplier", "1")),
            body.get("scheduled_ts"),
        )
    except KeyError:
        return _admin_error(404, "unknown series")
    except (ValueError, ArithmeticError) as exc:
        return _admin_error(400, str(exc) or "invalid fee change")
    return JSONResponse(change, 201)


async def admin_fill(request: Request) -> Response:
    state: SimState = request.app.state.sim
    account = state.exchange.accounts.by_key(request.path_params["key_id"])
    if account is None:
        return _admin_error(404, "unknown account")
    try:
        body = await _json_body(request)
        result = state.force_fill(account, _optional_text(body, "ticker"))
    except KeyError:
        return _admin_error(404, "unknown market")
    except ValueError as exc:
        return _admin_error(400, str(exc))
    if result is None:
        return _admin_error(400, "no fill possible (market not active or book empty)")
    return JSONResponse(result, 201)


async def admin_tick(request: Request) -> Response:
    state: SimState = request.app.state.sim
    try:
        body = await _json_body(request)
        steps = int(body.get("steps", 1))
    except (ValueError, TypeError) as exc:  # TypeError: "steps": null or a list
        return _admin_error(400, str(exc))
    if not 0 <= steps <= 100_000:
        return _admin_error(400, "steps must be between 0 and 100000")
    happenings = state.advance(steps) if steps else []
    return JSONResponse(_clock(state) | {"happenings": len(happenings)})


async def admin_settings(request: Request) -> Response:
    state: SimState = request.app.state.sim
    if request.method == "POST":
        try:
            body = await _json_body(request)
            for name in ("account_fill_rate", "market_activity", "trade_probability"):
                if name in body:
                    value = float(body[name])
                    if not 0 <= value <= 1:
                        raise ValueError(f"{name} must be between 0 and 1")
                    setattr(state.config, name, value)
            if "paused" in body:
                if not isinstance(body["paused"], bool):
                    raise ValueError("paused must be true or false")
                state.paused = body["paused"]
        except (ValueError, TypeError) as exc:
            return _admin_error(400, str(exc))
    c = state.config
    return JSONResponse(
        {
            "account_fill_rate": c.account_fill_rate,
            "market_activity": c.market_activity,
            "trade_probability": c.trade_probability,
            "paused": state.paused,
        }
    )


async def admin_state(request: Request) -> Response:
    state: SimState = request.app.state.sim
    ex = state.exchange
    statuses: dict[str, int] = {}
    for m in ex.market_list:
        statuses[m.status] = statuses.get(m.status, 0) + 1
    return JSONResponse(
        _clock(state)
        | {
            "seed": state.config.seed,
            "markets": len(ex.market_list),
            "statuses": statuses,
            "accounts": len(ex.accounts),
            "ws_connections": len(state.hub.connections),
            "faults": state.faults.as_dict(),
        }
    )


def _clock(state: SimState) -> dict[str, Any]:
    return {"tick": state.exchange.tick_count, "now_ms": state.exchange.now_ms}


# ---------------------------------------------------------------- the app


async def _ticker_loop(state: SimState, interval: float) -> None:
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    while True:
        next_at += interval
        await asyncio.sleep(max(0.0, next_at - loop.time()))
        if state.paused:
            continue
        try:
            state.advance(1)
        except Exception:
            log.exception("exchange tick failed")


async def _not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        return errors.nested(405, "method_not_allowed", "method not allowed")
    return errors.not_found()


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled simulator error")
    return errors.nested(500, "internal_server_error", "internal server error")


async def _saver_loop(state: SimState, path: Path, interval: float) -> None:
    """Save the world every ``interval`` seconds, so even a killed simulator loses little."""
    while True:
        await asyncio.sleep(interval)
        _save(state, path)


def _save(state: SimState, path: Path) -> None:
    try:
        started = time.monotonic()
        size = save_world(state.exchange, path)
        log.info("world saved to %s (%d bytes, %.2f s)", path, size, time.monotonic() - started)
    except Exception:
        log.exception("saving the simulator world to %s failed", path)


def create_app(
    config: SimConfig | None = None,
    *,
    exchange: Exchange | None = None,
    world_file: Path | None = None,
) -> RawSendCapture:
    """The simulator app. ``exchange``: a world loaded by :func:`persist.load_world` to
    continue; ``world_file``: where to save the world, periodically and on shutdown."""
    from starlette.middleware import Middleware

    from emulators.kalshi_sim import budget, rest_history

    config = config or SimConfig()
    state = SimState(config, exchange)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks = []
        if config.tick_interval_s is not None:
            tasks.append(asyncio.create_task(_ticker_loop(state, config.tick_interval_s)))
        if world_file is not None:
            tasks.append(asyncio.create_task(_saver_loop(state, world_file, SAVE_INTERVAL_S)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            state.hub.drop_all()
            if world_file is not None:
                _save(state, world_file)

    app = Starlette(
        routes=[
            Mount(
                REST_PREFIX,
                routes=[
                    *trading.routes(),
                    *rest_history.routes(),  # the past, before the live routes it wraps
                    *rest.routes(),
                    *funds.routes(),
                ],
            ),
            WebSocketRoute(WS_PATH, websocket_endpoint),
            Route(f"{ADMIN_PREFIX}/faults", admin_faults, methods=["GET", "POST"]),
            Route(f"{ADMIN_PREFIX}/accounts", admin_accounts, methods=["POST"]),
            Route(f"{ADMIN_PREFIX}/accounts/{{key_id}}/fill", admin_fill, methods=["POST"]),
            Route(f"{ADMIN_PREFIX}/fee_changes", admin_fee_changes, methods=["POST"]),
            Route(
                f"{ADMIN_PREFIX}/accounts/{{key_id}}/funds",
                funds.admin_funds,
                methods=["GET", "POST"],
            ),
            Route(f"{ADMIN_PREFIX}/tick", admin_tick, methods=["POST"]),
            Route(f"{ADMIN_PREFIX}/settings", admin_settings, methods=["GET", "POST"]),
            Route(f"{ADMIN_PREFIX}/state", admin_state, methods=["GET"]),
            Route(f"{ADMIN_PREFIX}/budget", budget.admin_budget, methods=["GET", "POST"]),
            Route(f"{ADMIN_PREFIX}/history", rest_history.admin_history, methods=["GET", "POST"]),
        ],
        exception_handlers={404: _not_found, 405: _not_found, 500: _server_error},
        middleware=[Middleware(budget.BudgetMiddleware)],
        lifespan=lifespan,
    )
    app.state.sim = state
    return RawSendCapture(app, state)


class RawSendCapture:
    """Outermost ASGI layer: hands the server's own ``send`` to the WebSocket endpoint.

    ASGI has no way to send a Ping with a chosen payload or to drop a connection without
    a closing handshake; uvicorn's protocol object (the ``send`` method's owner) can, so
    the endpoint keeps a reference to it. Starlette wraps ``send`` before endpoints see it.
    """

    def __init__(self, app: Starlette, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("websocket", "http"):
            scope["sim.raw_send"] = send
        await self.app(scope, receive, send)
