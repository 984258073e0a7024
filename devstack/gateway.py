"""The local gateway: one origin on 127.0.0.1 that stands in for the HTTPS load balancer.

In the cloud one load balancer sends ``/`` to the dashboard bucket and ``/api/v1/...`` to
functions and the streamer. Locally this Starlette app does the same: path prefixes from
``StackContext.gateway_routes`` are reverse-proxied to upstream origins, everything else is
the built dashboard (``frontend/dist``) or, before there is one, a page listing what runs.
Responses are streamed chunk by chunk, never buffered, so Server-Sent Events pass through.

Errors follow the API contract: an ``/api/`` path no service handles answers 404 JSON, an
upstream that is down answers 502 JSON, both ``{"error": code, "message": text}``.

It listens on loopback, but a web page in the same browser can still reach loopback: by
DNS rebinding (a hostile name resolving to 127.0.0.1) or by a cross-site form post. So
before anything is forwarded the gateway checks, in this order: the Host header names this
gateway (``127.0.0.1``, ``localhost`` or ``[::1]`` with its port; else 421), a state change
(POST, PUT, PATCH, DELETE) carries no foreign ``Origin`` (else 403) and its body is JSON
(else 415; a form or ``text/plain`` post is what a page can send without a preflight; the
one exception is the sign-in's PEM upload, ``multipart/form-data`` on
``/api/v1/account/authenticate``), the
body is at most ``max_body_bytes`` (else 413) and the path has no control characters such
as ``%00`` (else 400). The functions enforce their own limits as well; these checks are a
guard in front of them, not instead of them. The path is forwarded as the client sent it,
percent-encoding and all: ``/markets/A%3FB`` stays one segment, never a query.

Run as ``python -m devstack.gateway --config FILE`` (what ``kalshi-insights up`` does); the
config is JSON ``{"port", "routes", "summary", "dist_dir"}``.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

__all__ = [
    "HEALTH_PATH",
    "MAX_BODY_BYTES",
    "allowed_origins",
    "check_request",
    "create_app",
    "default_dist_dir",
    "forwarded_for",
    "main",
    "match_route",
    "read_body",
]

logger = logging.getLogger("devstack.gateway")

HEALTH_PATH = "/_gateway/health"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Larger than any API payload (the backtests function takes 64 kB): a guard, not the limit.
MAX_BODY_BYTES = 1_048_576
# The one form upload the API takes: sign-in with the private key as a PEM file. A form post
# needs no preflight, so the foreign-Origin check above still applies to it, and the
# function checks the Origin itself as well.
MULTIPART_PATHS = frozenset({"/api/v1/account/authenticate"})
# The upstream's own Server and Date headers are dropped: uvicorn adds the gateway's, and a
# response must carry one of each (RFC 9110 sections 6.6.1 and 10.2.4).
REPLACED_BY_GATEWAY = frozenset({"server", "date"})
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
# The dashboard's build names files under /assets/ by content hash (frontend/vite.config.ts):
# such a file never changes, so browsers keep it a year; everything else is revalidated.
HASHED_ASSETS = "/assets/"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
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


class _Rejected(Exception):
    """A request the gateway refuses before forwarding; carries its JSON error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> JSONResponse:
        return _error(self.status, self.code, self.message)


def allowed_origins(port: int) -> frozenset[str]:
    """The origins a browser uses for this gateway: ``http://HOST:PORT`` per loopback name."""
    return frozenset(f"http://{host}:{port}" for host in LOOPBACK_HOSTS)


def check_request(request: Request, port: int) -> None:
    """Raise :class:`_Rejected` unless ``request`` may pass (see the module docstring)."""
    host = request.headers.get("host", "").strip().lower()
    if host not in {f"{name}:{port}" for name in LOOPBACK_HOSTS}:
        raise _Rejected(
            421,
            "misdirected_request",
            f"this gateway answers only to 127.0.0.1:{port} or localhost:{port}",
        )
    _check_path(request)
    method = request.method.upper()
    if method not in STATE_CHANGING:
        return
    origin = request.headers.get("origin")
    cross_site = request.headers.get("sec-fetch-site", "").lower() == "cross-site"
    if (origin is not None and origin.lower() not in allowed_origins(port)) or cross_site:
        raise _Rejected(403, "forbidden", "a cross-origin request may not change state here")
    content_type = request.headers.get("content-type")
    has_body = (
        request.headers.get("content-length", "0").strip() not in ("", "0")
        or "transfer-encoding" in request.headers
    )
    upload = request.url.path in MULTIPART_PATHS and _is_multipart(content_type)
    if (method != "DELETE" or has_body or content_type) and not (_is_json(content_type) or upload):
        raise _Rejected(
            415, "unsupported_media_type", f"{method} needs a body of type application/json"
        )


def _is_multipart(content_type: str | None) -> bool:
    return bool(content_type) and str(content_type).split(";", 1)[0].strip().lower() == (
        "multipart/form-data"
    )


