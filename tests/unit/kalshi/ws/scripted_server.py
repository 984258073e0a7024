"""A tiny scripted WebSocket server for driving the client in unit tests.

Each test supplies the server side as a coroutine ``script(conn)`` that reads the client's
commands and sends exactly the frames it wants (including wrong ones). The server records
the handshake request so tests can check the signature and headers the client sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from shared.kalshi.signing import KalshiSigner, generate_private_key_pem

Script = Callable[[ServerConnection], Awaitable[None]]
WAIT = 5.0


def run(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
    """Run one async test body with an overall deadline (no pytest-asyncio here)."""

    async def bounded() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


_PEM = generate_private_key_pem()


def test_signer() -> KalshiSigner:
    return KalshiSigner.from_pem("0b7f5f8e-1111-4222-8333-944445555666", _PEM)


test_signer.__test__ = False  # type: ignore[attr-defined]


async def recv_json(conn: ServerConnection) -> dict[str, Any]:
    frame = await asyncio.wait_for(conn.recv(), WAIT)
    data = json.loads(frame)
    assert isinstance(data, dict)
    return data


async def send_json(conn: ServerConnection, frame: dict[str, Any]) -> None:
    await conn.send(json.dumps(frame))


class ScriptedServer:
    """``async with ScriptedServer(script) as server:`` then connect to ``server.url``."""

    def __init__(
        self,
        script: Script,
        *,
        reject_status: int | None = None,
        reject_body: str = "",
    ) -> None:
        self._script = script
        self._reject_status = reject_status
        self._reject_body = reject_body
        self._server: Server | None = None
        self.request_headers: Headers | None = None
        self.request_path: str | None = None
        self.close_codes: list[int | None] = []
        self.script_errors: list[BaseException] = []
        self.done = asyncio.Event()
        self.url = ""

    def _process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        self.request_headers = request.headers
        self.request_path = request.path
        if self._reject_status is not None:
            response = conn.respond(self._reject_status, self._reject_body)
            response.headers["Content-Type"] = "application/json"
            return response
        return None

    async def _handle(self, conn: ServerConnection) -> None:
        try:
            await self._script(conn)
        except Exception as exc:  # surfaced by the test through script_errors
            self.script_errors.append(exc)
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(conn.wait_closed(), WAIT)
            self.close_codes.append(conn.close_code)
            self.done.set()

    async def __aenter__(self) -> ScriptedServer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            ping_interval=None,
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/trade-api/ws/v2"
        return self

    async def __aexit__(self, exc_type: object, *rest: object) -> None:
        assert self._server is not None
        self._server.close()
        await asyncio.wait_for(self._server.wait_closed(), WAIT)
        if self.script_errors and exc_type is None:  # never mask the test's own failure
            raise self.script_errors[0]
