"""Entry point of the Cloud Tasks emulator: PyPI ``gcloud-tasks-emulator`` 0.6.2, patched.

Runs with the interpreter of the emulator's own virtual environment (``.venv-tasks``, which
holds protobuf < 5), never inside the project venv, so it imports nothing from this repo.
0.6.2 already dispatches HTTP-target tasks to any URL (``http_request.url``) with the
``X-CloudTasks-*`` headers; four small patches make it behave like Cloud Tasks where our
code depends on it (docs/decisions/0042-cloud-tasks-emulator.md):

1. Named tasks are deduplicated: creating a task whose name exists, or existed earlier in
   this emulator's life, fails with ALREADY_EXISTS (0.6.2 silently queues a second copy).
2. A failed dispatch (4xx/5xx or connection error) is retried after an exponential backoff
   (``--min-backoff`` doubling up to ``--max-backoff``) instead of every 100 ms.
3. A dispatch gives up after ``--dispatch-deadline`` seconds (0.6.2 waits forever, so one
   hung worker stalls the queue).
4. The gRPC API listens on 127.0.0.1 only (0.6.2 binds every interface).

Usage: python tasks_emulator_main.py [--min-backoff S] [--max-backoff S]
       [--dispatch-deadline S] start --port P --default-queue projects/.../queues/Q [-r N]
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any


def _patch(min_backoff: float, max_backoff: float) -> None:
    import grpc
    from gcloud_tasks_emulator import server
    from google.api_core.exceptions import AlreadyExists

    original_create = server.QueueState.create_task
    original_submit = server.QueueState.submit_task

    def create_task(self: Any, queue: str, task: Any) -> Any:
        seen: set[str] = self.__dict__.setdefault("_ki_task_names", set())
        if task.name and task.name in seen:
            raise AlreadyExists(f"Requested entity already exists: {task.name}")
        created = original_create(self, queue, task)
        seen.add(created.name)
        return created

    def submit_task(self: Any, task_name: str, force_run: bool = False) -> Any:
        task = original_submit(self, task_name, force_run)
        now = datetime.now(UTC)
        attempt = task.last_attempt
        just_failed = (
            attempt is not None
            and attempt.response_status.code >= 400
            and (task.schedule_time is None or task.schedule_time <= now)
        )
        if just_failed:
            doublings = max(task.dispatch_count - 1, 0)
            delay = min(min_backoff * (2**doublings), max_backoff)
            task.schedule_time = now + timedelta(seconds=delay)
        return task

    def api_run(self: Any) -> None:
        self._httpd = grpc.server(server.futures.ThreadPoolExecutor(max_workers=4))
        server.add_CloudTasksServicer_to_server(server.Greeter(self._state), self._httpd)
        interface = f"127.0.0.1:{self._port}"
        self._httpd.add_insecure_port(interface)
        server.logger.info("[API] Starting API server at %s", interface)
        self._httpd.start()
        self._is_running.set()
        while self._is_running.is_set():
            time.sleep(server._LOOP_SLEEP_TIME)

    class _QuietPolling(logging.Filter):
        """Drop the two lines 0.6.2 logs for every queued task every 100 ms."""

        def filter(self, record: logging.LogRecord) -> bool:
            message = str(record.msg)
            return "Processing next task" not in message and "scheduled for future" not in message

    server.logger.addFilter(_QuietPolling())
    server.QueueState.create_task = create_task
    server.QueueState.submit_task = submit_task
    server.APIThread.run = api_run


def main() -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--min-backoff", type=float, default=1.0)
    parser.add_argument("--max-backoff", type=float, default=10.0)
    parser.add_argument("--dispatch-deadline", type=float, default=600.0)
    ours, rest = parser.parse_known_args()
    # Dispatch uses urllib without a timeout; the default socket timeout bounds it.
    socket.setdefaulttimeout(ours.dispatch_deadline)
    _patch(ours.min_backoff, ours.max_backoff)
    from gcloud_tasks_emulator.__main__ import main as emulator_main

    sys.argv = [sys.argv[0], *rest]
    emulator_main()


if __name__ == "__main__":
    main()
