"""Backfill: load Kalshi's history of a set of markets into the database.

For each market whose life overlaps the window ``[since, until]`` it stores, in order, the
market's metadata and settlement result (``markets``), Kalshi's candlesticks at 1 day,
1 hour and 1 minute (``market_candles``, source ``kalshi_candles``, through
:func:`shared.history.rollups.upsert_candles`) and the public trade tape
(``market_trades``, source ``trades``), reading older data from ``/historical/*`` past
Kalshi's cutoff (:class:`~shared.history.backfill_kalshi.KalshiHistory`).

- **Resumable**: each step commits with its checkpoint (:mod:`shared.history.backfill_store`);
  a restarted run skips what is recorded and redoes at most the step it was killed in.
- **Idempotent**: a finished market whose checkpoint covers the window costs no request;
  a redone step adds no row (keys on every table).
- **Within the budget**: one :class:`~shared.kalshi.ratelimit.KalshiRateLimiter` shared by
  ``workers`` threads paces every request at the key's Read budget (or Basic), times
  ``budget_share``; the workers keep enough requests in flight to use it (ADR 0179).

The same use case runs on the command line (``kalshi-insights backfill``) and in the cloud
(the ``backfill`` function, one Cloud Task per series or batch of markets).
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from shared.db.engine import Database
from shared.history.backfill_kalshi import (
    CANDLE_PERIODS,
    Budget,
    KalshiHistory,
    MarketInfo,
)
from shared.history.backfill_store import (
    STEPS,
    Checkpoint,
    candle_rows,
    load_checkpoints,
    record_step,
    write_candles,
    write_market,
    write_trades,
)
from shared.history.rollups import CandleRow
from shared.kalshi.ratelimit import KalshiRateLimiter, TokenBucket

__all__ = [
    "Backfill",
    "BackfillProgress",
    "BackfillReport",
    "BackfillRequest",
    "SendTimeBucket",
    "limiter_for",
    "market_window",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackfillRequest:
    """What to load: a window and either series, market tickers, or (neither) everything.

    ``settled_only``: only markets Kalshi has settled (a result). The daily schedule asks
    for this: a settled market's window never grows again, so once loaded its checkpoint
    covers every later day's window and it costs no request; an open market would be
    loaded again every day (its window ends at each run's ``until``), and the poller keeps
    it while it is open. It is loaded, with the days the poller missed, once it settles.
    """

    since: dt.datetime
    until: dt.datetime
    series: tuple[str, ...] = ()
    markets: tuple[str, ...] = ()
    settled_only: bool = False

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("since and until must be timezone-aware")
        if self.since >= self.until:
            raise ValueError("since must be before until")


@dataclass
class BackfillProgress:
    """Steps done out of planned, for a progress bar; ``eta_s`` None until measurable."""

    steps_done: int
    steps_total: int
    markets_done: int
    markets_total: int
    requests: int
    elapsed_s: float

    @property
    def fraction(self) -> float:
        return self.steps_done / self.steps_total if self.steps_total else 1.0

    @property
    def eta_s(self) -> float | None:
        if not self.steps_done or self.steps_done >= self.steps_total:
            return None if self.steps_done < self.steps_total else 0.0
        return self.elapsed_s / self.steps_done * (self.steps_total - self.steps_done)


@dataclass
class BackfillReport:
    markets_planned: int = 0
    markets_skipped: int = 0  # finished before, window covered: no request
    markets_done: int = 0
    steps_done: int = 0
    candles: int = 0
    trades: int = 0
    markets_written: int = 0
    requests: int = 0
    elapsed_s: float = 0.0
    failures: dict[str, str] = field(default_factory=dict)


ProgressCallback = Callable[[BackfillProgress], None]

RATE_MARGIN = 0.98
BURST_MARGIN = 2.0
JITTER_S = 1.0


class SendTimeBucket(TokenBucket):
    """A :class:`TokenBucket` that takes its tokens when the caller wakes up to send.

    The plain bucket reserves a turn and lets the caller sleep until it; a worker thread
    descheduled past its turn on a loaded machine then sends together with the turns after
    it, a burst the server's bucket may not hold (measured: ADR 0222). Here ``reserve``
    sleeps in the calling thread until the bucket holds ``cost`` tokens *now* and takes
    them then, so the moments requests are released obey the bucket however late their
    threads run; it always returns 0 (nothing left to wait). Threads only: the backfill's
    workers use the synchronous client.
    """

    def reserve(self, cost: float = 1.0) -> float:
        if cost <= 0:
            return 0.0
        if cost > self.capacity:
            raise ValueError(f"cost {cost:g} exceeds the bucket capacity {self.capacity:g}")
        while True:
            with self._lock:
                wait = self._take_if_held(cost)
            if wait == 0.0:
                return 0.0
            time.sleep(wait)


def limiter_for(budget: Budget, share: float = 1.0) -> KalshiRateLimiter:
    """Client-side buckets at ``share`` of the budget: the Read bucket refills at the
    budget's requests per second with its burst; writes never happen here."""
    if not 0 < share <= 1:
        raise ValueError("budget share must be in (0, 1]")
    # A little under the line: requests leave here paced but arrive late by however long
    # the thread waited for the CPU and the network took, and a late request can meet the
    # next one at Kalshi's bucket. A burst margin of JITTER_S of requests absorbs delays up
    # to that long (ADR 0179).
    rate = budget.requests_per_s * share * RATE_MARGIN
    margin = max(BURST_MARGIN, rate * JITTER_S)
    burst = max(1.0, budget.burst_requests * share - margin)
    read = SendTimeBucket(rate, burst)
    return KalshiRateLimiter(read, TokenBucket(1.0, 1.0))


def _floor_minute(t: dt.datetime) -> dt.datetime:
    return t.replace(second=0, microsecond=0)


def market_window(
    market: MarketInfo, since: dt.datetime, until: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    """The part of ``[since, until]`` the market was listed in (minute-aligned), if any."""
    start = since if market.open_time is None else max(since, market.open_time)
    end = until if market.close_time is None else min(until, market.close_time)
    start, end = _floor_minute(start), _floor_minute(end)
    if start >= end:
        return None
    return start, end


class Backfill:
    """See the module docstring. ``history`` must use a rate limiter from
    :func:`limiter_for` (shared by every worker)."""

    def __init__(
        self,
        history: KalshiHistory,
        database: Database,
        *,
        workers: int = 4,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.history = history
        self.database = database
        self.workers = workers
        self.on_progress = on_progress
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ plan

    def plan(self, request: BackfillRequest) -> list[MarketInfo]:
        """The markets to work on, each once, in a stable order."""
        found: dict[str, MarketInfo] = {}
        if request.markets:
            for ticker in request.markets:
                found[ticker] = self.history.market(ticker)
        else:
            series = request.series or tuple(self.history.series_tickers())
            for s in series:
                for market in self.history.markets_of_series(s, since=request.since):
                    found.setdefault(market.ticker, market)
        return sorted(
            (
                m
                for m in found.values()
                if market_window(m, request.since, request.until)
                and (m.result is not None or not request.settled_only)
            ),
            key=lambda m: (m.close_time or request.until, m.ticker),
        )

    # ------------------------------------------------------------------ run

    def run(self, request: BackfillRequest) -> BackfillReport:
        started = time.monotonic()
        report = BackfillReport()
        markets = self.plan(request)
        report.markets_planned = len(markets)
        with self.database.engine.connect() as connection:
            checkpoints = load_checkpoints(connection, [m.ticker for m in markets])
        work: list[tuple[MarketInfo, dt.datetime, dt.datetime, frozenset[str], bool]] = []
        for market in markets:
            window = market_window(market, request.since, request.until)
            assert window is not None
            start, end = window
            cp = checkpoints.get(market.ticker)
            if cp is not None and cp.covers(start, end):
                if cp.completed:
                    report.markets_skipped += 1
                    continue
                work.append((market, cp.window_start, cp.window_end, cp.steps, False))
            else:
                work.append((market, start, end, frozenset(), cp is not None))
        total_steps = sum(len(STEPS) - len(done) for _, _, _, done, _ in work)
        state = BackfillProgress(0, total_steps, 0, len(work), 0, 0.0)
        first_requests = self.history.requests

        def tick(steps: int = 0, markets: int = 0) -> None:
            with self._lock:
                state.steps_done += steps
                state.markets_done += markets
                state.requests = self.history.requests - first_requests
                state.elapsed_s = time.monotonic() - started
                snapshot = BackfillProgress(**vars(state))
            if self.on_progress is not None:
                self.on_progress(snapshot)

        tick()
        # Fetchers (``workers`` threads, paced by the shared limiter) hand each finished
        # step to one writer thread, so requests never wait for a database write and the
        # writes (which serialise on the market-data lock anyway) never wait for Kalshi.
        writes: queue.Queue[_Write | None] = queue.Queue(maxsize=self.workers * 8)
        writer = threading.Thread(
            target=self._write_loop, args=(writes, report, tick), name="backfill-writer"
        )
        writer.start()
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="backfill") as pool:
                futures = {
                    pool.submit(self._fetch_market, writes, m, s, e, done, reset): m
                    for m, s, e, done, reset in work
                }
                for future in as_completed(futures):
                    market = futures[future]
                    try:
                        future.result()
                    except Exception as exc:  # one market's failure must not stop the rest
                        log.warning("backfill of %s failed: %s", market.ticker, exc)
                        writes.put(
                            _Write(market, "", None, request.since, request.until, False, repr(exc))
                        )
        finally:
            writes.put(None)
            writer.join()
        report.requests = self.history.requests - first_requests
        report.elapsed_s = time.monotonic() - started
        return report

    # ------------------------------------------------------------------ fetching

    def _fetch_market(
        self,
        writes: queue.Queue[_Write | None],
        market: MarketInfo,
        start: dt.datetime,
        end: dt.datetime,
        done: frozenset[str],
        reset: bool,
    ) -> None:
        """Fetch each unfinished step of one market, in order, and queue its rows."""
        for step in STEPS:
            if step in done:
                continue
            rows: Any
            if step == "market":
                rows = market
            elif step.startswith("candles_"):
                rows = self._candles(market, int(step.split("_")[1]), start, end)
            else:
                rows = [t for page in self.history.trades(market.ticker, start, end) for t in page]
            writes.put(_Write(market, step, rows, start, end, reset))
            reset = False

    def _candles(
        self, market: MarketInfo, period: int, start: dt.datetime, end: dt.datetime
    ) -> list[CandleRow]:
        assert period in CANDLE_PERIODS
        step = dt.timedelta(minutes=period)
        # Candles ending after the window opened, through the one holding its end.
        lo = start + dt.timedelta(seconds=1)
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        hi = epoch + -(-(end - epoch) // step) * step
        rows: list[CandleRow] = []
        volume = Decimal(0)
        for candles in self.history.candles(market, period, lo, hi):
            batch, volume = candle_rows(market.ticker, period, candles, volume)
            rows.extend(batch)
        return rows

    # ------------------------------------------------------------------ writing

    def _write_loop(
        self,
        writes: queue.Queue[_Write | None],
        report: BackfillReport,
        tick: Callable[..., None],
    ) -> None:
        """Commit each step with its checkpoint, in the order the fetchers queued them.

        A market whose fetch or write failed writes nothing more: its checkpoint keeps the
        steps before the failure, so the next run resumes there.
        """
        failed: set[str] = set()
        while True:
            job = writes.get()
            if job is None:
                return
            ticker = job.market.ticker
            if job.error is not None or ticker in failed:
                if ticker not in failed:
                    failed.add(ticker)
                    report.failures[ticker] = job.error or "failed"
                    tick(markets=1)
                continue
            try:
                n = self._write(job)
            except Exception as exc:
                log.warning("backfill write of %s %s failed: %s", ticker, job.step, exc)
                failed.add(ticker)
                report.failures[ticker] = f"{type(exc).__name__}: {exc}"
                tick(markets=1)
                continue
            report.steps_done += 1
            if job.step == "market":
                report.markets_written += n
            elif job.step == "trades":
                report.trades += n
            else:
                report.candles += n
            last = job.step == STEPS[-1]
            if last:
                report.markets_done += 1
            tick(steps=1, markets=1 if last else 0)

    def _write(self, job: _Write) -> int:
        with self.database.engine.begin() as connection:
            if job.step == "market":
                n = write_market(connection, job.rows)
            elif job.step == "trades":
                n = write_trades(connection, job.rows)
            else:
                n = write_candles(connection, job.rows)
            record_step(connection, job.market, job.start, job.end, job.step, n, reset=job.reset)
        return n


@dataclass(frozen=True)
class _Write:
    """One fetched step on its way to the writer (``error``: the market's fetch failed)."""

    market: MarketInfo
    step: str
    rows: Any
    start: dt.datetime
    end: dt.datetime
    reset: bool
    error: str | None = None


def checkpoint_summary(checkpoints: Sequence[Checkpoint]) -> dict[str, int]:
    """Counts for a status line: complete and partial checkpoints."""
    complete = sum(1 for c in checkpoints if c.completed)
    return {"complete": complete, "partial": len(checkpoints) - complete}
