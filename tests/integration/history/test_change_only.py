"""Change-only snapshots (ADR 0170): the same world ingested with every snapshot stored
and with only the changed ones gives the backtest loader the same poll grid, so every
strategy gets exactly the same results; the poll still knows every market it saw."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.backtest.data import SnapshotSet
from shared.backtest.engine import run_backtest
from shared.backtest.loader import MarketFilter, load_snapshots, resolve_markets
from shared.backtest.strategies import registry
from shared.db.migrate import upgrade
from tests.databases import recreate_database
from tests.integration.history.world import T0, ingest_world

pytestmark = pytest.mark.integration

POLLS = 90
MINUTES = 2 * POLLS


@pytest.fixture(scope="module")
def worlds(postgres) -> Iterator[tuple[sa.Engine, sa.Engine, int, int]]:
    """The world ingested twice: every snapshot stored, and change-only (default heartbeat)."""
    engines = []
    for name in ("hist_full_world", "hist_change_only_world"):
        url = recreate_database(postgres, name)
        upgrade(url)
        engines.append(sa.create_engine(url, poolclass=NullPool))
    full, changed = engines
    stored_full = ingest_world(full, heartbeat_seconds=0, polls=POLLS)
    stored_changed = ingest_world(changed, heartbeat_seconds=3_600, polls=POLLS)
    yield full, changed, stored_full, stored_changed
    for engine in engines:
        engine.dispose()


def _load(engine: sa.Engine, start_minutes: int, end_minutes: int) -> SnapshotSet:
    raw = engine.raw_connection()
    try:
        markets = resolve_markets(raw.cursor(), MarketFilter())
        raw.rollback()
        return load_snapshots(
            raw,
            markets,
            T0 + timedelta(minutes=start_minutes),
            T0 + timedelta(minutes=end_minutes),
        )
    finally:
        raw.close()


def test_change_only_stores_a_fraction_of_the_rows(worlds) -> None:
    full, changed, stored_full, stored_changed = worlds
    assert stored_full == sum(1 for _ in _snapshot_ids(full))
    # ~15 % of markets move per poll, plus new markets, re-entries and heartbeats.
    assert stored_changed < stored_full * 0.3, (stored_changed, stored_full)
    with changed.connect() as c:
        # The never-moving market: its first snapshot and one heartbeat per hour.
        quiet = c.execute(
            sa.text(
                "SELECT count(*) FROM market_snapshots s JOIN market_latest l USING (ticker) "
                "WHERE l.ticker = (SELECT min(ticker) FROM market_latest)"
            )
        ).scalar_one()
        observed = c.execute(sa.text("SELECT sum(market_count) FROM market_polls")).scalar_one()
    assert quiet == 3  # 22:00, 23:00, 00:00 over three hours of polls
    assert observed == stored_full  # every poll still records every market it saw


def _snapshot_ids(engine: sa.Engine) -> list[int]:
    with engine.connect() as c:
        return list(c.execute(sa.text("SELECT id FROM market_snapshots")).scalars())


@pytest.mark.parametrize("window", [(0, MINUTES), (37, 151), (65, 66)])
def test_the_loader_rebuilds_the_same_poll_grid(worlds, window: tuple[int, int]) -> None:
    full, changed, _, _ = worlds
    a, b = _load(full, *window), _load(changed, *window)
    assert a.n_rows > 0 and a.tickers == b.tickers
    for column in ("market", "ts", "yes_bid", "yes_ask"):
        assert np.array_equal(getattr(a, column), getattr(b, column)), column


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("momentum", {}),
        ("fade_large_moves", {"lookback": 1, "threshold": 0.01, "contracts": 3}),
        ("passive_threshold", {}),
    ],
)
def test_a_backtest_gives_exactly_the_same_results(worlds, name: str, params: dict) -> None:
    full, changed, _, _ = worlds
    data = [_load(engine, 0, MINUTES) for engine in (full, changed)]
    a, b = (run_backtest(d, registry.create(name, params)) for d in data)
    assert len(a.trades) > 0, "the world should make this strategy trade"
    assert asdict(a.metrics) == asdict(b.metrics)
    assert np.array_equal(a.pnl_series_micro, b.pnl_series_micro)
    # Trades match field for field; the snapshot ids differ only in naming the stored row
    # a held snapshot stands for (the full store has one row per poll).
    ignore = {"entry_snapshot_id", "exit_snapshot_id"}
    trades_a = [{k: v for k, v in t.items() if k not in ignore} for t in a.trades.rows(data[0])]
    trades_b = [{k: v for k, v in t.items() if k not in ignore} for t in b.trades.rows(data[1])]
    assert trades_a == trades_b
