"""Backtest end to end on 1,000,000 snapshots against the fastest Postgres hand-over.

Run: ``.venv/bin/python -m tests.bench.bench_backtest [markets] [snapshots_per_market]``

1. Starts a throwaway Postgres, migrates it, loads 1,000 markets x 1,000 snapshots (random
   walk books, one a minute) and their results.
2. Floor: ``COPY (SELECT ticker, ts, bid, ask ...) TO STDOUT`` through pg8000 into numpy
   arrays (:func:`shared.backtest.loader.copy_floor`), best of 3.
3. End to end in a fresh child process (so its peak RSS is its own): resolve the markets,
   load them (:func:`load_snapshots`), run one strategy (momentum, defaults), store the
   trades, variant and metrics (:meth:`~shared.backtest.runs.RunTransaction.complete`);
   best of 3. Compute alone is timed separately (best of 3).
4. Prints each figure as a ratio against the floor and against the original design target
   of 10 s per 1,000 snapshots, and the worker memory per loaded snapshot (high-water RSS
   above the baseline / snapshots) that sizes the run cap (ADR 0085).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from tests.bench.cluster import throwaway_postgres
from tests.bench.rss import reset_peak, status_mib
from tests.bench.shapes import recorded_size_raw

DESIGN_TARGET_S_PER_1000 = 10.0
STRATEGY = "momentum"
PARAMS: dict[str, Any] = {}


def _connect(port: int) -> Any:
    import pg8000.dbapi

    return pg8000.dbapi.connect(
        user="postgres", host="127.0.0.1", port=port, database="kalshi_insights"
    )


def _populate(port: int, n_markets: int, per_market: int) -> tuple[datetime, datetime]:
    from tests.unit.backtest.synthetic import random_walk_set

    data = random_walk_set(n_markets, per_market, seed=11)
    conn = _connect(port)
    cur = conn.cursor()
    lines = []
    for m, ticker in enumerate(data.tickers):
        close = datetime.fromtimestamp(int(data.close_ts[m]) / 1e6, tz=UTC).isoformat()
        result = {1: "yes", 2: "no"}.get(int(data.settlements.result[m]), "\\N")
        lines.append(f"{ticker}\tEV-{m // 10}\t{data.series[m]}\tt\tfinalized\t{close}\t{result}\n")
    cur.execute(
        "COPY markets (ticker, event_ticker, series_ticker, title, status, close_time, result) "
        "FROM STDIN",
        stream=io.BytesIO("".join(lines).encode()),
    )
    ts_text = np.datetime_as_string(data.ts.astype("datetime64[us]"), unit="us")
    bid = np.where(data.yes_bid >= 0, data.yes_bid, 0)
    chunk = 200_000
    for lo in range(0, data.n_rows, chunk):
        hi = min(lo + chunk, data.n_rows)
        rows = []
        for i in range(lo, hi):
            b = "\\N" if data.yes_bid[i] < 0 else f"0.{bid[i]:04d}"
            a = data.yes_ask[i]
            rows.append(f"{data.tickers[data.market[i]]}\t{ts_text[i]}+00\tpoll\t{b}\t0.{a:04d}\n")
        cur.execute(
            "COPY market_snapshots (ticker, ts, source, yes_bid_dollars, yes_ask_dollars) "
            "FROM STDIN",
            stream=io.BytesIO("".join(rows).encode()),
        )
    conn.commit()
    conn.close()
    conn = _connect(port)
    conn.autocommit = True
    conn.cursor().execute("VACUUM ANALYZE market_snapshots")
    conn.close()
    start = datetime.fromtimestamp(int(data.ts.min()) / 1e6, tz=UTC) - timedelta(minutes=1)
    end = datetime.fromtimestamp(int(data.ts.max()) / 1e6, tz=UTC) + timedelta(minutes=1)
    return start, end


def _new_run(conn: Any, start: datetime, end: datetime) -> uuid.UUID:
    run_id = uuid.uuid4()
    cur = conn.cursor()
    cur.execute(
        "INSERT INTO backtest_runs (id, status, strategy, strategy_version, start_ts, end_ts) "
        "VALUES (%s, 'running', %s, '?', %s, %s)",
        (str(run_id), STRATEGY, start, end),
    )
    cur.execute("INSERT INTO backtest_run_details (run_id) VALUES (%s)", (str(run_id),))
    conn.commit()
    return run_id


def _peak_rss_mb() -> float:
    """This process's own high-water RSS (VmHWM; ru_maxrss survives exec on Linux)."""
    return status_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _end_to_end(port: int, start: datetime, end: datetime, out: Any) -> None:
    """Child process: load + compute + store once; report timings and peak RSS."""
    from shared.backtest.engine import EngineConfig, run_backtest
    from shared.backtest.loader import MarketFilter, load_snapshots, resolve_markets
    from shared.backtest.runs import transaction
    from shared.backtest.strategies import create

    conn = _connect(port)
    run_id = _new_run(conn, start, end)
    base_rss = _peak_rss_mb()
    t0 = time.perf_counter()
    markets = resolve_markets(conn.cursor(), MarketFilter())
    conn.rollback()
    data = load_snapshots(conn, markets, start, end)
    t1 = time.perf_counter()
    load_peak = _peak_rss_mb()
    result = run_backtest(data, create(STRATEGY, PARAMS), EngineConfig())
    t2 = time.perf_counter()
    with transaction(conn) as tx:
        outcome = tx.complete(run_id, data, [result], [0])
    t3 = time.perf_counter()
    peak = _peak_rss_mb()
    conn.close()
    out.put(
        {
            "rows": data.n_rows,
            "load": t1 - t0,
            "compute": t2 - t1,
            "store": t3 - t2,
            "total": t3 - t0,
            "trades": outcome.trades,
            "peak_rss_mb": peak,
            "base_rss_mb": base_rss,
            "load_peak_rss_mb": load_peak,
        }
    )


