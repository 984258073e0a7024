"""A new install's backtest: a month of candles backfilled, then a few polls (issue 14).

One market has Kalshi's 1-minute candles over the whole window (backfilled) and real polls
only over its last ten minutes (change-only storage: three stored snapshots, the rest
held across the polls). The run replays the candles for the minutes no poll covers and the
polls for the rest: coverage ~1.0, the strategy trades on the candle part, and ``data`` of
``GET /api/v1/backtests/{id}`` (the real function over loopback) says which part was
candles (ADR 0235)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from devstack.functions_runner import FunctionServer
from devstack.postgres import free_port
from shared.backtest.coverage import fill_from_history
from shared.backtest.data import to_micros
from shared.backtest.loader import MarketFilter, load_snapshots, resolve_markets
from shared.backtest.runs import RunOwner
from shared.backtest.service import BacktestService
from shared.config import DatabaseSettings
from shared.db.engine import Database, create_database
from shared.history.rollups import CandleRow, upsert_candles

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
T0 = datetime(2026, 6, 1, tzinfo=UTC)
MINUTES, POLLED = 180, 10  # the window, and its last minutes the poller saw
TICKER = "KXNEW-26JUN01-T1"
MINUTE = timedelta(minutes=1)
END = T0 + MINUTES * MINUTE
FIRST_POLL = MINUTES - POLLED


def _mid(minute: int) -> Decimal:
    """Candles zig-zag by eight cents a minute: ``fade_large_moves`` trades on them."""
    return Decimal("0.40") + (minute % 2) * Decimal("0.08")


def _seed(database: Database) -> None:
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO markets (ticker, event_ticker, series_ticker, title, status, "
                "open_time, close_time, result) VALUES (:t, 'KXNEW-26JUN01', 'KXNEW', 't', "
                "'finalized', :open, :close, 'yes')"
            ),
            {"t": TICKER, "open": T0 - timedelta(days=1), "close": END + 5 * MINUTE},
        )
        minutes = [
            CandleRow(
                ticker=TICKER,
                resolution_s=60,
                bucket_start=T0 + m * MINUTE,
                first_ts=T0 + m * MINUTE,
                last_ts=T0 + (m + 1) * MINUTE - timedelta(seconds=1),
                mid_close=_mid(m),
                last_close=_mid(m),
            )
            for m in range(MINUTES)
        ]
        hours = [
            CandleRow(
                ticker=TICKER,
                resolution_s=3_600,
                bucket_start=T0 + timedelta(hours=h),
                first_ts=T0 + timedelta(hours=h),
                last_ts=T0 + timedelta(hours=h + 1) - timedelta(seconds=1),
                mid_close=Decimal("0.44"),
                samples=60,
            )
            for h in range(MINUTES // 60)
        ]
        upsert_candles(connection, "kalshi_candles", [*minutes, *hours])
    # Ten polls a minute apart at the window's end; the change-only storage keeps three
    # snapshots (the quote changed), the other polls hold the one before (ADR 0170).
    raw = database.engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        polls = [T0 + m * MINUTE + timedelta(seconds=2) for m in range(FIRST_POLL, MINUTES)]
        ids = []
        for at in polls:
            cursor.execute(
                "INSERT INTO market_polls (message_id, polled_at, market_count) "
                "VALUES (%s, %s, 1) RETURNING id",
                (f"poll-{at.isoformat()}", at),
            )
            ids.append(cursor.fetchone()[0])
        stored = {0: ("0.5000", "0.5200"), 4: ("0.5100", "0.5300"), 8: ("0.5000", "0.5200")}
        lines = "".join(
            f"{TICKER}\t{polls[i].isoformat()}\tpoll\t{ids[i]}\t{bid}\t{ask}\n"
            for i, (bid, ask) in stored.items()
        )
        cursor.execute(
            "COPY market_snapshots (ticker, ts, source, sequence, yes_bid_dollars, "
            "yes_ask_dollars) FROM STDIN",
            stream=io.BytesIO(lines.encode()),
        )
        cursor.execute(
            "INSERT INTO market_latest (ticker, ts, sequence, yes_bid_dollars, yes_ask_dollars) "
            "VALUES (%s, %s, %s, 0.50, 0.52)",
            (TICKER, polls[-1], ids[-1]),
        )
        raw.commit()
    finally:
        raw.close()


@pytest.fixture
def database(migrated_database: str) -> Iterator[Database]:
    db = create_database(DatabaseSettings(database_url=migrated_database), poolclass=NullPool)
    try:
        _seed(db)
        yield db
    finally:
        db.dispose()


def test_the_replay_is_candles_up_to_the_first_poll_then_the_polls(database: Database) -> None:
    raw = database.engine.raw_connection()
    try:
        markets = resolve_markets(raw.cursor(), MarketFilter(tickers=(TICKER,)))
        raw.rollback()
        loaded = load_snapshots(raw, markets, T0, END)
        assert loaded.n_rows == POLLED  # the three stored snapshots, held across the polls
        merged, report = fill_from_history(raw, markets, loaded, T0, END)
    finally:
        raw.close()
    ids, ts = merged.snapshot_id.tolist(), merged.ts.tolist()
    # Candles of minutes 0..169, each at its minute's end, then the ten polls.
    assert ids[:FIRST_POLL] == list(range(-1, -FIRST_POLL - 1, -1))
    assert ts[:FIRST_POLL] == [to_micros(T0 + (m + 1) * MINUTE) for m in range(FIRST_POLL)]
    assert all(i > 0 for i in ids[FIRST_POLL:]) and len(ids) == MINUTES
    assert merged.yes_bid[:FIRST_POLL].tolist() == merged.yes_ask[:FIRST_POLL].tolist()
    assert merged.yes_bid[FIRST_POLL:].tolist() == loaded.yes_bid.tolist()
    assert report.coverage == {TICKER: 1.0}


def test_the_run_trades_on_the_candles_and_says_which_part_they_were(
    database: Database, migrated_database: str, tasks_emulator: Any, tmp_path: Path
) -> None:
    service = BacktestService(database)
    owner = RunOwner(address="127.0.0.1")
    created = service.submit(
        {
            "strategy": "fade_large_moves",
            "params": {"lookback": 1, "threshold": 0.05, "contracts": 1},
            "markets": {"tickers": [TICKER]},
            "start": T0.isoformat(),
            "end": END.isoformat(),
        },
        owner=owner,
    )
    run_id = uuid.UUID(created["id"])
    assert service.execute(run_id, final_attempt=True).status == "completed"

    port = free_port()
    env = {
        "DATABASE_URL": migrated_database,
        "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator.host,
        "CLOUD_TASKS_QUEUE": tasks_emulator.queue_path,
        "BACKTEST_WORKER_URL": f"http://127.0.0.1:{free_port()}",
        "DB_POOL_SIZE": "2",
        "APP_ENVIRONMENT": "local",
        "BACKTEST_ANONYMOUS_SUBMISSIONS": "true",
    }
    api = FunctionServer(
        "backtests", ROOT / "functions" / "backtests" / "main.py", port, env=env,
        log_path=tmp_path / "backtests.log",
    )  # fmt: skip
    api.start(timeout=60)
    try:
        answer = httpx.get(f"{api.url}/api/v1/backtests/{run_id}?trades_limit=500", timeout=30)
    finally:
        api.stop()
    assert answer.status_code == 200, answer.text
    run = answer.json()
    assert run["status"] == "completed"
    data = run["data"]
    assert data["coverage"] == {TICKER: 1.0}
    assert data["market_sources"] == {TICKER: ["kalshi_candles", "poll"]}
    assert data["fallback"] == {TICKER: "kalshi_candles"}  # the shape clients already read
    detail = data["fallback_detail"][TICKER]
    assert detail["source"] == "kalshi_candles"
    assert detail["minutes"] == {"kalshi_candles": FIRST_POLL}
    assert detail["share"] == pytest.approx(FIRST_POLL / MINUTES, abs=1e-6)
    assert detail["spans"] == [
        {
            "from": T0.isoformat(),
            "to": (T0 + FIRST_POLL * MINUTE).isoformat(),
            "source": "kalshi_candles",
        }
    ]
    assert data["note"]
    trades = run["trades"]
    assert trades, run["metrics"]
    on_candles = [t for t in trades if t["entry_snapshot_id"] < 0]
    assert on_candles
    assert all(
        datetime.fromisoformat(t["entry_ts"]) <= T0 + FIRST_POLL * MINUTE for t in on_candles
    )
