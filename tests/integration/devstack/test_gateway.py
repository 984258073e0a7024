"""The local gateway against a real upstream over loopback: both run under uvicorn."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from devstack.gateway import HEALTH_PATH, MAX_BODY_BYTES, create_app
from devstack.postgres import free_port

pytestmark = pytest.mark.integration

released = threading.Event()


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "body": body.decode(),
            "x_test": request.headers.get("x-test"),
            "forwarded_host": request.headers.get("x-forwarded-host"),
        },
        status_code=201 if request.method == "POST" else 200,
    )


async def raw(request: Request) -> Response:
    """What arrived, byte for byte: the path as sent on the wire and the query string."""
    return JSONResponse(
        {
            "raw_path": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "body_length": len(await request.body()),
        }
    )


async def missing(request: Request) -> Response:
    response = JSONResponse({"error": "not_found", "message": "no such market"}, status_code=404)
    response.set_cookie("a", "1")
    response.set_cookie("b", "2")
    return response


async def events(request: Request) -> Response:
    async def stream() -> AsyncIterator[bytes]:
        yield b"id: 1\nevent: snapshot\ndata: {}\n\n"
        # The second event only comes once the test has seen the first through the gateway:
        # a buffering proxy would deadlock here (and the test would time out).
        deadline = time.monotonic() + 10
        while not released.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        yield b"id: 2\nevent: position_update\ndata: {}\n\n"

    return StreamingResponse(stream(), media_type="text/event-stream")


UPSTREAM = Starlette(
    routes=[
        Route("/api/v1/markets", echo, methods=["GET", "POST"]),
        Route("/api/v1/markets/{ticker}", missing),
        Route("/api/v1/stream", events),
        Route("/api/v1/raw/{rest:path}", raw, methods=["GET", "POST"]),
        Route("/other", lambda r: PlainTextResponse("other")),
    ]
)


class Server:
    """uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Starlette, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Server:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def upstream() -> Iterator[Server]:
    with Server(UPSTREAM) as server:
        yield server


@pytest.fixture(scope="module")
def gateway(upstream: Server) -> Iterator[str]:
    routes = {
        "/api/v1/markets": upstream.origin,
        "/api/v1/stream": upstream.origin,
        "/api/v1/raw": upstream.origin,
        "/api/v1/down": f"http://127.0.0.1:{free_port()}",
    }
    port = free_port()
    app = create_app(routes, port=port, summary=[("postgres", ["Postgres at 127.0.0.1:5"])])
    with Server(app, port) as server:
        yield server.origin


