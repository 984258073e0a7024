"""The deployables' roles can do their part of history storage, as themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.backtest.data import MarketInfo
from shared.backtest.loader import load_snapshots
from shared.db.roles import deployable_url, ensure_local_logins
from shared.marketdata.ingest import write_poll
from tests.integration.marketdata.synthetic import synthetic_poll

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _engine(url: str, deployable: str | None = None) -> sa.Engine:
    target = url if deployable is None else deployable_url(url, deployable)
    return sa.create_engine(target, poolclass=NullPool)


def test_the_poller_writes_and_the_worker_loads_as_their_roles(migrated_database: str) -> None:
    owner = _engine(migrated_database)
    with owner.begin() as c:
        ensure_local_logins(c)
    owner.dispose()
    poller = _engine(migrated_database, "poll_markets")
    try:
        for i in range(3):  # a new day's partition is created by the poller's role
            with poller.begin() as c:
                write_poll(
                    c,
                    message_id=f"r-{i}",
                    polled_at=T0 + timedelta(days=i),
                    observations=synthetic_poll(5, poll=i),
                )
    finally:
        poller.dispose()
    worker = _engine(migrated_database, "backtest_worker")
    try:
        raw = worker.raw_connection()
        try:
            tickers = [o.ticker for o in synthetic_poll(5)]
            data = load_snapshots(
                raw, [MarketInfo(t) for t in sorted(tickers)], T0, T0 + timedelta(days=3)
            )
        finally:
            raw.close()
    finally:
        worker.dispose()
    assert data.n_rows == 15