def forwarded_for(headers: Headers, client_host: str) -> str:
    """``X-Forwarded-For`` as the load balancer forwards it: whatever the client sent, then
    the address the connection came from, appended (``<supplied>, <client>``). A function
    trusts only the hops counted from the right, never the client-supplied left part."""
    supplied = ", ".join(
        part.strip()
        for value in headers.getlist("x-forwarded-for")
        for part in value.split(",")
        if part.strip()
    )
    return f"{supplied}, {client_host}" if supplied else client_host


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _check_path(request: Request) -> None:
    """Control characters (``%00``) in any path are refused, on every method; so is a raw
    path that is not plain ASCII (it is forwarded byte for byte)."""
    # scope["path"], not request.url.path: building the URL drops tabs and newlines.
    raw = request.scope.get("raw_path") or b""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in request.scope["path"]) or any(
        byte < 0x21 or byte > 0x7E for byte in raw
    ):
        raise _Rejected(
            400, "bad_request", "the path contains a control character or a raw non-ASCII byte"
        )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole request body, refusing (413) as soon as it is longer than ``limit``."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _Rejected(413, "too_large", f"the body may be at most {limit} bytes")
        except ValueError:
            raise _Rejected(400, "bad_request", "Content-Length is not a number") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Rejected(413, "too_large", f"the body may be at most {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _landing_page(
    summary: Sequence[tuple[str, Sequence[str]]],
    routes: Mapping[str, str],
    polls: tuple[int, str | None] | None,
) -> str:
    """The page at ``/`` until the dashboard exists: where to look, and whether polls land.

    It reloads itself every few seconds, so the poll count is live without any script.
    """
    services = "".join(
        f"<li><b>{html.escape(name)}</b><pre>{html.escape(chr(10).join(lines))}</pre></li>"
        for name, lines in summary
    )
    route_rows = "".join(
        f"<li><code>{html.escape(prefix)}</code> &rarr; <code>{html.escape(upstream)}</code></li>"
        for prefix, upstream in sorted(routes.items())
    )
    if polls is None:
        poll_text = "unknown (the database did not answer)"
    else:
        count, last = polls
        poll_text = f"<span id='poll-count'>{count}</span>" + (
            f" (last at {html.escape(last)})" if last else " (the first poll is on its way)"
        )
    links = "".join(
        f"<li><a href='{path}'>{path}</a> {html.escape(what)}</li>" for path, what in STATUS_LINKS
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='{STATUS_REFRESH_SECONDS}'>"
        "<title>Kalshi Insights (local)</title><style>body{font-family:system-ui,sans-serif;"
        "max-width:56rem;margin:2rem auto;padding:0 1rem}pre{background:#f4f4f4;padding:.5rem;"
        "overflow-x:auto}</style></head>"
        "<body><h1>Kalshi Insights: local stack</h1>"
        "<p>The dashboard is not built yet (no <code>frontend/dist</code>); this page shows "
        "what runs instead.</p>"
        f"<p>Market polls stored: {poll_text}</p>"
        f"<h2>Try</h2><ul>{links}</ul>"
        f"<h2>What runs</h2><ul>{services or '<li>(nothing reported)</li>'}</ul>"
        f"<h2>Gateway routes</h2><ul>{route_rows or '<li>(none yet)</li>'}</ul>"
        "</body></html>"
    )


STATUS_REFRESH_SECONDS = 5
STATUS_LINKS = (
    ("/api/v1/health", "health and the last poll"),
    ("/api/v1/markets?sort=volume&limit=5", "the busiest markets"),
    ("/api/v1/openapi/markets.json", "the markets API (OpenAPI)"),
    ("/api/v1/openapi/backtests.json", "the backtests API (OpenAPI)"),
)


class _PollCounter:
    """Counts stored polls for the status page, straight from the stack's database."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url
        self._engine: Any = None

    def count(self) -> tuple[int, str | None] | None:
        if not self.database_url:
            return None
        import sqlalchemy

        try:
            if self._engine is None:
                self._engine = sqlalchemy.create_engine(
                    self.database_url, pool_size=1, max_overflow=0, pool_pre_ping=True
                )
            with self._engine.connect() as connection:
                row = connection.execute(
                    sqlalchemy.text("SELECT count(*), max(polled_at) FROM market_polls")
                ).one()
        except sqlalchemy.exc.SQLAlchemyError as error:
            logger.warning("status page: poll count unavailable (%s)", type(error).__name__)
            return None
        last = row[1].isoformat() if row[1] is not None else None
        return int(row[0]), last

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _no_cookie_jar() -> CookieJar:
    """A cookie jar that keeps nothing. The proxy's one client serves every browser: a jar
    that stored an upstream's ``Set-Cookie`` (a sign-in's session) would send it along with
    every later request of anyone. Cookies pass through as headers, both ways, untouched."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class _Proxy:
    """Forwards requests to upstreams over one shared HTTP client (connection reuse)."""

    def __init__(self) -> None:
        self.client: httpx.AsyncClient | None = None

    async def forward(
        self, request: Request, prefix: str, upstream: str, max_body_bytes: int
    ) -> Response:
        assert self.client is not None, "the app's lifespan opens the client"
        # The raw path as sent: rebuilding it from the decoded one would turn %3F into a
        # query and %2F into a separator. Control characters were refused before this.
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        target = upstream.rstrip("/") + raw_path.decode("ascii", errors="strict")
        query = request.scope.get("query_string", b"")
        url = httpx.URL(target + ("?" + query.decode("ascii") if query else ""))
        # Cookies, Origin, X-CSRF-Token and Authorization pass through as sent: the functions
        # authenticate every request themselves.
        headers = [
            (name, value)
            for name, value in request.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP | {"host", "x-forwarded-for"}
        ]
        client_host = request.client.host if request.client else "127.0.0.1"
        headers += [
            (b"x-forwarded-for", forwarded_for(request.headers, client_host).encode("latin-1")),
            (b"x-forwarded-host", request.headers.get("host", "").encode("latin-1")),
            (b"x-forwarded-proto", request.url.scheme.encode()),
        ]
        # Request bodies are small API payloads: read them whole (a chunked upload would
        # confuse upstreams that expect Content-Length), up to the limit. Responses stream.
        body = await read_body(request, max_body_bytes)
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
            if name.decode("latin-1").lower() not in HOP_BY_HOP | REPLACED_BY_GATEWAY
        ]
        return response


