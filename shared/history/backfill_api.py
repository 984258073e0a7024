"""The ``backfill`` function: a Cloud Tasks fan-out, one task per series or batch of markets.

``functions/backfill/main.py`` only builds :class:`BackfillService` lazily and hands each
request to :meth:`BackfillApi.handle`. Two kinds of caller:

The queue (as the backtest worker: :meth:`TaskAuth.admits`), with a task body that is one of

- ``{"fan_out": {"since"?, "until"?, "series"?: [...], "settled_only"?}}``: list the series
  (all of Kalshi's when none are named) and enqueue one task per series for the window
  (default: the last ``BACKFILL_DAYS`` days), each named after its series and window, so a
  fan-out delivered twice enqueues nothing new;
- ``{"since", "until", "series": [...]}`` or ``{"since", "until", "markets": [...]}`` (and
  ``"settled_only"``): run :class:`~shared.history.backfill.Backfill` for that batch.

A batch with failed markets answers 503 so the queue retries it: the checkpoints make the
retry resume where the failure was; the last attempt answers 200 with the failures listed.
A body that can never run answers 400 (Cloud Tasks retries any non-2xx up to the queue's
attempts, a few cheap refusals, and the task ends failed where an operator sees it).

Cloud Scheduler, once a day (``POST /_jobs/backfill``, body ``{"day"?: "YYYY-MM-DD",
"series"?: [...]}``, an OIDC token of the scheduler's invoker account, checked here; none
on the local stack): it enqueues one fan-out task named after the day (and the series, when
named; all of Kalshi's otherwise), for the ``BACKFILL_DAYS`` days before that day's UTC
midnight, settled markets only (ADR 0232). The name makes a second trigger
the same day queue nothing; the checkpoints make any repeat that does run cost no history
request.
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
from shared.auth.google_caller import CallerRefused, TokenVerifier, check_google_caller
from shared.db.engine import Database
from shared.history.backfill import Backfill, BackfillReport, BackfillRequest, limiter_for
from shared.history.backfill_kalshi import KalshiHistory, read_budget
from shared.history.backfill_settings import BackfillSettings
from shared.messaging.tasks import TaskAuth

__all__ = ["JOB_PATH", "BackfillApi", "BackfillService", "daily_window", "service_from_settings"]

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


def _flag(value: object) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError("settled_only must be true or false")
    return value


def daily_window(day: dt.date, days: int) -> tuple[dt.datetime, dt.datetime]:
    """The scheduled fan-out's window for ``day``: the ``days`` days before its UTC midnight.

    Whole UTC days, so every trigger of one day names the same window (and the same tasks).
    """
    until = dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)
    return until - dt.timedelta(days=days), until


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

    def fan_out(
        self,
        since: dt.datetime,
        until: dt.datetime,
        series: Sequence[str],
        *,
        settled_only: bool = False,
    ) -> list[str]:
        """One task per series for ``[since, until]``; returns the task names."""
        if self._enqueue is None:
            raise RuntimeError("fan-out needs BACKFILL_QUEUE and BACKFILL_URL")
        names = list(series) or self.history.series_tickers()
        window = f"{since:%Y%m%d%H%M}-{until:%Y%m%d%H%M}" + ("-settled" if settled_only else "")
        tasks = []
        for s in names:
            digest = hashlib.sha256(s.encode()).hexdigest()[:12]  # task ids: [A-Za-z0-9_-]
            body: dict[str, Any] = {
                "since": since.isoformat(),
                "until": until.isoformat(),
                "series": [s],
            }
            if settled_only:
                body["settled_only"] = True
            tasks.append(self._enqueue(body, f"backfill-{window}-{digest}"))
        return tasks

    def schedule(self, day: dt.date, series: Sequence[str] = ()) -> str:
        """The daily job: one fan-out task named after ``day`` (see :func:`daily_window`)
        and, when the job names its series, after them too."""
        if self._enqueue is None:
            raise RuntimeError("the daily job needs BACKFILL_QUEUE and BACKFILL_URL")
        since, until = daily_window(day, self.settings.days)
        fan: dict[str, Any] = {
            "since": since.isoformat(),
            "until": until.isoformat(),
            "settled_only": True,
        }
        task_id = f"backfill-daily-{day:%Y%m%d}"
        if series:
            fan["series"] = sorted(set(series))
            task_id += "-" + hashlib.sha256(",".join(fan["series"]).encode()).hexdigest()[:12]
        return self._enqueue({"fan_out": fan}, task_id)


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


JOB_PATH = "/_jobs/backfill"
"""Where Cloud Scheduler (and the local stack's ``DailyJob``) triggers the daily fan-out."""


class BackfillApi:
    """Checks the caller, parses the task or the job, runs it, answers."""

    def __init__(
        self,
        service: Callable[[], BackfillService],
        settings: BackfillSettings,
        auth: TaskAuth,
        *,
        verifier: TokenVerifier | None = None,
        today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date(),
    ) -> None:
        self._service = service
        self._settings = settings
        self._auth = auth
        self._verify = verifier
        self._today = today

    def handle(self, request: Any) -> Answer:
        if request.method != "POST":
            return _answer(405, {"error": "method_not_allowed", "message": "use POST"})
        if str(getattr(request, "path", "/")).rstrip("/") == JOB_PATH:
            return self._job(request)
        return self._task(request)

    # ------------------------------------------------------------------ the daily job

    def _scheduler_refusal(self, headers: Mapping[str, str]) -> str | None:
        """Why the request is not Cloud Scheduler's (None: it is). Fails closed in the
        cloud: without an audience and an invoker every call is refused."""
        if self._settings.local:
            return None
        try:
            check_google_caller(
                headers,
                audience=self._settings.job_audience,
                invoker=self._settings.job_invoker,
                verifier=self._verify,
            )
        except CallerRefused as refused:
            return f"the job endpoint refused the call: {refused}"
        return None

    def _job(self, request: Any) -> Answer:
        refusal = self._scheduler_refusal(request.headers)
        if refusal is not None:
            return _answer(403, {"error": "forbidden", "message": refusal})
        today = self._today()
        try:
            body = json.loads(request.get_data(cache=False) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the job body must be a JSON object")
            raw = body.get("day")
            if raw is None:
                day = today
            elif isinstance(raw, str):
                day = dt.date.fromisoformat(raw)
            else:
                raise ValueError("day must be an ISO date (YYYY-MM-DD)")
            if day > today + dt.timedelta(days=1):
                raise ValueError("day must not be in the future")
            series = _names(body.get("series"))
        except (ValueError, TypeError) as exc:
            return _answer(400, {"error": "bad_request", "message": str(exc)})
        since, until = daily_window(day, self._settings.days)
        try:
            task = self._service().schedule(day, series)
        except Exception as exc:
            log.error("backfill daily job for %s failed", day, exc_info=exc)
            return _answer(503, {"error": "unavailable", "message": "could not queue the job"})
        return _answer(
            200,
            {
                "status": "queued",
                "day": day.isoformat(),
                "since": since.isoformat(),
                "until": until.isoformat(),
                "task": task.rsplit("/", 1)[-1],
            },
        )

    # ------------------------------------------------------------------ queue tasks

    def _task(self, request: Any) -> Answer:
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
            if fan is not None and not isinstance(fan, dict):
                raise ValueError("fan_out must be a JSON object")
            spec = fan if fan is not None else body
            until = _instant(spec.get("until"), now)
            since = _instant(spec.get("since"), until - dt.timedelta(days=self._settings.days))
            series = _names(spec.get("series"))
            markets = _names(spec.get("markets"))
            settled_only = _flag(spec.get("settled_only"))
            batch = None
            if fan is None:
                if not (series or markets):
                    raise ValueError("a batch names its series or markets")
                batch = BackfillRequest(
                    since=since,
                    until=until,
                    series=series,
                    markets=markets,
                    settled_only=settled_only,
                )
            elif since >= until:
                raise ValueError("since must be before until")
        except (ValueError, TypeError) as exc:
            # A body that can never run: refuse it (the queue's attempts are bounded).
            return _answer(400, {"error": "bad_request", "message": str(exc)})
        retries = _retry_count(request.headers.get("X-CloudTasks-TaskRetryCount"))
        final = retries + 1 >= self._settings.max_attempts
        try:
            if batch is None:
                tasks = self._service().fan_out(since, until, series, settled_only=settled_only)
                return _answer(200, {"status": "fanned_out", "tasks": len(tasks)})
            report = self._service().run_batch(batch)
        except Exception as exc:
            log.error("backfill task attempt %d failed", retries + 1, exc_info=exc)
            return _answer(503, {"error": "retry", "message": "temporary failure; will retry"})
        summary = {
            "status": "done" if not report.failures else "failed",
            "markets_planned": report.markets_planned,
            "markets_done": report.markets_done,
            "markets_skipped": report.markets_skipped,
            "candles": report.candles,
            "trades": report.trades,
            "requests": report.requests,
            "failures": len(report.failures),
        }
        if report.failures and not final:
            return _answer(
                503,
                {"error": "retry", "message": "some markets failed; will retry", "report": summary},
            )
        return _answer(200, summary)


def _retry_count(header: str | None) -> int:
    try:
        return max(0, int(header or 0))
    except ValueError:
        return 0
