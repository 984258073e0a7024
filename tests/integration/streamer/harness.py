"""Helpers for the streamer's integration tests: the service on a real uvicorn server in a
thread, and SSE clients (httpx streaming) that record what they receive."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from streamer.server import StreamerServer, server_for
from streamer.service import StreamerService


@dataclass
class SseEvent:
    event: str
    data: str
    id: str | None

    def json(self) -> Any:
        return json.loads(self.data)


class RunningServer:
    """A :class:`StreamerServer` serving on loopback from a thread of its own."""

    def __init__(self, service: StreamerService, port: int) -> None:
        self.service = service
        self.port = port
        self.server: StreamerServer = server_for(service, "127.0.0.1", port)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve()

        asyncio.run(main())

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> RunningServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.server.started and self.service.ready:
                return self
            time.sleep(0.02)
        raise TimeoutError("streamer did not become ready")

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the server's loop and wait for it (tests poke the tracker)."""
        assert self.loop is not None
        done = threading.Event()
        box: list[Any] = []

        def run() -> None:
            try:
                box.append(fn())
            finally:
                done.set()

        self.loop.call_soon_threadsafe(run)
        done.wait(10)
        return box[0] if box else None

    def sigterm(self) -> float:
        """Deliver what SIGTERM does; returns seconds until the server thread ended."""
        assert self.loop is not None
        started = time.monotonic()
        self.loop.call_soon_threadsafe(self.server.handle_exit, signal.SIGTERM, None)
        self._thread.join(15)
        return time.monotonic() - started

    def stop(self) -> None:
        if self._thread.is_alive():
            self.sigterm()


@dataclass
class SseClient:
    """One browser: reads ``/api/v1/stream`` in a thread, parsing events as they come."""

    origin: str
    cookie: str | None
    markets: str | None = None
    last_event_id: str | None = None
    events: list[SseEvent] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)
    status: int | None = None
    ended: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def start(self) -> SseClient:
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        cookies = {"ki_session": self.cookie} if self.cookie else None
        params = {"markets": self.markets} if self.markets else None
        try:
            with (
                httpx.Client(timeout=httpx.Timeout(30, read=60), cookies=cookies) as client,
                client.stream(
                    "GET", self.origin + "/api/v1/stream", headers=headers, params=params
                ) as response,
            ):
                self.status = response.status_code
                buffer = b""
                for chunk in response.iter_raw():
                    self.raw.extend(chunk)
                    buffer += chunk
                    while b"\n\n" in buffer:
                        block, buffer = buffer.split(b"\n\n", 1)
                        self._block(block.decode())
        except BaseException as exc:  # recorded for the test to inspect
            self.error = exc
        finally:
            self.ended.set()

    def _block(self, block: str) -> None:
        fields: dict[str, str] = {}
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        if "event" in fields:
            self.events.append(SseEvent(fields["event"], "\n".join(data), fields.get("id")))

    def wait_for(self, predicate: Callable[[SseClient], bool], timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            if self.ended.is_set() and not predicate(self):
                break
            time.sleep(0.02)
        kinds = [e.event for e in self.events]
        raise AssertionError(f"condition not met; status={self.status} events={kinds[-20:]}")

    def of(self, kind: str) -> list[SseEvent]:
        return [e for e in self.events if e.event == kind]

    def positions(self) -> dict[str, dict[str, Any]]:
        """The positions this client shows: last snapshot plus the updates after it."""
        state: dict[str, dict[str, Any]] = {}
        for event in self.events:
            if event.event == "snapshot":
                state = {p["ticker"]: p for p in event.json()["positions"]}
            elif event.event == "position_update":
                body = event.json()
                state[body["ticker"]] = body
            elif event.event == "position_removed":
                state.pop(event.json()["ticker"], None)
        return state

    def connection(self) -> str | None:
        """The Kalshi connection status this client shows."""
        status = None
        for event in self.events:
            if event.event == "snapshot":
                status = (event.json().get("connection") or {}).get("status")
            elif event.event == "connection_status":
                status = event.json()["status"]
        return status

    @property
    def last_id(self) -> str | None:
        ids = [e.id for e in self.events if e.id]
        return ids[-1] if ids else None
