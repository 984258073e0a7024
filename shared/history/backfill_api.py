"""The ``backfill`` function: a Cloud Tasks fan-out, one task per series or batch of markets.

``functions/backfill/main.py`` only builds :class:`BackfillService` lazily and hands each
request to :meth:`BackfillApi.handle`. Only the queue may call it (as the backtest worker).
A task body is one of:

- ``{"fan_out": {"since"?, "until"?, "series"?: [...]}}``: list the series (all of Kalshi's
  when none are named) and enqueue one task per series for the window (default: the last
  ``BACKFILL_DAYS`` days), each named after its series and window, so a fan-out delivered
  twice enqueues nothing new;
- ``{"since", "until", "series": [...]}`` or ``{"since", "until", "markets": [...]}``: run
  :class:`~shared.history.backfill.Backfill` for that batch.

A batch with failed markets answers 503 so the queue retries it: the checkpoints make the
retry resume where the failure was; the last attempt answers 200 with the failures listed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.api.http import dumps
from shared.db.engine import Database
from shared.history.backfill import Backfill, BackfillReport, BackfillRequest, limiter_for
from shared.history.backfill_kalshi import KalshiHistory, read_budget
from shared.history.backfill_settings import BackfillSettings
from shared.messaging.tasks import TaskAuth

__all__ = ["BackfillApi", "BackfillService", "service_from_settings"]

log = logging.getLogger("functions.backfill")

Answer = tuple[bytes, int, dict[str, str]]


def _answer(status: int, body: Mapping[str, Any]) -> Answer:
    return dumps(dict(body)), status, {"Content-Type": "application/json"}


def _instant(value: object, default: dt.datetime) -> dt.datetime:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ValueError("times must be ISO 8601 strings")
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _names(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("series and markets must be lists of tickers")
    return tuple(value)


class BackfillService:
    """Runs batches and fans out; one per function instance."""

    def __init__(
        self,
        database: Database,
        history_factory: Callable[[], KalshiHistory],
        settings: BackfillSettings,
        enqueue: Callable[[Mapping[str, Any], str], str] | None = None,
    ) -> None:
        self.database = database
        self._history_factory = history_factory
        self._history: KalshiHistory | None = None
        self._lock = threading.Lock()
        self.settings = settings
        self._enqueue = enqueue

    @property
    def history(self) -> KalshiHistory:
        with self._lock:
            if self._history is None:
                self._history = self._history_factory()
            return self._history

    def run_batch(self, request: BackfillRequest) -> BackfillReport:
        backfill = Backfill(self.history, self.database, workers=self.settings.workers)
        return backfill.run(request)

    def fan_out(self, since: dt.datetime, until: dt.datetime, series: Sequence[str]) -> list[str]:
        """One task per series for ``[since, until]``; returns the task names."""
        if self._enqueue is None:
            raise RuntimeError("fan-out needs BACKFILL_QUEUE and BACKFILL_URL")
        names = list(series) or self.history.series_tickers()
        window = f"{since:%Y%m%d%H%M}-{until:%Y%m%d%H%M}"
        tasks = []
        for s in names:
            digest = hashlib.sha256(s.encode()).hexdigest()[:12]  # task ids: [A-Za-z0-9_-]
            body = {"since": since.isoformat(), "until": until.isoformat(), "series": [s]}
            tasks.append(self._enqueue(body, f"backfill-{window}-{digest}"))
        return tasks


def service_from_settings(settings: BackfillSettings) -> BackfillService:
    """The cloud wiring: the process database, Kalshi from the environment (its key, and
    the key's budget times ``budget_share``), the ``backfill`` queue."""
    from shared.db.engine import get_database
    from shared.kalshi.client import KalshiClient, signer_from_env
    from shared.kalshi.environments import environment_from_env

    def history() -> KalshiHistory:
        base = environment_from_env().rest_base_url
        signer = signer_from_env()
        with KalshiClient(base_url=base, signer=signer, rate_limit=False) as probe:
            budget = read_budget(probe, signed=signer is not None)
        limiter = limiter_for(budget, settings.budget_share)
        for _ in range(probe.stats.requests_sent):
            limiter.read.reserve()
        return KalshiHistory(KalshiClient(base_url=base, signer=signer, rate_limiter=limiter))

    enqueue = None
    if settings.queue and settings.url:
        from shared.messaging.tasks import TaskQueue

        queue = TaskQueue(settings.queue)
        url = settings.url

        def enqueue(body: Mapping[str, Any], task_id: str) -> str:
            return queue.enqueue_http(
                url,
                body,
                task_id=task_id,
                oidc_service_account=settings.invoker,
                audience=settings.audience or url,
            )

    return BackfillService(get_database(), history, settings, enqueue)


class BackfillApi:
    """Checks the caller, parses the task, runs it, answers the queue."""

    def __init__(
        self,
        service: Callable[[], BackfillService],
        settings: BackfillSettings,
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
        now = dt.datetime.now(dt.UTC)
        try:
            body = json.loads(request.get_data(cache=False) or b"null")
            if not isinstance(body, dict):
                raise ValueError("the task body must be a JSON object")
            fan = body.get("fan_out")
            spec = fan if isinstance(fan, dict) else body
            until = _instant(spec.get("until"), now)
            since = _instant(spec.get("since"), until - dt.timedelta(days=self._settings.days))
            series = _names(spec.get("series"))
            markets = _names(spec.get("markets"))
            batch = None
            if fan is None:
                if not (series or markets):
                    raise ValueError("a batch names its series or markets")
                batch = BackfillRequest(since=since, until=until, series=series, markets=markets)
            elif since >= until:
                raise ValueError("since must be before until")
        except (ValueError, TypeError) as exc:
            # A malformed task can never succeed: acknowledge it so the queue drops it.
            return _answer(200, {"status": "ignored", "reason": str(exc)})
        retries = _retry_count(request.headers.get("X-CloudTasks-TaskRetryCount"))
        final = retries + 1 >= self._settings.max_attempts
        try:
            if batch is None:
                tasks = self._service().fan_out(since, until, series)
                return _answer(200, {"status": "fanned_out", "tasks": len(tasks)})
            report = self._service().run_batch(batch)
        except Exception as exc:
            log.error("backfill task attempt %d failed", retries + 1, exc_info=exc)
            return _answer(503, {"error": "retry", "message": "temporary failure; will retry"})
        summary = {
            "status": "done" if not report.failures else "failed",
            "markets_done": report.markets_done,
            "markets_skipped": report.markets_skipped,
            "candles": report.candles,
            "trades": report.trades,
            "requests": report.requests,
            "failures": len(report.failures),
        }
        if report.failures and not final:
            return _answer(503, {"error": "retry", "message": "some markets failed; will retry"})
        return _answer(200, summary)


def _retry_count(header: str | None) -> int:
    try:
        return max(0, int(header or 0))
    except ValueError:
        return 0