# ---------------------------------------------------------------------------------------------
# The worker-shaped run at the size (``--worker``)

WORKER_T0 = datetime(2026, 3, 2, tzinfo=UTC)
POLL_S = 60
HEARTBEAT_POLLS = 60  # the poller's hourly heartbeat at one poll a minute (ADR 0170)
_RECORDED_RAW = recorded_size_raw("KXPL", "2026-03-01T23:59:00Z")
"""A recorded-size ``raw`` (~600 bytes, as the poller stores Kalshi's market object)."""


def _fill_production(port: int, n_markets: int, polls: int, changed: float) -> None:
    """Production-shaped snapshots: ``polls`` polls a minute apart (``market_polls``), each
    storing, in poll order, the markets whose quote changed (a ``changed`` share, chosen
    by a hash of market and poll) plus every market's hourly heartbeat, with the
    recorded-size ``raw``; ``markets`` and ``market_latest`` (when a poll last saw each)."""
    import sqlalchemy as sa

    from shared.history.partitions import ensure_partitions

    engine = sa.create_engine(f"postgresql+pg8000://postgres@127.0.0.1:{port}/kalshi_insights")
    days = (polls * POLL_S) // 86_400 + 2
    last = WORKER_T0 + timedelta(seconds=POLL_S * (polls - 1))
    with engine.begin() as c:
        ensure_partitions(c, WORKER_T0.date(), days)
        c.execute(
            sa.text(
                "INSERT INTO markets (ticker, event_ticker, series_ticker, title, status, "
                "close_time, result) SELECT 'KXPL-' || lpad(m::text, 6, '0'), "
                "'KXPLE-' || (m / 10), 'KXPL', 't', 'finalized', :close, "
                "CASE WHEN mod(m, 2) = 0 THEN 'yes' ELSE 'no' END "
                "FROM generate_series(0, :n - 1) AS m"
            ),
            {"n": n_markets, "close": last + timedelta(days=1)},
        )
        c.execute(
            sa.text(
                "INSERT INTO market_latest (ticker, ts, sequence, status) "
                "SELECT 'KXPL-' || lpad(m::text, 6, '0'), :ts, :polls, 'active' "
                "FROM generate_series(0, :n - 1) AS m"
            ),
            {"n": n_markets, "ts": last, "polls": polls},
        )
        c.execute(
            sa.text(
                "INSERT INTO market_polls (message_id, polled_at, market_count) "
                "SELECT 'p-' || p, CAST(:t0 AS timestamptz) + p * interval '1 minute', :n "
                "FROM generate_series(0, :polls - 1) AS p"
            ),
            {"t0": WORKER_T0, "polls": polls, "n": n_markets},
        )
    threshold = round(changed * 1000)
    batch = max(1, 1_000_000 // n_markets)
    for lo in range(0, polls, batch):
        with engine.begin() as c:
            c.execute(
                sa.text(
                    "INSERT INTO market_snapshots (ticker, ts, source, sequence, "
                    "yes_bid_dollars, yes_ask_dollars, volume_fp, raw) "
                    "SELECT 'KXPL-' || lpad(m::text, 6, '0'), "
                    "CAST(:t0 AS timestamptz) + p * interval '1 minute', 'poll', p + 1, "
                    "q / 10000.0, (q + 200) / 10000.0, p, CAST(:raw AS jsonb) "
                    "FROM generate_series(:lo, :hi - 1) AS p, "
                    "generate_series(0, :n - 1) AS m, "
                    "LATERAL (SELECT 4000 + round(2500 * sin(p / 400.0 + m))::int "
                    "+ mod(m * 31 + p * 17, 41) * 20 AS q) AS price "
                    "WHERE mod(p, :hb) = 0 "
                    "OR mod(m::int8 * 2654435761 + p::int8 * 40503, 1000) < :threshold "
                    "ORDER BY p, m"
                ),
                {
                    "t0": WORKER_T0,
                    "lo": lo,
                    "hi": min(polls, lo + batch),
                    "n": n_markets,
                    "hb": HEARTBEAT_POLLS,
                    "threshold": threshold,
                    "raw": _RECORDED_RAW,
                },
            )
    engine.dispose()
    conn = _connect(port)
    conn.autocommit = True
    conn.cursor().execute("VACUUM ANALYZE")
    conn.close()


def _build_candles(port: int, marker: Path | None) -> None:
    """The candles the poller keeps beside its snapshots (every resolution, from the stored
    rows, as ``rebuild_candles`` recomputes them), once per kept fixture: the size check's
    estimate reads the hourly ones and the coverage's history probe filters the 1-minute
    ones, so without them both look cheaper than in production."""
    import sqlalchemy as sa

    from shared.marketdata.ingest import rebuild_candles

    if marker is not None and marker.exists():
        print("the fixture has its candles")
        return
    engine = sa.create_engine(f"postgresql+pg8000://postgres@127.0.0.1:{port}/kalshi_insights")
    t = time.perf_counter()
    with engine.begin() as c:
        written = rebuild_candles(c)
    engine.dispose()
    conn = _connect(port)
    conn.autocommit = True
    conn.cursor().execute("VACUUM ANALYZE market_candles")
    conn.close()
    print(f"built {written:,} candles in {time.perf_counter() - t:.0f} s")
    if marker is not None:
        marker.write_text(str(written))


def _worker_run(port: int, body: dict[str, Any], out: Any) -> None:
    """Child process: what the worker runs for one run (``BacktestService.execute``: claim,
    load, fill from history, the sweep with the look-ahead audit, metrics, store,
    announce), with the high-water RSS of each stage."""
    from shared.backtest.service import BacktestService, parse_request
    from shared.backtest.settings import WorkerSettings
    from shared.config import DatabaseSettings
    from shared.db.engine import create_database

    database = create_database(
        DatabaseSettings(database_url=f"postgresql://postgres@127.0.0.1:{port}/kalshi_insights")
    )
    service = BacktestService(database, worker=WorkerSettings())
    run_id = service.create_run(parse_request(body))
    stages: dict[str, float] = {}
    times: dict[str, float] = {}
    current = ["start"]
    reset_peak()
    base = status_mib("VmRSS")
    started = time.perf_counter()

    def on_progress(progress: float, stage: str) -> None:
        label = {"loading": "load", "done": "announced"}.get(stage, stage)
        if stage == "computing":
            label = "store" if progress >= 0.9 - 1e-9 else "compute"
        if label == current[0]:
            return
        stages[current[0]] = status_mib("VmHWM")
        times[current[0]] = time.perf_counter() - started
        current[0] = label
        reset_peak()

    outcome = service.execute(run_id, final_attempt=True, on_progress=on_progress)
    stages[current[0]] = max(stages.get(current[0], 0.0), status_mib("VmHWM"))
    times[current[0]] = time.perf_counter() - started
    run = service.get_run(run_id, trades_limit=0)
    database.dispose()
    out.put(
        {
            "outcome": outcome.status,
            "trades": outcome.trades,
            "base_mb": base,
            "stages": stages,
            "times": times,
            "peak_mb": max(stages.values()),
            "metrics": run.get("metrics"),
        }
    )


def worker_main(args: argparse.Namespace) -> None:
    """``--worker``: the issue's size, production-shaped, through the worker's own code."""
    from devstack.postgres import LocalPostgres, free_port
    from shared.backtest.engine import EngineConfig, run_backtest
    from shared.backtest.loader import (
        MarketFilter,
        copy_floor_packed,
        load_snapshots,
        resolve_markets,
    )
    from shared.backtest.strategies import create
    from shared.db import migrate

    polls = args.snapshots // args.markets
    shape = f"{args.markets}x{polls}@{args.changed}"
    keep = args.fixture is not None
    base = Path(args.fixture or tempfile.mkdtemp(prefix="ki-bench-btw-"))
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    pg = LocalPostgres(data_dir=base / "data", port=free_port(), log_file=base / "pg.log")
    marker = base / "shape"
    reuse = keep and marker.exists() and marker.read_text() == shape and pg.initialized()
    if keep and not reuse and pg.initialized():
        pg.destroy()
    pg.start()
    try:
        migrate.upgrade(pg.url)  # a reused fixture catches up with new migrations
        if not reuse:
            t = time.perf_counter()
            _fill_production(pg.port, args.markets, polls, args.changed)
            print(f"filled in {time.perf_counter() - t:.0f} s")
            if keep:
                marker.write_text(shape)
        else:
            print(f"reusing the fixture in {base} ({shape})")
        if args.candles:
            _build_candles(pg.port, base / "candles" if keep else None)
        start = WORKER_T0
        end = WORKER_T0 + timedelta(seconds=POLL_S * (polls - 1))
        conn = _connect(pg.port)
        cur = conn.cursor()
        cur.execute("SELECT count(*) FROM market_snapshots")
        stored = int(cur.fetchone()[0])
        conn.rollback()
        markets = resolve_markets(conn.cursor(), MarketFilter())
        conn.rollback()
        tickers = [m.ticker for m in markets]
        floors, loads = [], []
        data = None
        for _ in range(args.repeat):  # alternating, so both see the same machine
            t = time.perf_counter()
            floor_arrays = copy_floor_packed(conn, tickers, start, end)
            floors.append(time.perf_counter() - t)
            del floor_arrays
            data = None
            t = time.perf_counter()
            data = load_snapshots(conn, markets, start, end)
            loads.append(time.perf_counter() - t)
        conn.close()
        assert data is not None
        computes = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            result = run_backtest(data, create(STRATEGY, PARAMS), EngineConfig())
            computes.append(time.perf_counter() - t)
        rows = data.n_rows
        del data
        body = {
            "strategy": STRATEGY,
            "params": PARAMS,
            "start": start.isoformat(),
            "end": end.isoformat(),
        }
        ctx = mp.get_context("spawn")
        runs = []
        for _ in range(args.worker_runs):
            queue: Any = ctx.Queue()
            child = ctx.Process(target=_worker_run, args=(pg.port, body, queue))
            child.start()
            runs.append(queue.get(timeout=3600))
            child.join(timeout=60)
        floor, load, compute = min(floors), min(loads), min(computes)
        print(
            f"snapshots: {rows:,} loaded ({stored:,} stored change-only, {args.changed:.0%} of "
            f"markets changed a poll + the hourly heartbeat; {args.markets:,} markets x "
            f"{polls:,} polls)   strategy: {STRATEGY} (defaults)   trades: "
            f"{len(result.trades):,}"
        )
        print(f"packed COPY floor (stored rows, 4 columns): {floor:.3f} s  [runs {floors}]")
        print(f"load_snapshots (5 columns, grid rebuilt): {load:.3f} s  [runs {loads}]")
        print(f"  load / packed floor: {load / floor:.2f}x   (bar: <= 1.5x)")
        print(
            f"compute (run_backtest with the audit): {compute:.3f} s = "
            f"{rows / compute / 1e6:.2f}M snapshots/s (bar: >= 2M/s)  [runs {computes}]"
        )
        for run in runs:
            stages = ", ".join(
                f"{k} {v:.0f} MB ({run['times'][k]:.1f} s)" for k, v in run["stages"].items()
            )
            print(
                f"worker run ({run['outcome']}, {run['trades']:,} trades): peak RSS "
                f"{run['peak_mb']:.0f} MB (bar: <= 1,536 MB; the worker has 2,048); "
                f"before loading {run['base_mb']:.0f} MB; by stage: {stages}"
            )
            # The load stage as the worker runs it: from its "loading" progress to its
            # "computing" one (the size check's estimate, the load, coverage and merge).
            stage = run["times"]["load"] - run["times"]["start"]
            print(
                f"  worker load stage (estimate + load + coverage/merge): {stage:.3f} s = "
                f"{stage / floor:.2f}x the packed floor (bar: <= 1.5x)"
            )
        peak = max(r["peak_mb"] for r in runs)
        grown = peak - min(r["base_mb"] for r in runs)
        print(f"  bytes per snapshot above the baseline, whole run: {grown * 2**20 / rows:.0f}")
    finally:
        if keep:
            pg.stop()
        else:
            pg.destroy()


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--worker" in argv:
        parser = argparse.ArgumentParser(description="the worker-shaped run at a size")
        parser.add_argument("--worker", action="store_true")
        parser.add_argument("--snapshots", type=int, default=1_000_000)
        parser.add_argument("--markets", type=int, default=1_000)
        parser.add_argument("--changed", type=float, default=0.3)
        parser.add_argument("--repeat", type=int, default=3)
        parser.add_argument("--worker-runs", type=int, default=1)
        parser.add_argument("--fixture", default=None)
        parser.add_argument(
            "--candles",
            action="store_true",
            help="give the fixture the poller's candles (the estimate's rollups, the "
            "1-minute candles the coverage's history probe filters)",
        )
        worker_main(parser.parse_args(argv))
        return
    n_markets = int(argv[0]) if argv else 1_000
    per_market = int(argv[1]) if len(argv) > 1 else 1_000

    from shared.backtest.engine import EngineConfig, run_backtest
    from shared.backtest.loader import copy_floor, copy_floor_packed
    from shared.backtest.strategies import create
    from shared.db import migrate
    from tests.unit.backtest.synthetic import random_walk_set

    with throwaway_postgres("ki-bench-bt-") as (pg, _):
        migrate.upgrade(pg.url)
        t = time.perf_counter()
        start, end = _populate(pg.port, n_markets, per_market)
        print(f"populated {n_markets * per_market:,} snapshots in {time.perf_counter() - t:.1f}s")

        conn = _connect(pg.port)
        cur = conn.cursor()
        cur.execute("SELECT ticker FROM markets ORDER BY ticker")
        tickers = [r[0] for r in cur.fetchall()]
        conn.rollback()
        floors = []
        for _ in range(3):
            t = time.perf_counter()
            arrays = copy_floor(conn, tickers, start, end)
            floors.append(time.perf_counter() - t)
        packed = []
        for _ in range(3):
            t = time.perf_counter()
            copy_floor_packed(conn, tickers, start, end)
            packed.append(time.perf_counter() - t)
        conn.close()
        floor = min(floors)
        strict = min(packed)
        rows = len(arrays["ts"])
        del arrays

        data = random_walk_set(n_markets, per_market, seed=11)
        computes = []
        for _ in range(3):
            t = time.perf_counter()
            run_backtest(data, create(STRATEGY, PARAMS), EngineConfig())
            computes.append(time.perf_counter() - t)
        compute = min(computes)
        del data

        ctx = mp.get_context("spawn")
        runs = []
        for _ in range(3):
            queue: Any = ctx.Queue()
            child = ctx.Process(target=_end_to_end, args=(pg.port, start, end, queue))
            child.start()
            runs.append(queue.get(timeout=600))
            child.join(timeout=60)
        best = min(runs, key=lambda r: r["total"])
        peak = max(r["peak_rss_mb"] for r in runs)

        target = DESIGN_TARGET_S_PER_1000 * rows / 1000
        print(f"snapshots: {rows:,}   strategy: {STRATEGY} (defaults)   trades: {best['trades']:,}")
        print(f"floor (binary COPY -> numpy, 4 columns): {floor:.3f}s  [runs {floors}]")
        print(
            f"end to end: {best['total']:.3f}s = load {best['load']:.3f} + compute "
            f"{best['compute']:.3f} + store {best['store']:.3f}"
        )
        print(f"  ratio vs floor: {best['total'] / floor:.2f}x   (bar: <= 1.5x)")
        print(
            f"  ratio vs the stricter packed floor ({strict:.3f}s, same 4 columns packed per "
            f"market): {best['total'] / strict:.2f}x"
        )
        print(f"  ratio vs design target ({target:,.0f}s): {best['total'] / target:.5f}x")
        print(
            f"compute alone: {compute:.3f}s = {rows / compute / 1e6:.2f}M snapshots/s "
            f"(bar: >= 2M/s); ratio vs floor {compute / floor:.2f}x"
        )
        print(
            f"peak RSS of the end-to-end process: {peak:.0f} MB "
            f"(interpreter + imports before loading: {best['base_rss_mb']:.0f} MB; bar: <= 500 MB)"
        )
        # What shared/backtest/settings.py's BYTES_PER_SNAPSHOT must cover (ADR 0085): the
        # high-water mark above the baseline, per snapshot, after loading and at the end.
        mb = 1024 * 1024
        for label, key in (("load", "load_peak_rss_mb"), ("load + compute + store", "peak_rss_mb")):
            grown = max(r[key] - r["base_rss_mb"] for r in runs)
            print(f"  bytes per snapshot above the baseline, {label}: {grown * mb / rows:.0f}")


if __name__ == "__main__":
    main()
