"""A recording relay in front of a Cloud Tasks receiver, for tests that drive the real
emulator: every delivery is passed on and recorded (task, retry, status, answer), so a test
waits for deliveries instead of sleeping and can assert on each one."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Delivery", "TaskRelay"]


@dataclass(frozen=True)
class Delivery:
    task: str
    retry: int
    status: int
    body: dict[str, Any]


class TaskRelay:
    """Passes each POST on to ``target`` with its ``X-CloudTasks-*`` headers and answers the
    emulator with the receiver's answer, after recording it. ``on_answer(status)`` runs
    before the emulator hears the answer (a test can, say, heal a fault before the retry)."""

    def __init__(
        self,
        target: str,
        *,
        on_answer: Callable[[int], None] | None = None,
        timeout: float = 120.0,
    ) -> None:
        relay = self
        self.target = target
        self.deliveries: list[Delivery] = []
        self._cond = threading.Condition()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                forwarded = {
                    k: v for k, v in self.headers.items() if k.lower().startswith("x-cloudtasks")
                }
                answer = httpx.post(
                    relay.target,
                    content=body,
                    headers={**forwarded, "Content-Type": "application/json"},
                    timeout=timeout,
                )
                delivery = Delivery(
                    task=self.headers.get("X-CloudTasks-TaskName", ""),
                    retry=int(self.headers.get("X-CloudTasks-TaskRetryCount") or 0),
                    status=answer.status_code,
                    body=answer.json(),
                )
                if on_answer is not None:
                    on_answer(answer.status_code)
                with relay._cond:
                    relay.deliveries.append(delivery)
                    relay._cond.notify_all()
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait(
        self, done: Callable[[list[Delivery]], bool], *, timeout: float, what: str = "deliveries"
    ) -> list[Delivery]:
        """The deliveries so far once ``done(deliveries)`` holds; fails after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done(self.deliveries):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what}: deliveries so far {self.deliveries}")
                self._cond.wait(remaining)
            return list(self.deliveries)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> TaskRelay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
