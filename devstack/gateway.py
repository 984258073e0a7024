"""The local gateway: one origin on 127.0.0.1 that stands in for the HTTPS load balancer.

In the cloud one load balancer sends ``/`` to the dashboard bucket and ``/api/v1/...`` to
functions and the streamer. Locally this Starlette app does the same: path prefixes from
``StackContext.gateway_routes`` are reverse-proxied to upstream origins, everything else is
the built dashboard (``frontend/dist``) or, before there is one, a page listing what runs.
Responses are streamed chunk by chunk, never buffered, so Server-Sent Events pass through.

Errors follow the API contract: an ``/api/`` path no service handles answers 404 JSON, an
upstream that is down answers 502 JSON, both ``{"error": code, "message": text}``.

Run as ``python -m devstack.gateway --config FILE`` (what ``kalshi-insights up`` does); the
config is JSON ``{"port", "routes", "summary", "dist_dir"}``.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

__all__ = ["HEALTH_PATH", "create_app", "default_dist_dir", "main", "match_route"]

logger = logging.getLogger("devstack.gateway")

HEALTH_PATH = "/_gateway/health"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Connection-level headers (RFC 9110 section 7.6.1) are never forwarded by a proxy.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Streams (SSE) stay open for hours: no read timeout. Connecting must be quick, though.
UPSTREAM_TIMEOUT = httpx.Timeout(connect=5.0, read=None, write=30.0, pool=10.0)


def default_dist_dir() -> Path:
    """``frontend/dist`` of this checkout (the dashboard's production build)."""
    return Path(__file__).resolve().parent.parent / "frontend" / "dist"


def match_route(path: str, routes: Mapping[str, str]) -> tuple[str, str] | None:
    """The (prefix, upstream) whose prefix is the longest whole-segment prefix of ``path``.

    ``/api/v1/markets`` matches ``/api/v1/markets`` and ``/api/v1/markets/X`` but not
    ``/api/v1/marketsX``. A ``/`` route, if any, catches everything except ``/api/`` paths.
    """
    best: tuple[str, str] | None = None
    for prefix, upstream in routes.items():
        bare = prefix.rstrip("/")
        if bare == "":
            if path.startswith("/api/"):
                continue
        elif not (path == bare or path.startswith(bare + "/")):
            continue
        if best is None or len(bare) > len(best[0].rstrip("/")):
            best = (prefix, upstream)
    return best


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status)


def _landing_page(summary: Sequence[tuple[str, Sequence[str]]], routes: Mapping[str, str]) -> str:
    services = "".join(
        f"<li><b>{html.escape(name)}</b><pre>{html.escape(chr(10).join(lines))}</pre></li>"
        for name, lines in summary
    )
    route_rows = "".join(
        f"<li><code>{html.escape(prefix)}</code> &rarr; <code>{html.escape(upstream)}</code></li>"
        for prefix, upstream in sorted(routes.items())
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Kalshi Insights (local)"
        "</title><style>body{font-family:system-ui,sans-serif;max-width:56rem;margin:2rem auto;"
        "padding:0 1rem}pre{background:#f4f4f4;padding:.5rem;overflow-x:auto}</style></head>"
        "<body><h1>Kalshi Insights: local stack</h1>"
        "<p>The dashboard is not built yet (no <code>frontend/dist</code>). What runs:</p>"
        f"<ul>{services or '<li>(nothing reported)</li>'}</ul>"
        f"<h2>Gateway routes</h2><ul>{route_rows or '<li>(none yet)</li>'}</ul>"
        "</body></html>"
    )


class _Proxy:
    """Forwards requests to upstreams over one shared HTTP client (connection reuse)."""

    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None

    async def forward(self, request: Request, prefix: str, upstream: str) -> Response:
        assert self.client is not None, "the app's lifespan opens the client"
        url = httpx.URL(upstream.rstrip("/") + request.url.path).copy_with(
            query=request.url.query.encode() or None
        )
        headers = [
            (name, value)
            for name, value in request.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP and name.lower() != b"host"
        ]
        client_host = request.client.host if request.client else "127.0.0.1"
        headers += [
            (b"x-forwarded-for", client_host.encode()),
            (b"x-forwarded-host", request.headers.get("host", "").encode("latin-1")),
            (b"x-forwarded-proto", request.url.scheme.encode()),
        ]
        # Request bodies are small API payloads: read them whole (a chunked upload would
        # confuse upstreams that expect Content-Length). Responses are what must stream.
        body = await request.body()
        outgoing = self.client.build_request(
            request.method, url, headers=headers, content=body or None
        )
        try:
            upstream_response = await self.client.send(outgoing, stream=True)
        except httpx.HTTPError as error:
            logger.warning("upstream %s for %s failed: %s", upstream, request.url.path, error)
            return _error(
                502,
                "bad_gateway",
                f"the service for {prefix} ({upstream}) is not answering: {type(error).__name__}",
            )

        async def body_chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream_response.aiter_raw():
                    yield chunk
            except httpx.HTTPError as error:
                # Mid-stream failure: the status line is already sent, so just end the body.
                logger.warning("upstream %s stream ended early: %s", upstream, error)
            finally:
                await upstream_response.aclose()

        response = StreamingResponse(body_chunks(), status_code=upstream_response.status_code)
        response.raw_headers = [
            (name, value)
            for name, value in upstream_response.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        return response


def create_app(
    routes: Mapping[str, str],
    *,
    dist_dir: Path | None = None,
    summary: Sequence[tuple[str, Sequence[str]]] = (),
) -> Starlette:
    """The gateway for ``routes`` (path prefix -> upstream origin such as http://127.0.0.1:8091)."""
    routes = dict(routes)
    dist = dist_dir.resolve() if dist_dir is not None else None
    has_dashboard = dist is not None and (dist / "index.html").is_file()
    proxy = _Proxy()

    def static_file(path: str) -> Response:
        assert dist is not None
        candidate = (dist / path.lstrip("/")).resolve()
        if candidate.is_relative_to(dist) and candidate.is_file():
            return FileResponse(candidate)
        # Client-side routes (/backtests/123) are the single-page app's index.
        return FileResponse(dist / "index.html")

    async def handle(request: Request) -> Response:
        path = request.url.path
        if path == HEALTH_PATH:
            return JSONResponse({"status": "ok", "routes": routes})
        matched = match_route(path, routes)
        if matched is not None:
            return await proxy.forward(request, *matched)
        if path == "/api" or path.startswith("/api/"):
            return _error(404, "not_found", f"no service handles {path}")
        if request.method not in ("GET", "HEAD"):
            return _error(405, "method_not_allowed", f"{request.method} is not allowed on {path}")
        if has_dashboard:
            return static_file(path)
        return HTMLResponse(_landing_page(summary, routes))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, follow_redirects=False) as client:
            proxy.client = client
            yield
        proxy.client = None

    return Starlette(
        routes=[
            Route("/", handle, methods=METHODS),
            Route("/{path:path}", handle, methods=METHODS),
        ],
        lifespan=lifespan,
    )


def main(argv: Sequence[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the local gateway.")
    parser.add_argument("--config", type=Path, required=True, help="JSON written by the launcher")
    args = parser.parse_args(argv)
    config: dict[str, Any] = json.loads(args.config.read_text())
    dist = config.get("dist_dir")
    app = create_app(
        config.get("routes", {}),
        dist_dir=Path(dist) if dist else None,
        summary=[(name, lines) for name, lines in config.get("summary", [])],
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(config["port"]),
        log_level="info",
        # Open SSE streams would otherwise hold shutdown forever.
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
