"""The backfill against the simulator, end to end (the issue's "Must show", small size).

A simulator with a fixed start and a metered, enforced Read budget; the past's most recent
day is in Kalshi's live tier, the rest historical, so both paths are read. The command
line runs as a child process and is killed (SIGKILL) halfway; the restart finishes with
every expected candle and trade exactly once, and never over the budget, having used at
least 90% of it (the simulator bills each request when it was sent, as Kalshi's edge does
on arrival, not when a descheduled simulator got round to it: ADR 0222); a re-run loads
nothing and sends no history request.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from emulators.kalshi_sim.catalog import _TEMPLATES
from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.exchange import Exchange
from emulators.kalshi_sim.history import History
from emulators.kalshi_sim.runner import SimulatorServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
START = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
SERIES = "KXHIGHNY"
DAYS = 4
RATE = 30  # tokens per second: 3 requests/s at the default cost (under Basic), so the
# small in-suite load is budget-bound rather than CPU-bound on a loaded 2-core machine


def _config() -> SimConfig:
    return SimConfig(seed=4242, n_markets=40, tick_interval_s=None, start_time_s=START.timestamp())


@pytest.fixture
def sim() -> Iterator[tuple[SimulatorServer, str, str]]:
    with SimulatorServer(_config()) as server:
        key_id, pem = server.create_account()
        httpx.post(server.admin_url + "/history", json={"live_days": 1}).raise_for_status()
        yield server, key_id, pem


def _expected() -> History:
    config = _config()
    exchange = Exchange(config)
    history = History(config.seed, exchange.start_us, list(_TEMPLATES), set(exchange.events))
    history.live_days = 1
    return history


def _command(
    server: SimulatorServer, key_id: str, pem: str, url: str
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    env.update(
        {
            "KALSHI_BASE_URL": server.base_url,
            "KALSHI_KEY_ID": key_id,
            "KALSHI_PRIVATE_KEY": pem,
            "PYTHONPATH": str(ROOT),
        }
    )
    env.pop("KALSHI_PRIVATE_KEY_PATH", None)
    since = (START - dt.timedelta(days=DAYS)).isoformat()
    args = [
        sys.executable, "-m", "devstack.cli", "backfill", "--database-url", url,
        "--since", since, "--until", START.isoformat(), "--series", SERIES,
        "--workers", "8", "--json",
    ]  # fmt: skip
    return args, env


def _budget(server: SimulatorServer, **body: Any) -> dict[str, Any]:
    if body:
        response = httpx.post(server.admin_url + "/budget", json=body)
    else:
        response = httpx.get(server.admin_url + "/budget")
    response.raise_for_status()
    return dict(response.json())


def _scalar(engine: sa.Engine, sql: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(sa.text(sql)).scalar_one()


def test_backfill_killed_and_restarted_loads_everything_once_within_budget(
    sim: tuple[SimulatorServer, str, str], migrated_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_ENVIRONMENT", "local")  # the backtest's trade cursor key
    server, key_id, pem = sim
    engine = sa.create_engine(migrated_database, poolclass=NullPool)
    args, env = _command(server, key_id, pem, migrated_database)
    _budget(server, refill_rate=RATE, bucket_capacity=RATE, enforce=True)

    # First run, killed once a few markets are done.
    # Nobody reads the killed run's output: a full pipe would stall it.
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        done = _scalar(
            engine, "SELECT count(*) FROM backfill_checkpoints WHERE completed_at IS NOT NULL"
        )
        if done >= 2:
            break
        time.sleep(0.05)
    assert child.poll() is None, "the first run finished before it could be killed"
    child.send_signal(signal.SIGKILL)
    child.wait()
    first = _budget(server)
    assert first["over_budget"] == 0, first
    partial = _scalar(
        engine, "SELECT count(*) FROM backfill_checkpoints WHERE completed_at IS NULL"
    )
    complete_before = _scalar(
        engine, "SELECT count(*) FROM backfill_checkpoints WHERE completed_at IS NOT NULL"
    )

    # The restart, metered on its own.
    _budget(server, refill_rate=RATE, bucket_capacity=RATE, enforce=True)
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["markets_skipped"] >= complete_before
    assert "ETA" in result.stderr
    second = _budget(server)
    assert second["over_budget"] == 0, second
    assert second["used_share"] >= 0.9, (second, summary, result.stderr[-1500:])

    # Every expected row exactly once: no duplicate, no gap.
    history = _expected()
    since_us = int((START - dt.timedelta(days=DAYS)).timestamp() * 1e6)
    until_us = int(START.timestamp() * 1e6)
    wanted = [
        m
        for m in history.markets
        if m.series_ticker == SERIES and m.close_us > since_us and m.open_us < until_us
    ]
    assert len(wanted) >= 18
    assert any(history.is_historical(m) for m in wanted)
    assert any(not history.is_historical(m) for m in wanted)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text(
                "SELECT ticker, resolution_s, count(*), count(DISTINCT bucket_start), "
                "min(bucket_start), max(bucket_start) FROM market_candles "
                "WHERE source = 'kalshi_candles' GROUP BY 1, 2"
            )
        ).all()
        trades: dict[str, int] = dict(
            connection.execute(
                sa.text(
                    "SELECT ticker, count(*) FROM market_trades WHERE source = 'trades' GROUP BY 1"
                )
            ).all()
        )
        results: dict[str, str] = dict(
            connection.execute(sa.text("SELECT ticker, result FROM markets")).all()
        )
        checkpoints = connection.execute(
            sa.text("SELECT count(*) FROM backfill_checkpoints WHERE completed_at IS NOT NULL")
        ).scalar_one()
    candles = {(r[0], r[1]): r[2:] for r in rows}
    assert checkpoints == len(wanted)
    for m in wanted:
        start_us = max(m.open_us, since_us)
        end_us = min(m.close_us, until_us)
        minutes = (end_us - start_us) // 60_000_000
        count, distinct, first_bucket, last_bucket = candles[(m.ticker, 60)]
        assert count == distinct == minutes, (m.ticker, count, minutes)
        span = (last_bucket - first_bucket).total_seconds() // 60 + 1
        assert span == minutes, m.ticker  # consecutive: no gap
        assert candles[(m.ticker, 3600)][0] == candles[(m.ticker, 3600)][1] >= minutes // 60
        assert candles[(m.ticker, 86400)][0] >= 1
        path = history.path(m.ticker)
        expected_trades = int(((path.trade_us >= start_us) & (path.trade_us < end_us)).sum())
        assert trades.get(m.ticker, 0) == expected_trades, m.ticker
        assert results[m.ticker] == path.result

    # A re-run adds nothing and asks Kalshi for no history.
    totals_before = _scalar(engine, "SELECT count(*) FROM market_candles") + _scalar(
        engine, "SELECT count(*) FROM market_trades"
    )
    again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    rerun = json.loads(again.stdout)
    assert rerun["markets_skipped"] == rerun["markets_planned"] == len(wanted)
    assert rerun["candles"] == rerun["trades"] == 0
    totals_after = _scalar(engine, "SELECT count(*) FROM market_candles") + _scalar(
        engine, "SELECT count(*) FROM market_trades"
    )
    assert totals_after == totals_before
    assert partial >= 0
    engine.dispose()

    # A backtest over the backfilled window completes and says what backed it.
    run = _backtest(migrated_database, wanted)
    assert run["status"] == "completed", run["error"]
    data = run["data"]
    assert data["resolution_s"] == 60
    assert set(data["sources"]) == {"kalshi_candles", "trades"}
    assert set(data["fallback"].values()) == {"kalshi_candles"}
    for m in wanted:
        # Every listed minute of every market has its 1-minute candle.
        assert data["coverage"][m.ticker] == 1.0, m.ticker
    assert run["metrics"] is not None


def _backtest(url: str, wanted: list[Any]) -> dict[str, Any]:
    import uuid

    from shared.backtest.adapters import load_strategy_modules
    from shared.backtest.service import BacktestService
    from shared.config import DatabaseSettings
    from shared.db.engine import create_database

    load_strategy_modules()
    database = create_database(DatabaseSettings(database_url=url), poolclass=NullPool)
    try:
        service = BacktestService(database)
        created = service.submit(
            {
                "strategy": "fade_large_moves",
                "params": {"lookback": 5, "threshold": 0.03, "contracts": 2},
                "markets": {"tickers": [m.ticker for m in wanted]},
                "start": (START - dt.timedelta(days=DAYS)).isoformat(),
                "end": START.isoformat(),
            }
        )
        run_id = uuid.UUID(created["id"])
        service.execute(run_id, final_attempt=True)
        return dict(service.get_run(run_id, trades_limit=5))
    finally:
        database.dispose()
