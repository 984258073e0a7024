"""The real (patched) Cloud Tasks emulator dispatching to a local HTTP server."""

import http.server
import json
import threading
import time
import uuid

import pytest
from google.api_core.exceptions import AlreadyExists

from shared.messaging.tasks import TaskQueue, verify_task_request

pytestmark = pytest.mark.integration


class Receiver:
    """A loopback HTTP server recording every request; answers the scripted statuses."""

    def __init__(self, statuses=()):
        self.requests = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_port}"

    def wait_for(self, count, timeout):
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.requests) >= count, f"got {len(self.requests)} of {count} requests"
        return self.requests

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _wait_until_gone(queue, names, timeout):
    """Poll the emulator's queue until none of ``names`` is listed (delivered and done)."""
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        listed = {task.name for task in queue.client.list_tasks(parent=queue.queue_path)}
        pending &= listed
        if pending:
            time.sleep(0.05)
    assert not pending, f"still queued after {timeout}s: {sorted(pending)}"


def test_task_is_dispatched_with_queue_headers_and_passes_the_receiver_check(tasks_emulator):
    queue = TaskQueue(tasks_emulator.queue_path)  # emulator host from the environment
    task_id = f"run-{uuid.uuid4().hex}"
    with Receiver() as receiver:
        name = queue.enqueue_http(
            f"{receiver.url}/worker",
            {"run_id": task_id},
            task_id=task_id,
            oidc_service_account=None,
            audience=None,
        )
        assert name == f"{tasks_emulator.queue_path}/tasks/{task_id}"
        ((path, headers, body),) = receiver.wait_for(1, timeout=20)
    assert path == "/worker"
    assert json.loads(body) == {"run_id": task_id}
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Cloudtasks-Taskname"] == task_id
    assert headers["X-Cloudtasks-Taskretrycount"] == "0"
    assert "Authorization" not in headers  # the emulator mints no OIDC token
    assert verify_task_request(
        headers, expected_queue=tasks_emulator.queue_path, audience=None, mode="emulator"
    )


def test_duplicate_task_id_is_deduplicated(tasks_emulator):
    queue = TaskQueue(tasks_emulator.queue_path, emulator_host=tasks_emulator.host)
    task_id = f"dup-{uuid.uuid4().hex}"
    with Receiver() as receiver:
        first = queue.enqueue_http(
            receiver.url, {"n": 1}, task_id=task_id, oidc_service_account=None, audience=None
        )
        receiver.wait_for(1, timeout=20)
        # Both while the first is known and after it ran, the same id is not queued again.
        second = queue.enqueue_http(
            receiver.url, {"n": 2}, task_id=task_id, oidc_service_account=None, audience=None
        )
        other = queue.enqueue_http(
            receiver.url,
            {"n": 3},
            task_id=f"{task_id}-b",
            oidc_service_account=None,
            audience=None,
        )
        receiver.wait_for(2, timeout=20)
        # The proof that the duplicate is never delivered: the emulator refuses to create
        # it at all (a task that does not exist cannot arrive later), and both real tasks
        # have left the queue (delivered and acknowledged), so nothing else is pending.
        with pytest.raises(AlreadyExists):
            queue.client.create_task(
                parent=queue.queue_path,
                task=queue.build_http_task(
                    receiver.url, {"n": 4}, task_id=task_id, oidc_service_account=None
                ),
            )
        _wait_until_gone(queue, (first, other), timeout=20)
    assert first == second != other
    assert sorted(json.loads(body)["n"] for _, _, body in receiver.requests) == [1, 3]


def test_failed_dispatch_is_retried_with_backoff(tasks_emulator):
    queue = TaskQueue(tasks_emulator.queue_path)
    with Receiver(statuses=[503, 500]) as receiver:
        name = queue.enqueue_http(
            receiver.url,
            {},
            task_id=f"retry-{uuid.uuid4().hex}",
            oidc_service_account=None,
            audience=None,
        )
        started = time.monotonic()
        requests = receiver.wait_for(3, timeout=30)
        elapsed = time.monotonic() - started
        # The third attempt was answered 200: once the task has left the queue it is done
        # for good (the emulator only puts failed tasks back), so nothing more can arrive.
        _wait_until_gone(queue, (name,), timeout=20)
    assert len(receiver.requests) == 3  # the third attempt succeeded; nothing more
    assert [h["X-Cloudtasks-Taskretrycount"] for _, h, _ in requests] == ["0", "1", "2"]
    # Backoff 1 s then 2 s (not 0.6.2's 100 ms hammering).
    assert elapsed >= 2.5