def test_proxies_method_path_query_headers_and_body(gateway: str) -> None:
    response = httpx.post(
        f"{gateway}/api/v1/markets?status=open&limit=2",
        content=b'{"x": 1}',
        headers={"x-test": "yes", "content-type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 201
    assert response.json() == {
        "method": "POST",
        "path": "/api/v1/markets",
        "query": "status=open&limit=2",
        "body": '{"x": 1}',
        "x_test": "yes",
        "forwarded_host": gateway.removeprefix("http://"),
    }


def test_upstream_status_and_repeated_headers_pass_through(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/v1/markets/NOPE", timeout=10)
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "no such market"}
    assert len(response.headers.get_list("set-cookie")) == 2


def test_server_sent_events_stream_without_buffering(gateway: str) -> None:
    released.clear()
    with httpx.stream("GET", f"{gateway}/api/v1/stream", timeout=10) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        chunks = response.iter_raw()
        first = next(chunks)
        assert b"id: 1" in first and b"id: 2" not in first
        released.set()
        rest = b"".join(chunks)
    assert b"id: 2\nevent: position_update" in rest


def test_unrouted_api_path_is_404_json(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/v1/backtests", timeout=10)
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found"
    assert "/api/v1/backtests" in body["message"]


def test_upstream_down_is_502_json(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/v1/down/x", timeout=10)
    assert response.status_code == 502
    body = response.json()
    assert body["error"] == "bad_gateway"
    assert "/api/v1/down" in body["message"]


def test_without_a_built_dashboard_the_root_lists_what_runs(gateway: str) -> None:
    response = httpx.get(f"{gateway}/", timeout=10)
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "Postgres at 127.0.0.1:5" in response.text
    assert "/api/v1/markets" in response.text


def test_health(gateway: str) -> None:
    response = httpx.get(f"{gateway}{HEALTH_PATH}", timeout=10)
    assert response.json()["status"] == "ok"


def test_serves_the_built_dashboard_with_spa_fallback(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>dashboard</html>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("outside")
    port = free_port()
    with Server(create_app({}, port=port, dist_dir=dist), port) as server:
        assert httpx.get(f"{server.origin}/", timeout=10).text == "<html>dashboard</html>"
        asset = httpx.get(f"{server.origin}/assets/app.js", timeout=10)
        assert asset.text == "console.log(1)"
        assert "javascript" in asset.headers["content-type"]
        # A client-side route is the app's index.
        assert httpx.get(f"{server.origin}/backtests/7", timeout=10).text.startswith("<html>")
        # No escaping the dist directory.
        escaped = httpx.get(f"{server.origin}/%2e%2e/secret.txt", timeout=10)
        assert "outside" not in escaped.text
        api = httpx.get(f"{server.origin}/api/v1/markets", timeout=10)
        assert api.status_code == 404 and json.loads(api.text)["error"] == "not_found"


def test_dashboard_cache_headers_and_missing_assets(tmp_path: Path) -> None:
    """Hashed assets are cached for a year, the index is revalidated on every load, and a
    chunk of an older build is a 404 JSON, never the index served as a script."""
    dist = tmp_path / "dist"
    port = free_port()
    with Server(create_app({}, port=port, dist_dir=dist), port) as server:
        # Not built yet: the status page. Built while the gateway runs: served at once.
        assert "local stack" in httpx.get(f"{server.origin}/", timeout=10).text
        (dist / "assets").mkdir(parents=True)
        (dist / "index.html").write_text("<html>dashboard</html>")
        (dist / "assets" / "index-abc123.js").write_text("console.log(1)")
        (dist / "robots.txt").write_text("User-agent: *")
        index = httpx.get(f"{server.origin}/", timeout=10)
        assert index.text == "<html>dashboard</html>"
        assert index.headers["cache-control"] == "no-cache"
        route = httpx.get(f"{server.origin}/markets/KX-25NOV28-B45.5", timeout=10)
        assert route.text == "<html>dashboard</html>"
        assert route.headers["cache-control"] == "no-cache"
        assert (
            httpx.get(f"{server.origin}/index.html", timeout=10).headers["cache-control"]
            == "no-cache"
        )
        asset = httpx.get(f"{server.origin}/assets/index-abc123.js", timeout=10)
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert (
            httpx.get(f"{server.origin}/robots.txt", timeout=10).headers["cache-control"]
            == "no-cache"
        )
        stale = httpx.get(f"{server.origin}/assets/index-old999.js", timeout=10)
        assert stale.status_code == 404
        assert stale.json()["error"] == "not_found"


# ---------------------------------------------------------------- hardening (finding 9)


def _port(origin: str) -> int:
    return int(origin.rsplit(":", 1)[1])


def test_percent_encoding_in_the_path_is_forwarded_as_sent(gateway: str) -> None:
    response = httpx.get(f"{gateway}/api/v1/raw/A%3FB%2FC%20D?x=%26y&z=1", timeout=10)
    assert response.status_code == 200
    # %3F stays in the path (never becomes a query), %2F stays one segment.
    assert response.json()["raw_path"] == "/api/v1/raw/A%3FB%2FC%20D"
    assert response.json()["query"] == "x=%26y&z=1"


@pytest.mark.parametrize("path", ["/api/v1/raw/A%00B", "/api/v1/nothing/%00", "/x%00y", "/%0a"])
def test_control_characters_in_the_path_are_400_json(gateway: str, path: str) -> None:
    response = httpx.get(gateway + path, timeout=10)
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"


def test_a_body_over_the_limit_is_413_json(gateway: str) -> None:
    big = b'"' + b"x" * MAX_BODY_BYTES + b'"'
    declared = httpx.post(f"{gateway}/api/v1/raw/x", content=big, headers=JSON, timeout=30)
    assert declared.status_code == 413
    assert declared.json()["error"] == "too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    streamed = httpx.post(f"{gateway}/api/v1/raw/x", content=chunks(), headers=JSON, timeout=30)
    assert streamed.status_code == 413
    assert streamed.json()["error"] == "too_large"
    # Just under the limit still passes.
    ok = httpx.post(f"{gateway}/api/v1/raw/x", content=b"1" * 1000, headers=JSON, timeout=30)
    assert ok.status_code == 200 and ok.json()["body_length"] == 1000


JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "localhost", "10.0.0.1:{port}"]
)
def test_a_foreign_host_header_is_refused(gateway: str, host: str) -> None:
    # DNS rebinding: a hostile name resolving to 127.0.0.1 sends its own name as Host.
    host = host.format(port=_port(gateway))
    for path in ("/api/v1/markets", "/"):
        response = httpx.get(gateway + path, headers={"host": host}, timeout=10)
        assert response.status_code == 421, (host, path)
        assert response.json()["error"] == "misdirected_request"


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "LOCALHOST"])
def test_loopback_host_names_with_the_gateways_port_pass(gateway: str, name: str) -> None:
    response = httpx.get(
        f"{gateway}/api/v1/markets", headers={"host": f"{name}:{_port(gateway)}"}, timeout=10
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:1"},
        {"sec-fetch-site": "cross-site"},
    ],
)
def test_a_cross_origin_state_change_is_403(gateway: str, headers: dict[str, str]) -> None:
    response = httpx.post(
        f"{gateway}/api/v1/markets", content=b"{}", headers={**JSON, **headers}, timeout=10
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    # Reading cross-origin is not a state change (the browser keeps the answer from the page).
    assert httpx.get(f"{gateway}/api/v1/markets", headers=headers, timeout=10).status_code == 200


def test_a_same_origin_state_change_passes(gateway: str) -> None:
    for origin in (gateway, f"http://localhost:{_port(gateway)}"):
        response = httpx.post(
            f"{gateway}/api/v1/markets",
            content=b"{}",
            headers={**JSON, "origin": origin},
            timeout=10,
        )
        assert response.status_code == 201, origin


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ],
)
def test_a_state_change_without_a_json_body_is_415(gateway: str, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = httpx.post(
        f"{gateway}/api/v1/markets", content=b'{"x": 1}', headers=headers, timeout=10
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"


def test_responses_carry_one_server_and_one_date_header(gateway: str) -> None:
    for path in ("/api/v1/markets", "/api/v1/markets/NOPE", "/", HEALTH_PATH):
        response = httpx.get(gateway + path, timeout=10)
        assert len(response.headers.get_list("server")) == 1, (path, response.headers)
        assert len(response.headers.get_list("date")) == 1, (path, response.headers)


def test_the_status_page_links_the_apis_and_shows_the_live_poll_count(
    migrated_database: str,
) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(migrated_database)

    def add_polls(n: int, start: int) -> None:
        with engine.begin() as connection:
            for i in range(start, start + n):
                connection.execute(
                    sqlalchemy.text(
                        "INSERT INTO market_polls (message_id, polled_at, market_count) "
                        "VALUES (:m, now(), 10)"
                    ),
                    {"m": f"poll-{i}"},
                )

    port = free_port()
    app = create_app({}, port=port, database_url=migrated_database)
    try:
        with Server(app, port) as server:
            page = httpx.get(f"{server.origin}/", timeout=10)
            assert page.status_code == 200
            for link in (
                "/api/v1/health",
                "/api/v1/openapi/markets.json",
                "/api/v1/openapi/backtests.json",
            ):
                assert f"href='{link}'" in page.text
            assert "<span id='poll-count'>0</span>" in page.text
            add_polls(3, 0)
            # Live: the next load counts what landed since, no restart, no cache.
            page = httpx.get(f"{server.origin}/", timeout=10)
            assert "<span id='poll-count'>3</span>" in page.text
            assert "http-equiv='refresh'" in page.text
    finally:
        engine.dispose()
