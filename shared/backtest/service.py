"""Backtest use cases for the HTTP API, the Cloud Tasks worker and the CLI.

* :func:`parse_request` checks a request body without touching the database.
* :meth:`BacktestService.submit` checks it against the stored data (markets resolve, the
  range overlaps snapshots, size limits), stores the run as ``queued`` and hands it to a
  :class:`TaskDispatcher` (Cloud Tasks in the cloud and locally; none in the CLI).
* :meth:`BacktestService.execute` is the worker: idempotent (a completed run is left alone,
  a retried attempt replaces the previous attempt's results in one transaction), records
  progress, and announces progress/completed/failed on ``backtest-events``.

The database work of each use case is one or more :class:`~shared.backtest.runs.Runs`
transactions; this module parses, checks sizes, orchestrates and renders.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar

from shared.api.cursor import decode_cursor, encode_cursor
from shared.api.errors import INVALID_CURSOR_MESSAGE, ApiError
from shared.backtest.coverage import HistoryContext, fill_from_history, read_history_context
from shared.backtest.engine import EngineConfig
from shared.backtest.errors import (
    BacktestError,
    BacktestNotFound,
    InvalidBacktestRequest,
)
from shared.backtest.loader import (
    MarketFilter,
    estimate_snapshots,
    load_snapshots,
    resolve_markets,
)
from shared.backtest.metrics import RANKABLE
from shared.backtest.runs import Claim, RunOwner, Runs, StoreOutcome
from shared.backtest.settings import HEARTBEAT_S, STALE_AFTER_S, WorkerSettings
from shared.backtest.strategies import available, get
from shared.backtest.sweep import DEFAULT_RANK_BY, expand_grid, run_sweep
from shared.db.engine import Database
from shared.domain.fees import FeeModel
from shared.domain.timebounds import TimeOutOfRange, to_bounded_utc
from shared.domain.units import PRICE_SCALE, dollars_to_micros
from shared.history.stores import open_archive

__all__ = [
    "MAX_MARKETS",
    "MAX_SPAN",
    "BacktestRequest",
    "BacktestService",
    "EventSink",
    "ExecuteOutcome",
    "TaskDispatcher",
    "bounded_decimal",
    "parse_request",
]

logger = logging.getLogger(__name__)

MAX_SPAN = timedelta(days=366)
"""Longest start-to-end window of one run: checked before the database is touched."""
MAX_MARKETS = 2_000
"""Most markets one run may cover: checked right after the filter resolves, before any
snapshot (or rollup) is read."""
MAX_DECIMAL_DIGITS = 12
MIN_DECIMAL_EXPONENT = -8
MAX_DECIMAL_EXPONENT = 9
MAX_WORK = 200_000_000
"""Snapshots x variants one run may compute."""
MAX_TRADES_PAGE = 1_000
QUOTA_WINDOW = timedelta(hours=24)
"""The window of the anonymous quota: runs one client address may create per day."""
_FIELDS = {
    "strategy",
    "params",
    "markets",
    "start",
    "end",
    "grid",
    "rank_by",
    "fees",
    "slippage",
    "capital",
}


@dataclass(frozen=True)
class BacktestRequest:
    strategy: str
    params: dict[str, Any]
    grid: dict[str, list[Any]] | None
    variants: list[dict[str, Any]]
    markets: MarketFilter
    start: datetime
    end: datetime
    rank_by: str
    config: EngineConfig = field(default_factory=EngineConfig)

    def to_json(self) -> dict[str, Any]:
        """The request as stored with its run, for :meth:`from_json` in the worker.

        ``variants`` is left out: it is derived from ``params`` and ``grid``, and a stored
        copy could only disagree with them.
        """
        return {
            "strategy": self.strategy,
            "params": dict(self.params),
            "grid": None if self.grid is None else {k: list(v) for k, v in self.grid.items()},
            "markets": self.markets.to_json(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rank_by": self.rank_by,
            "config": self.config.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BacktestRequest:
        """Rebuild a request :meth:`to_json` wrote (so :func:`parse_request` accepted it
        once already): no limits are checked again, but the strategy must still exist and
        take these parameters, since strategies change between submit and run."""
        strategy = get(data["strategy"])
        params = dict(data.get("params") or {})
        grid = data.get("grid")
        return cls(
            strategy=data["strategy"],
            params=params,
            grid=None if grid is None else {k: list(v) for k, v in grid.items()},
            variants=expand_grid(strategy, params, grid),
            markets=MarketFilter.from_json(data.get("markets")),
            start=datetime.fromisoformat(data["start"]),
            end=datetime.fromisoformat(data["end"]),
            rank_by=data.get("rank_by") or DEFAULT_RANK_BY,
            config=EngineConfig.from_json(data.get("config")),
        )


def _parse_time(body: Mapping[str, Any], key: str) -> datetime:
    """``body[key]`` as an aware UTC instant inside the accepted range (naive means UTC).

    Converted and bounded here, before any arithmetic or SQL: year 1 with a positive offset
    overflows during the conversion, and year 9999 poisons a pooled database connection.
    """
    value = body.get(key)
    if not isinstance(value, str):
        raise InvalidBacktestRequest(f"{key} must be an ISO 8601 date-time string")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidBacktestRequest(
            f"{key} must be an ISO 8601 time (e.g. 2026-06-11T05:00:00Z), not {value[:40]!r}"
        ) from None
    try:
        return to_bounded_utc(moment)
    except TimeOutOfRange as exc:
        raise InvalidBacktestRequest(f"{key} {exc}", code="invalid_range") from None


def bounded_decimal(value: Any, key: str) -> Decimal:
    """A caller's decimal (string or JSON number) with bounded precision, or a 400 naming
    ``key``.

    Decimal arithmetic costs time in the number of digits and the spread of exponents, so
    an unbounded ``"1e-1000000"`` or a thousand-digit string turns one fee calculation into
    seconds of CPU (or an overflow) in the worker. Every amount a backtest takes (prices,
    rates, quanta, capital) needs at most :data:`MAX_DECIMAL_DIGITS` significant digits and
    a magnitude between 10^:data:`MIN_DECIMAL_EXPONENT` and 10^:data:`MAX_DECIMAL_EXPONENT`.
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidBacktestRequest(f"{key} must be a decimal string")
    text = str(value).strip()
    if len(text) > 40:
        raise InvalidBacktestRequest(f"{key} has too many characters (at most 40)")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidBacktestRequest(f"{key} is not a decimal number") from None
    if not amount.is_finite():
        raise InvalidBacktestRequest(f"{key} must be a finite number")
    if amount.is_zero():
        return amount
    digits = len(amount.normalize().as_tuple().digits)
    if digits > MAX_DECIMAL_DIGITS:
        raise InvalidBacktestRequest(
            f"{key} has {digits} significant digits; at most {MAX_DECIMAL_DIGITS}"
        )
    if not MIN_DECIMAL_EXPONENT <= amount.adjusted() <= MAX_DECIMAL_EXPONENT:
        raise InvalidBacktestRequest(
            f"{key} must be 0 or between 1e{MIN_DECIMAL_EXPONENT} and "
            f"1e{MAX_DECIMAL_EXPONENT + 1} in magnitude"
        )
    return amount


