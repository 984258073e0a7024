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

from devstack.gateway import HEALTH_PATH, create_app
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
        Route("/other", lambda r: PlainTextResponse("other")),
    ]
)


class Server:
    """uvicorn in a thread, on a free loopback port."""

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
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
        "/api/v1/down": f"http://127.0.0.1:{free_port()}",
    }
    app = create_app(routes, summary=[("postgres", ["Postgres at 127.0.0.1:5"])])
    with Server(app) as server:
        yield server.origin


def test_proxies_method_path_query_headers_and_body(gateway: str) -> None:
    response = httpx.post(
        f"{gateway}/api/v1/markets?status=open&limit=2",
        content=b'{"x": 1}',
        headers={"x-test": "yes"},
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
    with Server(create_app({}, dist_dir=dist)) as server:
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
