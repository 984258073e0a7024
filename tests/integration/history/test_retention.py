"""Retention (ADR 0171, 0174): a daily partition past the window is exported to Parquet,
verified (row count, SHA-256, content checksum) and dropped; history and a backtest over a
window spanning the archive and the database give the same answers as before."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.backtest.coverage import fill_from_history
from shared.backtest.data import SnapshotSet
from shared.backtest.engine import run_backtest
from shared.backtest.loader import MarketFilter, load_snapshots, resolve_markets
from shared.backtest.strategies import registry
from shared.history.archive import ArchiveError, LocalArchive, archive_day
from shared.history.maintenance import run_maintenance
from shared.history.partitions import partition_days
from shared.marketdata.queries import HistoryRequest, get_history
from tests.integration.history.world import T0, ingest_world

pytestmark = pytest.mark.integration

FIRST, SECOND = date(2026, 6, 1), date(2026, 6, 2)
# 90 days after the second day: only the first is past the window.
NOW = datetime(2026, 8, 31, 12, tzinfo=UTC)
END = T0 + timedelta(hours=3)


@pytest.fixture
def engine(migrated_database: str):
    engine = sa.create_engine(migrated_database, poolclass=NullPool)
    ingest_world(engine, heartbeat_seconds=3_600, polls=90)
    yield engine
    engine.dispose()


def _load(engine: sa.Engine, archive: LocalArchive | None = None) -> SnapshotSet:
    raw = engine.raw_connection()
    try:
        markets = resolve_markets(raw.cursor(), MarketFilter())
        raw.rollback()
        return load_snapshots(raw, markets, T0, END, archive=archive)
    finally:
        raw.close()


def _histories(engine: sa.Engine) -> list[object]:
    with engine.connect() as c:
        tickers = list(c.execute(sa.text("SELECT ticker FROM markets ORDER BY ticker")).scalars())
        return [
            get_history(c, HistoryRequest(t, T0, END, interval, price), now=NOW)
            for t in tickers[:6]
            for interval in ("1m", "5m", "1h", "1d")
            for price in ("mid", "last")
        ]


def _count(engine: sa.Engine, day: date) -> int:
    with engine.connect() as c:
        return int(
            c.execute(
                sa.text("SELECT count(*) FROM market_snapshots WHERE ts >= :a AND ts < :b"),
                {"a": day, "b": day + timedelta(days=1)},
            ).scalar_one()
        )


def test_a_partition_past_the_window_is_archived_verified_and_dropped(
    engine: sa.Engine, tmp_path: Path
) -> None:
    store = LocalArchive(tmp_path / "archive")
    with engine.connect() as c:
        assert {FIRST, SECOND} <= set(partition_days(c))
    before_rows = _count(engine, FIRST)
    before = _load(engine)
    histories = _histories(engine)
    result = run_backtest(before, registry.create("momentum"))

    report = run_maintenance(engine, now=NOW, store=store, retention_days=90)

    assert report.archived == [FIRST] and not report.failed
    assert report.partitions_created == 7  # today and the six days after
    with engine.connect() as c:
        days = partition_days(c)
        record = c.execute(sa.text("SELECT * FROM history_archives")).one()
    assert FIRST not in days and SECOND in days
    assert _count(engine, FIRST) == 0 and before_rows > 0
    assert (record.day, record.rows) == (FIRST, before_rows)
    assert record.verified_at is not None and record.dropped_at is not None
    manifest = json.loads((tmp_path / "archive/snapshots/day=2026-06-01/manifest.json").read_text())
    assert manifest["rows"] == before_rows and manifest["files"][0]["sha256"] == record.sha256

    after = _load(engine, archive=store)
    for column in ("market", "ts", "snapshot_id", "yes_bid", "yes_ask"):
        assert np.array_equal(getattr(before, column), getattr(after, column)), column
    assert _load(engine).n_rows < before.n_rows  # the archive really served the first day
    again = run_backtest(after, registry.create("momentum"))
    assert again.metrics == result.metrics
    assert _histories(engine) == histories

    # A second round finds nothing more to do.
    assert run_maintenance(engine, now=NOW, store=store).archived == []


def _report(engine: sa.Engine, end: datetime, archive: LocalArchive | None = None) -> Any:
    raw = engine.raw_connection()
    try:
        markets = resolve_markets(raw.cursor(), MarketFilter())
        raw.rollback()
        data = load_snapshots(raw, markets, T0, end, archive=archive)
        return fill_from_history(raw, markets, data, T0, end)[1]
    finally:
        raw.close()


def test_a_run_wholly_in_the_archive_reports_the_sources_it_had_before(
    engine: sa.Engine, tmp_path: Path
) -> None:
    """Postgres holds no snapshot of an archived day, so the sources of the rows the
    loader read from Parquet come from the loader itself, not from the database."""
    store = LocalArchive(tmp_path / "archive")
    end = T0 + timedelta(minutes=90)  # before midnight: the first day only
    before = _report(engine, end)
    assert before.market_sources and all(
        "poll" in sources for sources in before.market_sources.values()
    )
    assert run_maintenance(engine, now=NOW, store=store, retention_days=90).archived == [FIRST]
    after = _report(engine, end, archive=store)
    assert after.market_sources == before.market_sources
    assert after.coverage == before.coverage and after.sources == before.sources


@dataclass(frozen=True)
class CorruptingArchive(LocalArchive):
    """Stores what it is given but hands back one byte changed (a bad upload)."""

    def get(self, name: str) -> bytes:
        data = bytearray(super().get(name))
        data[len(data) // 2] ^= 0xFF
        return bytes(data)


def test_an_archive_that_does_not_verify_keeps_the_partition(
    engine: sa.Engine, tmp_path: Path
) -> None:
    rows = _count(engine, FIRST)
    with pytest.raises(ArchiveError), engine.begin() as c:
        archive_day(c, CorruptingArchive(tmp_path), FIRST)
    assert _count(engine, FIRST) == rows
    with engine.connect() as c:
        assert FIRST in partition_days(c)
        assert c.execute(sa.text("SELECT count(*) FROM history_archives")).scalar_one() == 0
    # And the database itself refuses to drop a day without a verified archive.
    with pytest.raises(sa.exc.DBAPIError, match="no verified archive"), engine.begin() as c:
        c.execute(sa.text("SELECT history_drop_partition(:d)"), {"d": FIRST})