def _check_fee_precision(fees: Any) -> None:
    """Every decimal in a ``fees`` object passes :func:`bounded_decimal` (400 naming the
    field, code ``invalid_fees``); the shape itself is checked by ``FeeModel.from_json``."""
    if not isinstance(fees, Mapping):
        return
    schedules: list[tuple[str, Mapping[str, Any]]] = [("fees", fees)]
    series = fees.get("series")
    if isinstance(series, Mapping):
        schedules += [
            (f"fees.series.{str(k)[:64]}", v) for k, v in series.items() if isinstance(v, Mapping)
        ]
    for where, schedule in schedules:
        for key in ("taker_rate", "maker_rate", "quantum"):
            raw = schedule.get(key)
            if raw is None:
                continue
            try:
                bounded_decimal(raw, f"{where}.{key}")
            except InvalidBacktestRequest as exc:
                raise InvalidBacktestRequest(str(exc), code="invalid_fees") from None


def _parse_dollars(value: Any, key: str, *, low: Decimal, high: Decimal) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidBacktestRequest(f"{key} must be a decimal string of dollars")
    amount = bounded_decimal(value, key)
    if not low <= amount <= high:
        raise InvalidBacktestRequest(f"{key} must be between {low} and {high} dollars")
    return amount


def parse_request(body: Any) -> BacktestRequest:
    """Validate a request body's shape, strategy and parameters (no database access)."""
    if not isinstance(body, Mapping):
        raise InvalidBacktestRequest("the request body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise InvalidBacktestRequest(f"unknown field(s): {', '.join(unknown)}")
    name = body.get("strategy")
    if not isinstance(name, str) or not name:
        raise InvalidBacktestRequest("strategy is required (see GET /api/v1/backtests/strategies)")
    cls = get(name)
    params = body.get("params") or {}
    if not isinstance(params, Mapping):
        raise InvalidBacktestRequest("params must be an object", code="invalid_params")
    grid = body.get("grid")
    if grid is not None and not isinstance(grid, Mapping):
        raise InvalidBacktestRequest("grid must be an object of parameter -> list of values")
    variants = expand_grid(cls, params, grid)
    start, end = _parse_time(body, "start"), _parse_time(body, "end")
    if start >= end:
        raise InvalidBacktestRequest("start must be before end", code="invalid_range")
    if end - start > MAX_SPAN:
        raise InvalidBacktestRequest(
            f"start to end spans {(end - start).days} days; at most {MAX_SPAN.days} per run "
            "(split the range into several runs)",
            code="too_large",
        )
    rank_by = body.get("rank_by") or DEFAULT_RANK_BY
    if rank_by not in RANKABLE:
        raise InvalidBacktestRequest(
            f"rank_by must be one of {', '.join(RANKABLE)}", code="invalid_rank_by"
        )
    _check_fee_precision(body.get("fees"))
    try:
        fees = FeeModel.from_json(body.get("fees"))
    except ValueError as exc:
        raise InvalidBacktestRequest(str(exc), code="invalid_fees") from None
    slippage_ticks = 0
    if body.get("slippage") is not None:
        slippage = _parse_dollars(
            body["slippage"], "slippage", low=Decimal(0), high=Decimal("0.10")
        )
        ticks = slippage * PRICE_SCALE
        if ticks != ticks.to_integral_value():
            raise InvalidBacktestRequest("slippage must be a multiple of $0.0001")
        slippage_ticks = int(ticks)
    capital_micro = None
    if body.get("capital") is not None:
        capital = _parse_dollars(
            body["capital"], "capital", low=Decimal("0.01"), high=Decimal(10) ** 9
        )
        capital_micro = dollars_to_micros(capital)
    return BacktestRequest(
        strategy=name,
        params=dict(params),
        grid=None if grid is None else {k: list(v) for k, v in grid.items()},
        variants=variants,
        markets=MarketFilter.from_json(body.get("markets")),
        start=start,
        end=end,
        rank_by=rank_by,
        config=EngineConfig(fees=fees, slippage_ticks=slippage_ticks, capital_micro=capital_micro),
    )


class TaskDispatcher(Protocol):
    """Hands a queued run to the worker (Cloud Tasks); must be idempotent per run id."""

    def dispatch(self, run_id: uuid.UUID) -> None: ...


class EventSink(Protocol):
    """Publishes a ``backtest-events`` message (type, idempotency key, payload)."""

    def publish(self, event_type: str, key: str, payload: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class ExecuteOutcome:
    status: str  # completed, failed, gone, already_completed, already_failed, already_running
    error: str | None = None
    trades: int = 0


_STOOD_DOWN: dict[str, Callable[[Claim], ExecuteOutcome]] = {
    "gone": lambda claim: ExecuteOutcome("gone"),
    "completed": lambda claim: ExecuteOutcome("already_completed"),
    "failed": lambda claim: ExecuteOutcome("already_failed", claim.error),
    "running": lambda claim: ExecuteOutcome("already_running"),
}
"""What :meth:`BacktestService.execute` answers when its claim found the run taken."""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _trade_json(t: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ticker": t["ticker"],
        "side": t["side"],
        "count_fp": str(t["count_fp"]),
        "entry_ts": _iso(t["entry_ts"]),
        "entry_price_dollars": str(t["entry_price_dollars"]),
        "entry_snapshot_id": t["entry_snapshot_id"],
        "exit_ts": _iso(t["exit_ts"]),
        "exit_price_dollars": (
            None if t["exit_price_dollars"] is None else str(t["exit_price_dollars"])
        ),
        "exit_snapshot_id": t["exit_snapshot_id"],
        "fees_dollars": str(t["fees_dollars"]),
        "pnl_dollars": str(t["pnl_dollars"]),
        "entry_reason": t["entry_reason"],
        "exit_reason": t["exit_reason"],
    }


_T = TypeVar("_T")


def _read_cursor(cursor: str, parse: Callable[[dict[str, Any]], _T]) -> _T:
    """The position in a cursor this service issued, parsed by ``parse``.

    Cursors arrive from query strings, so anything else (not one of ours, tampered, a
    position of the wrong shape) is a 400 ``invalid_cursor``, never an unexpected error.
    """
    try:
        return parse(decode_cursor(cursor))
    except (ApiError, KeyError, TypeError, ValueError, OverflowError):
        raise InvalidBacktestRequest(INVALID_CURSOR_MESSAGE, code="invalid_cursor") from None


class BacktestService:
    """The use cases; one instance per process (holds the database and the adapters)."""

    def __init__(
        self,
        database: Database,
        *,
        dispatcher: TaskDispatcher | None = None,
        events: EventSink | None = None,
        worker: WorkerSettings | None = None,
    ) -> None:
        self.database = database
        self.runs = Runs(database)
        self.dispatcher = dispatcher
        self.events = events
        self.worker = worker or WorkerSettings()
        self.heartbeat_s = HEARTBEAT_S

    # -- catalogue ------------------------------------------------------------------------

    @staticmethod
    def strategies() -> dict[str, Any]:
        return {"strategies": [cls.describe() for cls in available()]}

    # -- submit ---------------------------------------------------------------------------

    def submit(
        self,
        body: Any,
        *,
        owner: RunOwner | None = None,
        address_quota: int | None = None,
    ) -> dict[str, Any]:
        """Validate against stored data, store the run as queued and dispatch it.

        Cheapest checks first: the body (span, decimals) without the database, then the
        anonymous quota (an owner that is a client address may create ``address_quota``
        runs per :data:`QUOTA_WINDOW`), then the market count, then the size estimated
        from the hourly rollups; the snapshots themselves are never read here
        (docs/decisions/0085-backtest-size-limits.md).
        """
        request = parse_request(body)
        if owner is not None and owner.address is not None and address_quota is not None:
            with self.runs.transaction() as tx:
                recent = tx.count_since(owner, datetime.now(UTC) - QUOTA_WINDOW)
            if recent >= address_quota:
                raise InvalidBacktestRequest(
                    f"anonymous submissions are limited to {address_quota} runs a day per "
                    "client address; sign in to submit more",
                    code="quota_exceeded",
                )
        self.reap()
        with self.runs.connection() as raw:
            markets = resolve_markets(raw.cursor(), request.markets)
            raw.rollback()
            if not markets:
                raise InvalidBacktestRequest(
                    "the market filter matches no stored market", code="no_markets"
                )
            if len(markets) > MAX_MARKETS:
                raise InvalidBacktestRequest(
                    f"the market filter matches {len(markets):,} markets; at most "
                    f"{MAX_MARKETS:,} per run (narrow it by series, event or tickers)",
                    code="too_large",
                )
            tickers = [m.ticker for m in markets]
            window = estimate_snapshots(raw, tickers, request.start, request.end)
            if window.snapshots == 0:
                stored = estimate_snapshots(raw, tickers)
                where = (
                    f"stored snapshots of these markets span {_iso(stored.first)} to "
                    f"{_iso(stored.last)}"
                    if stored.snapshots
                    else "these markets have no stored snapshots"
                )
                raise InvalidBacktestRequest(
                    f"no snapshots between start and end: {where}", code="no_data"
                )
        cap = self.worker.max_snapshots
        if window.snapshots > cap:
            raise InvalidBacktestRequest(
                f"the request covers about {window.snapshots:,} snapshots; at most "
                f"{cap:,} fit in one run (narrow the markets or the range)",
                code="too_large",
            )
        if window.snapshots * len(request.variants) > MAX_WORK:
            raise InvalidBacktestRequest(
                f"about {window.snapshots:,} snapshots x {len(request.variants)} variants is "
                f"more than {MAX_WORK:,}; use a smaller grid or range",
                code="too_large",
            )
        run_id = self.create_run(request, owner=owner, snapshots=window.snapshots)
        if self.dispatcher is not None:
            try:
                self.dispatcher.dispatch(run_id)
            except Exception as exc:
                logger.exception("could not enqueue backtest %s", run_id)
                with self.runs.transaction() as tx:
                    tx.fail(run_id, "could not be queued; submit it again")
                raise QueueUnavailable("the backtest queue is unavailable; try again") from exc
        return {"id": str(run_id), "status": "queued"}

    def reap(self) -> list[uuid.UUID]:
        """Fail the runs no attempt can finish any more (see :meth:`RunTransaction.reap`).

        Runs on every submit and list (the API's writes and the reads users poll): the
        worker only runs when the queue calls it, and a run whose deliveries are used up
        would otherwise say ``running`` forever. Best effort: a failure here is logged and
        never fails the request that triggered it.
        """
        try:
            with self.runs.transaction() as tx:
                reaped = tx.reap(
                    older_than_s=self.worker.reap_after_s,
                    stale_after_s=STALE_AFTER_S,
                    message=(
                        f"internal: the run did not finish within {self.worker.max_attempts} "
                        f"attempts of {self.worker.timeout_s} s; submit it again"
                    ),
                )
        except Exception:
            logger.warning("could not reap stuck backtests", exc_info=True)
            return []
        for run_id in reaped:
            logger.warning("backtest %s was stuck in running; marked failed", run_id)
            self._announce_failure(
                run_id, {"run_id": str(run_id)}, "internal", "the run did not finish"
            )
        return reaped

    def create_run(
        self, request: BacktestRequest, *, owner: RunOwner | None = None, snapshots: int = 0
    ) -> uuid.UUID:
        cls = get(request.strategy)
        run_id = uuid.uuid4()
        with self.runs.transaction() as tx:
            tx.create(
                run_id,
                request={**request.to_json(), "strategy": cls.name},
                strategy_version=cls.version,
                params=request.variants[0] if request.grid is None else request.params,
                variants=len(request.variants),
                owner=owner,
                snapshots=snapshots,
            )
        return run_id

    # -- read / delete --------------------------------------------------------------------

    def list_runs(
        self, *, limit: int = 20, cursor: str | None = None, owner: RunOwner | None = None
    ) -> dict[str, Any]:
        """A page of runs, newest first: ``owner``'s only (the API always passes one;
        ``None`` is every run, for the command line and tests)."""
        limit = max(1, min(int(limit), 100))
        self.reap()
        before = None
        if cursor:
            before = _read_cursor(
                cursor, lambda p: (datetime.fromisoformat(p["created_at"]), uuid.UUID(p["id"]))
            )
        with self.runs.transaction() as tx:
            runs = tx.page(limit=limit + 1, owner=owner, before=before)
        more = len(runs) > limit
        runs = runs[:limit]
        return {
            "items": [self._summary(run) for run in runs],
            "next_cursor": (
                encode_cursor(
                    {"created_at": runs[-1]["created_at"].isoformat(), "id": str(runs[-1]["id"])}
                )
                if more
                else None
            ),
        }

    @staticmethod
    def _summary(run: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": str(run["id"]),
            "status": run["status"],
            "strategy": run["strategy"],
            "strategy_version": run["strategy_version"],
            "params": run["params"],
            "grid": run["grid"],
            "markets": run["market_filter"],
            "start": _iso(run["start_ts"]),
            "end": _iso(run["end_ts"]),
            "progress": run["progress"],
            "created_at": _iso(run["created_at"]),
            "finished_at": _iso(run["finished_at"]),
            "total_pnl_dollars": (run["metrics"] or {}).get("total_pnl_dollars"),
        }

    def get_run(
        self,
        run_id: uuid.UUID,
        *,
        variant: int | None = None,
        trades_limit: int = 500,
        trades_cursor: str | None = None,
        owner: RunOwner | None = None,
    ) -> dict[str, Any]:
        """One run with a page of trades; another owner's run is :class:`BacktestNotFound`,
        exactly like a run that does not exist."""
        trades_limit = max(0, min(int(trades_limit), MAX_TRADES_PAGE))
        with self.runs.transaction() as tx:
            run = tx.get(run_id, owner)
            if run is None:
                raise BacktestNotFound(f"no backtest {run_id}")
            after = None
            if trades_cursor:
                after = _read_cursor(trades_cursor, lambda p: int(p["after"]))
            variants = tx.variants(run_id)
            best = variants[0]["variant"] if variants else 0
            chosen = best if variant is None else int(variant)
            rows = tx.trades(run_id, chosen, limit=trades_limit + 1, after=after)
        more = len(rows) > trades_limit
        rows = rows[:trades_limit]
        detail = run["detail"] or {}
        out = self._summary(run)
        out.update(
            {
                "stage": detail.get("stage"),
                "attempts": detail.get("attempts"),
                "rank_by": detail.get("rank_by"),
                "config": detail.get("config"),
                "snapshots": detail.get("snapshots"),
                "data": detail.get("data_report"),
                "started_at": _iso(run["started_at"]),
                "metrics": run["metrics"],
                "equity_curve": run["equity_curve"],
                "error": run["error"],
                "variants": [
                    {k: v[k] for k in ("variant", "rank", "params", "metrics")} for v in variants
                ],
                "trades_variant": chosen,
                "trades": [_trade_json(t) for t in rows],
                "trades_next_cursor": (
                    encode_cursor({"after": rows[-1]["id"]}) if more and rows else None
                ),
            }
        )
        if variant is not None:
            for v in variants:
                if v["variant"] == chosen:
                    out["equity_curve"] = v["equity_curve"]
        return out

    def delete_run(self, run_id: uuid.UUID, *, owner: RunOwner | None = None) -> None:
        with self.runs.transaction() as tx:
            if not tx.delete(run_id, owner):
                raise BacktestNotFound(f"no backtest {run_id}")

    # -- worker ---------------------------------------------------------------------------

    def _publish(self, event_type: str, key: str, payload: Mapping[str, Any]) -> None:
        if self.events is not None:
            self.events.publish(event_type, key, payload)

    def _publish_quietly(self, event_type: str, key: str, payload: Mapping[str, Any]) -> None:
        try:
            self._publish(event_type, key, payload)
        except Exception:  # progress is best effort; the stored progress is the truth
            logger.warning("could not publish %s", event_type, exc_info=True)

    def execute(
        self,
        run_id: uuid.UUID,
        *,
        final_attempt: bool = False,
        on_progress: Callable[[float, str], None] | None = None,
    ) -> ExecuteOutcome:
        """Run a queued backtest to completion (the worker's job); idempotent.

        Every database step goes through :class:`Runs` on DBAPI connections: the claim in a
        transaction of its own, then one connection for the attempt (loading, progress,
        storing the results), then the announcement.
        """
        with self.runs.transaction() as tx:
            claim = tx.claim(run_id, stale_after_s=STALE_AFTER_S)
            if claim.status == "completed" and not claim.announced:
                # Stored, but the completion message may not have gone out: send it (same
                # idempotency key as before, so consumers see it at most once).
                tx.announce(run_id, self._publish_completed)
        if claim.status != "claimed":
            return _STOOD_DOWN[claim.status](claim)
        base_payload = {"run_id": str(run_id), "strategy": claim.request["strategy"]}
        self._progress_event(run_id, base_payload, 0.0, "loading", on_progress)
        beat = _Heartbeat(self.runs, run_id, interval_s=self.heartbeat_s)
        try:
            with self.runs.connection() as raw:
                outcome = self._attempt(
                    raw, run_id, claim.request, base_payload, final_attempt, on_progress
                )
        finally:
            beat.stop()
        if isinstance(outcome, ExecuteOutcome):
            return outcome
        if not outcome.stored:
            return ExecuteOutcome(outcome.reason)
        with self.runs.transaction() as tx:
            if not tx.announce(run_id, self._publish_completed):
                return ExecuteOutcome("gone")
        if on_progress is not None:
            on_progress(1.0, "done")
        return ExecuteOutcome("completed", trades=outcome.trades)

    def _attempt(
        self,
        raw: Any,
        run_id: uuid.UUID,
        stored_request: Mapping[str, Any],
        base_payload: Mapping[str, Any],
        final_attempt: bool,
        on_progress: Callable[[float, str], None] | None,
    ) -> StoreOutcome | ExecuteOutcome:
        """Load, compute and store one claimed run on ``raw``; a failure is recorded (and
        announced) here, or re-raised for the queue to retry when it may be transient."""

        def record(progress: float, stage: str) -> None:
            with self.runs.transaction(raw) as tx:
                tx.record_progress(run_id, progress, stage)

        try:
            request = BacktestRequest.from_json(stored_request)
            markets = resolve_markets(raw.cursor(), request.markets)
            raw.rollback()
            tickers = [m.ticker for m in markets]
            self._check_fits(raw, tickers, request)
            # What the coverage reads besides the backfilled rows (open times, own sources,
            # whether any history lies in the window) is read on a second connection while
            # the loader's COPY keeps this one's server busy, so it adds nothing to the
            # stage (ADR 0240).
            with ThreadPoolExecutor(1, thread_name_prefix="backtest-context") as background:
                context = background.submit(self._history_context, tickers, request)
                data = load_snapshots(
                    raw,
                    markets,
                    request.start,
                    request.end,
                    heartbeat_seconds=self.worker.snapshot_heartbeat_seconds,
                    archive=open_archive(self.worker.archive_url),
                )
                history = context.result()
            # Minutes no snapshot covers replay backfilled candles or trades (ADR 0235); the
            # report of sources and coverage is stored with the result.
            data, data_report = fill_from_history(
                raw, markets, data, request.start, request.end, context=history
            )
            record(0.1, "computing")
            self._progress_event(run_id, base_payload, 0.1, "computing", on_progress)
            last = [0.1]

            def progress(fraction: float) -> None:
                overall = 0.1 + 0.8 * fraction
                if overall - last[0] >= 0.1 or fraction >= 1.0:
                    last[0] = overall
                    record(overall, "computing")
                    self._progress_event(run_id, base_payload, overall, "computing", on_progress)

            sweep = run_sweep(
                data,
                get(request.strategy),
                request.variants,
                request.config,
                rank_by=request.rank_by,
                progress=progress,
            )
            record(0.95, "storing")
            with self.runs.transaction(raw) as tx:
                return tx.complete(
                    run_id,
                    data,
                    sweep.variants,
                    sweep.ranking,
                    data_report=data_report.to_json(),
                )
        except BacktestError as exc:
            message = f"{exc.code}: {exc}"
            with self.runs.transaction(raw) as tx:
                tx.fail(run_id, message)
            self._announce_failure(run_id, base_payload, exc.code, str(exc))
            return ExecuteOutcome("failed", message)
        except Exception as exc:
            if not final_attempt:
                # Transient (database, network): let Cloud Tasks retry, and say this
                # attempt is over so the retry is not taken for a duplicate of it.
                self._release(raw, run_id)
                raise
            message = f"internal: the run failed after its last attempt ({type(exc).__name__})"
            logger.exception("backtest %s failed on its final attempt", run_id)
            with self.runs.transaction(raw) as tx:
                tx.fail(run_id, message)
            self._announce_failure(run_id, base_payload, "internal", message)
            return ExecuteOutcome("failed", message)

    def _publish_completed(self, payload: Mapping[str, Any]) -> None:
        self._publish("backtest.completed", f"backtest:{payload['run_id']}:completed", payload)

    def _history_context(self, tickers: list[str], request: BacktestRequest) -> HistoryContext:
        with self.runs.connection() as raw:
            return read_history_context(raw, tickers, request.start, request.end)

    def _check_fits(self, raw: Any, tickers: list[str], request: BacktestRequest) -> None:
        """Refuse, before loading, a run this worker's memory cannot hold (the data grew
        since it was submitted, or the worker shrank): a clean permanent failure instead of
        an out-of-memory kill on every attempt. One rollup query, as at submit."""
        estimate = estimate_snapshots(raw, tickers, request.start, request.end)
        cap = self.worker.max_snapshots
        if estimate.snapshots > cap:
            raise InvalidBacktestRequest(
                f"the run now covers about {estimate.snapshots:,} snapshots; this worker "
                f"holds at most {cap:,} (submit a narrower run)",
                code="too_large",
            )

    def _release(self, raw: Any, run_id: uuid.UUID) -> None:
        try:
            with self.runs.transaction(raw) as tx:
                tx.release(run_id)
        except Exception:  # the connection may be what failed; the heartbeat then ages out
            logger.warning("backtest %s: could not release the attempt", run_id, exc_info=True)

    def _progress_event(
        self,
        run_id: uuid.UUID,
        base: Mapping[str, Any],
        progress: float,
        stage: str,
        on_progress: Callable[[float, str], None] | None,
    ) -> None:
        if on_progress is not None:
            on_progress(progress, stage)
        percent = round(progress * 100)
        self._publish_quietly(
            "backtest.progress",
            f"backtest:{run_id}:progress:{percent}",
            {**base, "status": "running", "progress": progress, "stage": stage},
        )

    def _announce_failure(
        self, run_id: uuid.UUID, base: Mapping[str, Any], code: str, message: str
    ) -> None:
        self._publish_quietly(
            "backtest.failed",
            f"backtest:{run_id}:failed",
            {**base, "status": "failed", "error": {"code": code, "message": message}},
        )


class _Heartbeat:
    """Touches a running run every ``interval_s`` from a daemon thread, on a connection of
    its own (the attempt's connection is busy in long COPYs and the engine holds the GIL
    only between numpy calls, so a thread keeps beating through both)."""

    def __init__(self, runs: Runs, run_id: uuid.UUID, *, interval_s: float) -> None:
        self._runs = runs
        self._run_id = run_id
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"backtest-heartbeat-{run_id}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            try:
                with self._runs.transaction() as tx:
                    alive = tx.heartbeat(self._run_id)
            except Exception:  # a missed beat only risks a duplicate attempt, never a result
                logger.warning("backtest %s: heartbeat failed", self._run_id, exc_info=True)
                continue
            if not alive:
                return

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=10)


class QueueUnavailable(BacktestError):
    code = "queue_unavailable"