class _Spread:
    """A route may name several upstreams, comma-separated (``kalshi-insights up
    --streamer-split N``: the streamer's fan-outs): requests go round-robin across them, as
    the load balancer spreads Cloud Run instances."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def pick(self, upstream: str) -> str:
        if "," not in upstream:
            return upstream
        choices = [u.strip() for u in upstream.split(",") if u.strip()]
        n = self._next.get(upstream, 0)
        self._next[upstream] = (n + 1) % len(choices)
        return choices[n % len(choices)]


def create_app(
    routes: Mapping[str, str],
    *,
    port: int,
    dist_dir: Path | None = None,
    summary: Sequence[tuple[str, Sequence[str]]] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
    database_url: str | None = None,
) -> Starlette:
    """The gateway on ``port`` for ``routes`` (path prefix -> upstream origin such as
    http://127.0.0.1:8091). ``port`` is what the Host check accepts; ``database_url`` feeds
    the status page's poll count."""
    routes = dict(routes)
    spread = _Spread()
    polls = _PollCounter(database_url)
    dist = dist_dir.resolve() if dist_dir is not None else None
    proxy = _Proxy()

    def has_dashboard() -> bool:
        # Checked per request: a build finished after the gateway started is served at once.
        return dist is not None and (dist / "index.html").is_file()

    def static_file(path: str) -> Response:
        assert dist is not None
        candidate = (dist / path.lstrip("/")).resolve()
        hashed = path.startswith(HASHED_ASSETS)
        if (
            candidate.is_relative_to(dist)
            and candidate.is_file()
            and candidate.name != "index.html"
        ):
            return FileResponse(
                candidate, headers={"cache-control": IMMUTABLE if hashed else REVALIDATE}
            )
        if hashed:
            # A chunk of an older build: a 404 the app can report, never index.html as script.
            return _error(404, "not_found", f"no file {path} in the dashboard build")
        # Client-side routes (/backtests/123) are the single-page app's index, revalidated on
        # every load so a new build's hashed assets are picked up at once.
        return FileResponse(dist / "index.html", headers={"cache-control": REVALIDATE})

    async def handle(request: Request) -> Response:
        try:
            check_request(request, port)
            return await route(request)
        except _Rejected as rejected:
            return rejected.response()

    async def route(request: Request) -> Response:
        path = request.url.path
        if path == HEALTH_PATH:
            return JSONResponse({"status": "ok", "routes": routes})
        matched = match_route(path, routes)
        if matched is not None:
            prefix, upstream = matched
            return await proxy.forward(request, prefix, spread.pick(upstream), max_body_bytes)
        if path == "/api" or path.startswith("/api/"):
            return _error(404, "not_found", f"no service handles {path}")
        if request.method not in ("GET", "HEAD"):
            return _error(405, "method_not_allowed", f"{request.method} is not allowed on {path}")
        if has_dashboard():
            return static_file(path)
        counted = await run_in_threadpool(polls.count)
        return HTMLResponse(
            _landing_page(summary, routes, counted), headers={"cache-control": "no-store"}
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            timeout=UPSTREAM_TIMEOUT, follow_redirects=False, cookies=_no_cookie_jar()
        ) as client:
            proxy.client = client
            try:
                yield
            finally:
                proxy.client = None
                polls.close()

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
        port=int(config["port"]),
        database_url=config.get("database_url") or os.environ.get("DATABASE_URL"),
        dist_dir=Path(dist) if dist else None,
        summary=[(name, lines) for name, lines in config.get("summary", [])],
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(config["port"]),
        log_level="info",
        # The client address is the connection's: a loopback client's own X-Forwarded-For
        # must not replace it (the functions rate-limit sign-ins by it).
        proxy_headers=False,
        # Open SSE streams would otherwise hold shutdown forever.
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
