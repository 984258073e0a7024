"""The backfill at full size against the simulator: ~500 markets x 30 days, killed halfway.

Run: ``.venv/bin/python -m tests.bench.bench_backfill [--days 30] [--rate 200]``

What it shows (the issue's "Must show", full size; the in-suite version is
``tests/integration/history/test_backfill.py``):

1. ``kalshi-insights backfill`` of three daily series over ``--days`` days (about 540
   markets for 30 days), with 1-day, 1-hour and 1-minute candles and the trade tape, from
   both of Kalshi's tiers; SIGKILLed once half the markets are done, then restarted.
2. The restart finishes with every expected candle and trade exactly once (no duplicate,
   no gap), counted against the simulator's own history.
3. The simulator's meter: the budget (``--rate`` tokens/s, Kalshi's Basic tier by default)
   was never exceeded, and the share of it the restarted run used.
4. A backtest over the window completes and reports its coverage.

Ratios, against baselines measured in this process:

- elapsed / the budget floor (requests x cost / rate: no client under this budget can be
  faster), for the restarted run;
- elapsed against the same backfill with one fetch thread (``--workers 1``: one request
  at a time; its writes still go to the writer thread), on the same markets
  (``--baseline-days`` days, default the same window; ``--no-baseline`` skips it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[2]
START = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
SERIES = ("KXHIGHNY", "KXHIGHCHI", "KXHIGHMIA")
SEED = 2026


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rate", type=float, default=200.0, help="Read tokens per second")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--baseline-days", type=int, default=None)
    parser.add_argument("--no-baseline", action="store_true")
    return parser.parse_args()


def _command(
    base_url: str, key_id: str, pem: str, url: str, days: int, workers: int
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    env.update(
        {
            "KALSHI_BASE_URL": base_url,
            "KALSHI_KEY_ID": key_id,
            "KALSHI_PRIVATE_KEY": pem,
            "PYTHONPATH": str(ROOT),
        }
    )
    env.pop("KALSHI_PRIVATE_KEY_PATH", None)
    args = [
        sys.executable, "-m", "devstack.cli", "backfill", "--database-url", url,
        "--since", (START - dt.timedelta(days=days)).isoformat(), "--until", START.isoformat(),
        "--series", *SERIES, "--workers", str(workers), "--json",
    ]  # fmt: skip
    return args, env


def _budget(admin: str, rate: float | None = None) -> dict[str, Any]:
    if rate is not None:
        body = {"refill_rate": rate, "bucket_capacity": rate, "enforce": True}
        response = httpx.post(admin + "/budget", json=body)
    else:
        response = httpx.get(admin + "/budget")
    response.raise_for_status()
    return dict(response.json())


def _scalar(engine: sa.Engine, sql: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.text(sql)).scalar_one()


def _expected(days: int) -> tuple[Any, list[Any], int, int]:
    from emulators.kalshi_sim.catalog import _TEMPLATES
    from emulators.kalshi_sim.config import SimConfig
    from emulators.kalshi_sim.exchange import Exchange
    from emulators.kalshi_sim.history import History

    config = SimConfig(
        seed=SEED, n_markets=100, tick_interval_s=None, start_time_s=START.timestamp()
    )
    exchange = Exchange(config)
    history = History(SEED, exchange.start_us, list(_TEMPLATES), set(exchange.events))
    history.live_days = 1
    since_us = int((START - dt.timedelta(days=days)).timestamp() * 1e6)
    until_us = int(START.timestamp() * 1e6)
    wanted = [
        m
        for m in history.markets
        if m.series_ticker in SERIES and m.close_us > since_us and m.open_us < until_us
    ]
    return history, wanted, since_us, until_us


def _verify(engine: sa.Engine, days: int) -> dict[str, Any]:
    history, wanted, since_us, until_us = _expected(days)
    with engine.connect() as connection:
        candles = {
            r[0]: (r[1], r[2], r[3], r[4])
            for r in connection.execute(
                sa.text(
                    "SELECT ticker, count(*), count(DISTINCT bucket_start), min(bucket_start), "
                    "max(bucket_start) FROM market_candles WHERE resolution_s = 60 "
                    "AND source = 'kalshi_candles' GROUP BY 1"
                )
            )
        }
        trades: dict[str, int] = dict(
            connection.execute(
                sa.text("SELECT ticker, count(*) FROM market_trades GROUP BY 1")
            ).all()
        )
    duplicates = gaps = missing_trades = 0
    rows = 0
    for m in wanted:
        start_us, end_us = max(m.open_us, since_us), min(m.close_us, until_us)
        minutes = (end_us - start_us) // 60_000_000
        count, distinct, first, last = candles.get(m.ticker, (0, 0, None, None))
        rows += count
        duplicates += count - distinct
        span = 0 if first is None else int((last - first).total_seconds() // 60) + 1
        gaps += (minutes - distinct) + (distinct - span if span else 0)
        path = history.path(m.ticker)
        expected = int(((path.trade_us >= start_us) & (path.trade_us < end_us)).sum())
        missing_trades += abs(trades.get(m.ticker, 0) - expected)
    return {
        "markets": len(wanted),
        "minute_candles": rows,
        "duplicates": duplicates,
        "gaps": gaps,
        "trade_mismatches": missing_trades,
        "tickers": [m.ticker for m in wanted],
    }


def _backtest(url: str, tickers: list[str], days: int) -> dict[str, Any]:
    import uuid

    from shared.backtest.adapters import load_strategy_modules
    from shared.backtest.service import BacktestService
    from shared.config import DatabaseSettings
    from shared.db.engine import create_database

    os.environ.setdefault("APP_ENVIRONMENT", "local")
    load_strategy_modules()
    database = create_database(DatabaseSettings(database_url=url), poolclass=NullPool)
    try:
        service = BacktestService(database)
        started = time.perf_counter()
        created = service.submit(
            {
                "strategy": "fade_large_moves",
                "params": {"lookback": 5, "threshold": 0.03, "contracts": 2},
                "markets": {"tickers": tickers[:200]},
                "start": (START - dt.timedelta(days=days)).isoformat(),
                "end": START.isoformat(),
            }
        )
        run_id = uuid.UUID(created["id"])
        service.execute(run_id, final_attempt=True)
        run = dict(service.get_run(run_id, trades_limit=1))
        run["elapsed_s"] = time.perf_counter() - started
        return run
    finally:
        database.dispose()


def _run(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return json.loads(result.stdout), time.perf_counter() - started


def main() -> None:
    options = _args()
    from emulators.kalshi_sim.config import SimConfig
    from emulators.kalshi_sim.runner import SimulatorServer
    from shared.db.migrate import upgrade
    from tests.databases import recreate_database, throwaway_cluster

    config = SimConfig(
        seed=SEED, n_markets=100, tick_interval_s=None, start_time_s=START.timestamp()
    )
    with throwaway_cluster("ki-bench-backfill-") as postgres, SimulatorServer(config) as server:
        key_id, pem = server.create_account()
        httpx.post(server.admin_url + "/history", json={"live_days": 1}).raise_for_status()
        url = recreate_database(postgres, "backfill")
        upgrade(url)
        engine = sa.create_engine(url, poolclass=NullPool)
        args, env = _command(server.base_url, key_id, pem, url, options.days, options.workers)
        _, wanted, _, _ = _expected(options.days)

        # 1. Killed halfway.
        _budget(server.admin_url, options.rate)
        # Nobody reads the killed run's output: a full pipe would stall it.
        child = subprocess.Popen(
            args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        first_started = time.perf_counter()
        while child.poll() is None:
            done = _scalar(
                engine, "SELECT count(*) FROM backfill_checkpoints WHERE completed_at IS NOT NULL"
            )
            if done >= len(wanted) // 2:
                break
            time.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.wait()
        first_elapsed = time.perf_counter() - first_started
        first = _budget(server.admin_url)
        killed_at = _scalar(
            engine, "SELECT count(*) FROM backfill_checkpoints WHERE completed_at IS NOT NULL"
        )

        # 2. Restarted to the end.
        _budget(server.admin_url, options.rate)
        summary, elapsed = _run(args, env)
        second = _budget(server.admin_url)
        check = _verify(engine, options.days)
        try:
            run = _backtest(url, check["tickers"], options.days)
        except Exception as exc:  # reported, not fatal: the backfill figures stand
            run = {"status": f"not run ({type(exc).__name__}: {exc})", "elapsed_s": 0.0}
        floor = second["tokens_spent"] / options.rate
        data = run.get("data") or {}
        print(f"markets {check['markets']} x {options.days} days, budget {options.rate:g} tokens/s")
        print(
            f"first run: killed after {first_elapsed:.1f} s with {killed_at} markets done; "
            f"{first['requests']} requests, over budget {first['over_budget']}, "
            f"used {first['used_share']:.3f} of the budget"
        )
        print(
            f"restart: {summary['markets_done']} markets loaded, {summary['markets_skipped']} "
            f"skipped, {summary['candles']} candles, {summary['trades']} trades, "
            f"{summary['requests']} requests in {elapsed:.1f} s"
        )
        print(
            f"restart budget: over {second['over_budget']}, used {second['used_share']:.3f}; "
            f"elapsed / budget floor ({floor:.1f} s) = {elapsed / floor:.2f}x"
        )
        print(
            f"check: {check['minute_candles']} minute candles, duplicates {check['duplicates']}, "
            f"gaps {check['gaps']}, trade mismatches {check['trade_mismatches']}"
        )
        print(
            f"backtest over {min(200, check['markets'])} markets: {run['status']} in "
            f"{run['elapsed_s']:.1f} s, sources {data.get('sources')}, mean coverage "
            f"{data.get('mean_coverage')}"
        )
        engine.dispose()

        if options.no_baseline:
            return
        days = options.baseline_days or options.days
        base_url = recreate_database(postgres, "baseline")
        upgrade(base_url)
        ours_args, env = _command(server.base_url, key_id, pem, base_url, days, options.workers)
        one_args, _ = _command(server.base_url, key_id, pem, base_url, days, 1)
        _budget(server.admin_url, options.rate)
        baseline, baseline_s = _run(one_args, env)
        base_budget = _budget(server.admin_url)
        recreate_database(postgres, "baseline")
        upgrade(base_url)
        _budget(server.admin_url, options.rate)
        _ours, ours_s = _run(ours_args, env)
        ours_budget = _budget(server.admin_url)
        print(
            f"baseline, one worker, {days} days: {baseline['requests']} requests in "
            f"{baseline_s:.1f} s (used {base_budget['used_share']:.3f} of the budget); "
            f"{options.workers} workers: {ours_s:.1f} s (used {ours_budget['used_share']:.3f}); "
            f"ratio {ours_s / baseline_s:.2f}x"
        )


if __name__ == "__main__":
    main()
