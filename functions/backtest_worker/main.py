"""HTTP function ``backtest_worker``: runs one queued backtest per Cloud Task.

Only the queue may call it (OIDC token + queue header in the cloud, the queue header on the
local stack, ``APP_ENVIRONMENT=local``). In the cloud (the default) it refuses to start
without the token's audience and the invoker account. Answers 2xx when the task is done for
good (completed, failed for a reason a retry cannot fix, the run was deleted, or another
attempt is alive on it) and 5xx to make Cloud Tasks retry.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from typing import Any

import functions_framework

from shared.api.http import dumps
from shared.backtest.service import BacktestService
from shared.backtest.settings import WorkerSettings
from shared.logging import configure_logging
from shared.messaging.tasks import Forbidden, TaskAuth, verify_task_request

# At import, before any request: every record is scrubbed, whichever handler writes it.
configure_logging()
logger = logging.getLogger("functions.backtest_worker")
MAX_ATTEMPTS = WorkerSettings.from_env().max_attempts
TASK_AUTH = TaskAuth.from_env(audience_vars=("BACKTEST_WORKER_AUDIENCE", "BACKTEST_WORKER_URL"))
"""Read at import: in cloud mode a missing audience or invoker stops the instance starting."""

_service: BacktestService | None = None
_lock = threading.Lock()


def service() -> BacktestService:
    """Lazy global: no connection at import (cold starts stay short); one per instance."""
    global _service
    with _lock:
        if _service is None:
            from shared.backtest.adapters import service_from_env

            _service = service_from_env(dispatch=False)
        return _service


def _answer(status: int, body: dict[str, Any]) -> tuple[bytes, int, dict[str, str]]:
    return dumps(body), status, {"Content-Type": "application/json"}


def _from_queue(request: Any) -> bool:
    queue = os.environ.get("CLOUD_TASKS_QUEUE", "")
    try:
        return verify_task_request(
            dict(request.headers),
            expected_queue=queue,
            audience=TASK_AUTH.audience,
            mode=TASK_AUTH.mode,
            service_account_email=TASK_AUTH.invoker,
        )
    except Forbidden:
        return False


def _retry_count(header: str | None) -> int:
    """Earlier attempts of this task; a missing or garbled header counts as none, so a bad
    header costs at most extra retries, never a 500 that skips the final-attempt handling."""
    try:
        return max(0, int(header or 0))
    except ValueError:
        return 0


@functions_framework.http
def backtest_worker(request: Any) -> tuple[bytes, int, dict[str, str]]:
    if request.method != "POST":
        return _answer(405, {"error": "method_not_allowed", "message": "use POST"})
    if not os.environ.get("CLOUD_TASKS_QUEUE") or not _from_queue(request):
        return _answer(403, {"error": "forbidden", "message": "only the task queue may call this"})
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
        run_id = uuid.UUID(str(body["run_id"]))
    except (ValueError, KeyError, TypeError):
        # A malformed task can never succeed: acknowledge it so the queue drops it.
        return _answer(200, {"status": "ignored", "reason": "malformed task body"})
    retries = _retry_count(request.headers.get("X-CloudTasks-TaskRetryCount"))
    try:
        outcome = service().execute(run_id, final_attempt=retries + 1 >= MAX_ATTEMPTS)
    except Exception as exc:
        logger.error("backtest %s attempt %d failed", run_id, retries + 1, exc_info=exc)
        return _answer(503, {"error": "retry", "message": "temporary failure; will retry"})
    return _answer(200, {"run_id": str(run_id), "status": outcome.status})
