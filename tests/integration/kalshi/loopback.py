"""A scripted Kalshi stand-in on 127.0.0.1 for the REST client's wire tests.

It is a real HTTP server (``http.server`` in a thread, port 0) that checks every request's
RSA-PSS signature the way Kalshi does (public key, salt 32, over ``ts + METHOD + raw path
without query``; 5 s skew) and answers 401 with Kalshi's recorded body when it fails, so each
test also proves the client's signing on the wire. Routes are plain functions of the request;
every request is recorded with its arrival time for rate measurements.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kalshi_recorded"
PREFIX = "/trade-api/v2"
KALSHI_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def recorded(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


@dataclass(frozen=True)
class Seen:
    """One request as it arrived."""

    at: float  # time.monotonic() on arrival
    method: str
    raw_target: str
    path: str  # raw path without query
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    signature_ok: bool | None  # None: no auth headers


@dataclass
class Answer:
    status: int
    body: bytes
    delay: float = 0.0
    content_type: str = "application/json"


Route = Callable[[Seen], Answer]


@dataclass
class LoopbackKalshi:
    public_key: rsa.RSAPublicKey | None = None
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    max_skew_ms: int = 5000

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _handle(self) -> None:
                server._handle(self)

            do_GET = _handle
            do_POST = _handle
            do_DELETE = _handle
            do_PUT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{PREFIX}"

    def __enter__(self) -> LoopbackKalshi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def route(self, path: str, route: Route) -> None:
        """``path`` relative to ``/trade-api/v2``, raw (percent-encoded) as on the wire."""
        self.routes[PREFIX + path] = route

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == PREFIX + path]

    # ---- request handling

    def _verify(self, method: str, path: str, headers: dict[str, str]) -> bool | None:
        key = headers.get("kalshi-access-key")
        stamp = headers.get("kalshi-access-timestamp")
        signature = headers.get("kalshi-access-signature")
        if key is None and stamp is None and signature is None:
            return None
        if self.public_key is None or not (key and stamp and signature and stamp.isdigit()):
            return False
        if abs(int(stamp) - int(time.time() * 1000)) > self.max_skew_ms:
            return False
        try:
            raw = base64.b64decode(signature, validate=True)
            self.public_key.verify(
                raw, f"{stamp}{method}{path}".encode(), KALSHI_PSS, hashes.SHA256()
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        method = handler.command
        raw_target = handler.path
        parts = urlsplit(raw_target)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        body = handler.rfile.read(length) if length else b""
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        signature_ok = self._verify(method, parts.path, headers)
        seen = Seen(arrived, method, raw_target, parts.path, query, headers, body, signature_ok)
        with self._lock:
            self.seen.append(seen)

        if self.public_key is not None and signature_ok is not True:
            answer = Answer(401, recorded("auth__bad_signature"))
        else:
            route = self.routes.get(parts.path)
            answer = (
                route(seen)
                if route
                else Answer(404, b'{"error":{"code":"not_found","message":"not found"}}')
            )
        if answer.delay:
            time.sleep(answer.delay)
        try:
            handler.send_response(answer.status)
            handler.send_header("Content-Type", answer.content_type)
            handler.send_header("Content-Length", str(len(answer.body)))
            handler.end_headers()
            handler.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)
