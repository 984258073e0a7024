"""What the account API needs from the local gateway: cookies and auth headers pass through
both ways and are never remembered by the proxy, the client address is appended to
``X-Forwarded-For``, and the sign-in's PEM upload may be multipart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devstack.gateway import create_app
from devstack.postgres import free_port

pytestmark = pytest.mark.integration


class Server:
    """uvicorn in a thread on a free loopback port, configured as ``devstack.gateway.main``
    runs it (no proxy headers: the connection's address is the client's)."""

    def __init__(self, app: Starlette, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", proxy_headers=False
        )
        self.server = uvicorn.Server(config)
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


async def sign_in(request: Request) -> Response:
    response = JSONResponse(
        {
            "content_type": request.headers.get("content-type", "").split(";")[0],
            "body_length": len(await request.body()),
        }
    )
    response.set_cookie("ki_session", "the-session-of-whoever-signed-in", httponly=True)
    response.set_cookie("ki_csrf", "csrf")
    return response


async def who(request: Request) -> Response:
    return JSONResponse(
        {
            "cookie": request.headers.get("cookie"),
            "authorization": request.headers.get("authorization"),
            "csrf": request.headers.get("x-csrf-token"),
            "origin": request.headers.get("origin"),
            "forwarded_for": request.headers.getlist("x-forwarded-for"),
        }
    )


UPSTREAM = Starlette(
    routes=[
        Route("/api/v1/account/authenticate", sign_in, methods=["POST"]),
        Route("/api/v1/account/me", who, methods=["GET", "PUT"]),
        Route("/api/v1/account/tokens", who, methods=["POST"]),
    ]
)


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with Server(UPSTREAM) as upstream:
        port = free_port()
        app = create_app({"/api/v1/account": upstream.origin}, port=port)
        with Server(app, port) as server:
            yield server.origin


def test_set_cookie_reaches_the_browser_and_the_proxy_keeps_no_cookie(gateway: str) -> None:
    signed_in = httpx.post(f"{gateway}/api/v1/account/authenticate", json={}, timeout=10)
    assert signed_in.status_code == 200
    cookies = signed_in.headers.get_list("set-cookie")
    assert any(c.startswith("ki_session=") and "HttpOnly" in c for c in cookies)
    assert any(c.startswith("ki_csrf=") for c in cookies)
    # Another client, with no cookie of its own, must not be sent the first one's session.
    stranger = httpx.get(f"{gateway}/api/v1/account/me", timeout=10)
    assert stranger.json()["cookie"] is None


def test_cookie_origin_csrf_and_authorization_pass_through(gateway: str) -> None:
    answer = httpx.put(
        f"{gateway}/api/v1/account/me",
        json={},
        headers={
            "Cookie": "ki_session=abc; ki_csrf=def",
            "X-CSRF-Token": "def",
            "Origin": gateway,
            "Authorization": "Bearer ki_token",
        },
        timeout=10,
    ).json()
    assert answer["cookie"] == "ki_session=abc; ki_csrf=def"
    assert answer["csrf"] == "def" and answer["origin"] == gateway
    assert answer["authorization"] == "Bearer ki_token"


def test_the_client_address_is_appended_to_x_forwarded_for(gateway: str) -> None:
    plain = httpx.get(f"{gateway}/api/v1/account/me", timeout=10).json()
    assert plain["forwarded_for"] == ["127.0.0.1"]
    spoofed = httpx.get(
        f"{gateway}/api/v1/account/me",
        headers={"X-Forwarded-For": "6.6.6.6, 7.7.7.7"},
        timeout=10,
    ).json()
    # One header, the client's claim first and the address the gateway saw last.
    assert spoofed["forwarded_for"] == ["6.6.6.6, 7.7.7.7, 127.0.0.1"]


def test_only_the_sign_in_accepts_a_multipart_upload(gateway: str) -> None:
    armour = ("-----BEGIN " + "PRIVATE KEY-----").encode()  # built here: no key block in git
    files = {"private_key": ("key.pem", armour + b"\n...", "text/plain")}
    upload = httpx.post(
        f"{gateway}/api/v1/account/authenticate", data={"key_id": "k"}, files=files, timeout=10
    )
    assert upload.status_code == 200, upload.text
    assert upload.json()["content_type"] == "multipart/form-data"
    elsewhere = httpx.post(
        f"{gateway}/api/v1/account/tokens", data={"name": "x"}, files=files, timeout=10
    )
    assert elsewhere.status_code == 415 and elsewhere.json()["error"] == "unsupported_media_type"
    foreign = httpx.post(
        f"{gateway}/api/v1/account/authenticate",
        data={"key_id": "k"},
        files=files,
        headers={"Origin": "https://evil.example"},
        timeout=10,
    )
    assert foreign.status_code == 403
