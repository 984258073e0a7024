"""The streamer's ASGI application: ``GET /api/v1/stream``, ``/healthz``, ``/readyz``.

Thin on purpose, like the functions' ``main.py``: it authenticates the request, validates
the query and hands the stream to the fan-out (:mod:`streamer.fanout`); the runtime
(:mod:`streamer.service`) owns everything that lives longer than a request. Every error is
JSON ``{"error": code, "message": text}``, never a stack trace.

``/healthz`` answers 200 while the process serves; ``/readyz`` answers 200 once the
position cache is restored (503 before, and again while shutting down), so Cloud Run sends
browsers only to an instance that can show them their positions.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from shared.api.errors import error_body
from streamer.auth import (
    CREDENTIAL_QUERY_NAMES,
    SESSION_COOKIE,
    SessionVerifier,
    StreamAuthError,
)
from streamer.fanout import FanOut

__all__ = ["MAX_MARKETS", "StreamerRuntime", "create_app"]

log = logging.getLogger(__name__)

MAX_MARKETS = 100
"""Tickers one stream may ask for (``?markets=``)."""
_TICKER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
_STREAM_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # proxies (and the local gateway) must not buffer a stream
}


class StreamerRuntime(Protocol):
    """What the app needs from the long-lived part of the service."""

    @property
    def fanout(self) -> FanOut | None:
        """``None`` on a split mode tracker instance: it serves no streams."""

    @property
    def verifier(self) -> SessionVerifier: ...

    @property
    def ready(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(error_body(code, message), status_code=status, headers=headers or None)


def _markets(request: Request) -> list[str]:
    raw = request.query_params.getlist("markets")
    tickers = [t.strip() for value in raw for t in value.split(",") if t.strip()]
    if len(tickers) > MAX_MARKETS:
        raise HTTPException(400, f"markets names at most {MAX_MARKETS} tickers")
    for ticker in tickers:
        if not _TICKER.match(ticker):
            raise HTTPException(400, "markets must be a comma-separated list of tickers")
    return tickers


def create_app(runtime: StreamerRuntime) -> Starlette:
    """The ASGI app over ``runtime`` (started and stopped by the app's lifespan)."""

    async def stream(request: Request) -> Response:
        fanout = runtime.fanout
        if fanout is None:
            return _error(404, "not_found", "This instance serves no streams.")
        if fanout.closing:
            return _error(503, "shutting_down", "This instance is restarting.", **_retry_after())
        if CREDENTIAL_QUERY_NAMES & {name.lower() for name in request.query_params}:
            return _error(
                400,
                "credentials_in_query",
                "Never put a credential in the URL; the stream uses the session cookie.",
            )
        unknown = set(request.query_params) - {"markets"}
        if unknown:
            return _error(
                400,
                "unknown_parameter",
                f"unknown query parameter {sorted(unknown)[0]!r}; allowed: markets",
            )
        try:
            markets = _markets(request)
        except HTTPException as exc:
            return _error(400, "invalid_markets", str(exc.detail))
        try:
            principal = await runtime.verifier.verify(request.cookies.get(SESSION_COOKIE))
        except StreamAuthError as exc:
            return _error(exc.status, exc.code, exc.message)
        if not runtime.ready:
            return _error(
                503, "not_ready", "Live positions are loading; retry shortly.", **_retry_after()
            )
        try:
            client = await fanout.connect(
                principal.user_id,
                markets,
                request.headers.get("last-event-id"),
                expires_at=principal.expires_at,
                jti=principal.jti,
            )
        except Exception:
            log.exception("could not open a stream")
            return _error(503, "unavailable", "Live positions are unavailable; retry shortly.")
        return StreamingResponse(
            fanout.frames(client),
            media_type="text/event-stream",
            headers=_STREAM_HEADERS,
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        closing = runtime.fanout is not None and runtime.fanout.closing
        if runtime.ready and not closing:
            return JSONResponse({"status": "ready"})
        return _error(503, "not_ready", "The position cache is not restored yet.")

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(404, "not_found", "No such endpoint.")

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return _error(405, "method_not_allowed", "This endpoint answers GET only.")

    async def internal(request: Request, exc: Exception) -> Response:
        log.error("unexpected error serving %s", request.url.path, exc_info=exc)
        return _error(500, "internal", "Something went wrong on our side.")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return Starlette(
        routes=[
            Route("/api/v1/stream", stream, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        exception_handlers={404: not_found, 405: method_not_allowed, 500: internal},
        lifespan=lifespan,
    )


def _retry_after() -> dict[str, str]:
    return {"Retry-After": "2"}
