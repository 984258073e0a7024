"""What ``fill_from_history`` reads besides the snapshots, against real Postgres (ADR 0240).

A window without backfilled rows skips the candle and trade COPY (one probe says so) and
returns the loaded set itself; each market's own sources come from two probes per market
(a poll snapshot, any other one) and, only for a market with another source, the full
list: the report must say exactly what ``SELECT DISTINCT source`` over the window (from two
hours before it) says."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from shared.backtest.coverage import DataReport, fill_from_history
from shared.backtest.data import SnapshotSet
from shared.backtest.loader import MarketFilter, load_snapshots, resolve_markets
from shared.config import DatabaseSettings
from shared.db.engine import Database, create_database

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
END = T0 + 30 * MINUTE
POLL_ONLY, MIXED, STREAM_ONLY, EARLY_STREAM = "KXC-POLL", "KXC-MIXED", "KXC-WS", "KXC-EARLY"
TICKERS = (POLL_ONLY, MIXED, STREAM_ONLY, EARLY_STREAM)


def _seed(database: Database) -> None:
    with database.engine.begin() as connection:
        for ticker in TICKERS:
            connection.execute(
                text(
                    "INSERT INTO markets (ticker, event_ticker, series_ticker, title, status, "
                    "open_time, close_time) VALUES (:t, 'KXC-E', 'KXC', 't', 'active', "
                    ":open, :close)"
                ),
                {"t": ticker, "open": T0 - timedelta(days=1), "close": END + MINUTE},
            )
    rows = []
    for m in range(30):
        at = T0 + m * MINUTE + timedelta(seconds=5)
        for ticker in (POLL_ONLY, MIXED, EARLY_STREAM):
            rows.append((ticker, at, "poll"))
        if m % 10 == 3:
            rows.append((MIXED, at + timedelta(seconds=20), "websocket"))
            rows.append((STREAM_ONLY, at + timedelta(seconds=20), "websocket"))
    # Held from before the window (within two hours of it) but not replayed.
    rows.append((EARLY_STREAM, T0 - timedelta(minutes=90), "websocket"))
    lines = "".join(f"{t}\t{at.isoformat()}\t{s}\t0.4000\t0.4200\n" for t, at, s in rows)
    raw = database.engine.raw_connection()
    try:
        cursor: Any = raw.cursor()
        cursor.execute(
            "COPY market_snapshots (ticker, ts, source, yes_bid_dollars, yes_ask_dollars) "
            "FROM STDIN",
            stream=io.BytesIO(lines.encode()),
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


class _Recording:
    """A DBAPI connection that records every statement its cursors run."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.statements: list[str] = []

    def cursor(self) -> Any:
        inner = self.raw.cursor()
        statements = self.statements

        class Cursor:
            def execute(self, sql: str, *args: Any, **kwargs: Any) -> Any:
                statements.append(sql)
                return inner.execute(sql, *args, **kwargs)

            def __getattr__(self, name: str) -> Any:
                return getattr(inner, name)

        return Cursor()

    def rollback(self) -> None:
        self.raw.rollback()

    def commit(self) -> None:
        self.raw.commit()


def _load_and_fill(database: Database) -> tuple[SnapshotSet, SnapshotSet, DataReport, list[str]]:
    """Every market's snapshots loaded, then ``fill_from_history`` on a connection that
    records its statements: the loaded set, the merged one, the report, the statements."""
    raw = database.engine.raw_connection()
    try:
        markets = resolve_markets(raw.cursor(), MarketFilter(tickers=TICKERS))
        raw.rollback()
        loaded = load_snapshots(raw, markets, T0, END)
        recording = _Recording(raw)
        merged, report = fill_from_history(recording, markets, loaded, T0, END)
    finally:
        raw.close()
    return loaded, merged, report, recording.statements


def _distinct_sources(raw: Any) -> dict[str, list[str]]:
    cursor = raw.cursor()
    cursor.execute(
        "SELECT ticker, array_agg(DISTINCT source ORDER BY source) FROM market_snapshots "
        "WHERE ts >= %s AND ts <= %s GROUP BY ticker",
        (T0 - timedelta(hours=2), END),
    )
    found = {t: list(s) for t, s in cursor.fetchall()}
    raw.rollback()
    return found


def test_no_backfilled_rows_skip_the_history_copy_and_keep_the_loaded_set(
    database: Database,
) -> None:
    loaded, merged, report, statements = _load_and_fill(database)
    raw = database.engine.raw_connection()
    try:
        expected = _distinct_sources(raw)
    finally:
        raw.close()
    assert merged is loaded  # nothing replayed: the set is not copied
    assert not any("COPY" in sql for sql in statements), statements
    assert not any("bt_selected" in sql for sql in statements)
    assert report.fallback == {} and report.fallback_detail == {}
    # The report lists exactly the distinct sources of each market with loaded rows.
    assert report.market_sources == {
        POLL_ONLY: ["poll"],
        MIXED: ["poll", "websocket"],
        STREAM_ONLY: ["websocket"],
        EARLY_STREAM: ["poll", "websocket"],
    }
    assert report.market_sources == {t: expected[t] for t in TICKERS}
    assert report.sources == ["poll", "websocket"]
    assert report.coverage[POLL_ONLY] == 1.0


def test_a_trade_in_the_window_reads_the_history_and_fills_its_minute(
    database: Database,
) -> None:
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO market_trades (trade_id, ticker, ts, yes_price_dollars, count_fp, "
                "taker_outcome_side) VALUES ('t-1', :t, :ts, 0.5500, 1.00, 'yes')"
            ),
            {"t": STREAM_ONLY, "ts": T0 + 5 * MINUTE + timedelta(seconds=30)},
        )
    loaded, merged, report, statements = _load_and_fill(database)
    assert any("COPY" in sql for sql in statements)
    assert merged.n_rows == loaded.n_rows + 1
    assert report.fallback == {STREAM_ONLY: "trades"}
    assert report.market_sources[STREAM_ONLY] == ["trades", "websocket"]
