"""The ``backtest_worker`` HTTP endpoint: one queued backtest per Cloud Task.

``functions/backtest_worker/main.py`` only builds the service lazily and hands each
request to :meth:`WorkerApi.handle`. Only the queue may call it (OIDC token + queue header
in the cloud, the queue header on the local stack, ``APP_ENVIRONMENT=local``). Answers 2xx
when the task is done for good (completed, failed for a reason a retry cannot fix, the run
was deleted, or another attempt is alive on it) and 5xx to make Cloud Tasks retry.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from shared.api.http import dumps
from shared.backtest.service import BacktestService
from shared.backtest.settings import BacktestSettings
from shared.messaging.tasks import TaskAuth

__all__ = ["WorkerApi"]

# The logger the function used before its request handling moved here.
log = logging.getLogger("functions.backtest_worker")

Answer = tuple[bytes, int, dict[str, str]]


def _answer(status: int, body: dict[str, Any]) -> Answer:
    return dumps(body), status, {"Content-Type": "application/json"}


def _retry_count(header: str | None) -> int:
    """Earlier attempts of this task; a missing or garbled header counts as none, so a bad
    header costs at most extra retries, never a 500 that skips the final-attempt handling."""
    try:
        return max(0, int(header or 0))
    except ValueError:
        return 0


class WorkerApi:
    """Checks the caller, parses the task, runs it with the service, answers the queue."""

    def __init__(
        self,
        service: Callable[[], BacktestService],
        settings: BacktestSettings,
        auth: TaskAuth,
    ) -> None:
        self._service = service
        self._settings = settings
        self._auth = auth

    def handle(self, request: Any) -> Answer:
        if request.method != "POST":
            return _answer(405, {"error": "method_not_allowed", "message": "use POST"})
        if not self._auth.admits(request.headers, self._settings.queue):
            return _answer(
                403, {"error": "forbidden", "message": "only the task queue may call this"}
            )
        try:
            body = json.loads(request.get_data(cache=False) or b"null")
            run_id = uuid.UUID(str(body["run_id"]))
        except (ValueError, KeyError, TypeError):
            # A malformed task can never succeed. 400, not a 200 that would report it done:
            # the queue retries it a bounded number of times (each a parse, no database
            # work) and then shows it failed (ADR 0233, as the backfill's receiver does).
            return _answer(
                400,
                {"error": "bad_request", "message": 'the task body must be {"run_id": "<uuid>"}'},
            )
        retries = _retry_count(request.headers.get("X-CloudTasks-TaskRetryCount"))
        final = retries + 1 >= self._settings.max_attempts
        try:
            outcome = self._service().execute(run_id, final_attempt=final)
        except Exception as exc:
            log.error("backtest %s attempt %d failed", run_id, retries + 1, exc_info=exc)
            return _answer(503, {"error": "retry", "message": "temporary failure; will retry"})
        return _answer(200, {"run_id": str(run_id), "status": outcome.status})
