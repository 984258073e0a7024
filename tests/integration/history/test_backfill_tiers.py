"""The backfill and Kalshi's two tiers, against the simulator.

Seed 77 at ``START`` starts its world with the six markets of ``KXHIGHMIA-26OCT15`` already
settled, minutes before the world (and so before the default cutoff) began: a backfill of
``KXHIGHMIA`` over the last days must load them from ``/historical/*`` like the seeded past,
where it used to fail all six with ``HTTP 404 on /historical/markets/<ticker>/candlesticks``.
And when a tier answers 404 for a market the other tier holds (the tier guessed from the
settlement time was wrong), the backfill reads the other tier instead of failing it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer
from shared.history.backfill_kalshi import KalshiHistory, MarketInfo
from shared.kalshi.client import KalshiClient
from shared.kalshi.errors import NotFoundError

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
START = dt.datetime(2026, 10, 15, 12, 0, tzinfo=dt.UTC)
SERIES = "KXHIGHMIA"
WORLD_EVENT = "KXHIGHMIA-26OCT15"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    config = SimConfig(seed=77, n_markets=40, tick_interval_s=None, start_time_s=START.timestamp())
    with SimulatorServer(config) as server:
        yield server


def test_backfill_loads_world_markets_settled_before_the_cutoff(
    sim: SimulatorServer, migrated_database: str
) -> None:
    key_id, pem = sim.create_account()
    # A generous Read budget: this test is about tiers, not pacing.
    budget = {"refill_rate": 5000, "bucket_capacity": 5000, "enforce": False}
    httpx.post(sim.admin_url + "/budget", json=budget).raise_for_status()
    env = dict(os.environ)
    env.update(
        {
            "KALSHI_BASE_URL": sim.base_url,
            "KALSHI_KEY_ID": key_id,
            "KALSHI_PRIVATE_KEY": pem,
            "PYTHONPATH": str(ROOT),
        }
    )
    env.pop("KALSHI_PRIVATE_KEY_PATH", None)
    args = [
        sys.executable, "-m", "devstack.cli", "backfill", "--database-url", migrated_database,
        "--since", (START - dt.timedelta(days=2)).isoformat(), "--until", START.isoformat(),
        "--series", SERIES, "--workers", "4", "--json",
    ]  # fmt: skip
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert summary["failures"] == {}
    engine = sa.create_engine(migrated_database, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            world: dict[str, str] = dict(
                connection.execute(
                    sa.text("SELECT ticker, result FROM markets WHERE event_ticker = :e"),
                    {"e": WORLD_EVENT},
                ).all()
            )
            done = connection.execute(
                sa.text(
                    "SELECT count(*) FROM backfill_checkpoints "
                    "WHERE completed_at IS NOT NULL AND ticker LIKE :e"
                ),
                {"e": WORLD_EVENT + "-%"},
            ).scalar_one()
    finally:
        engine.dispose()
    assert len(world) == 6 and set(world.values()) <= {"yes", "no"}
    assert done == 6


def test_a_404_on_one_tier_reads_the_other(sim: SimulatorServer) -> None:
    httpx.post(sim.admin_url + "/history", json={"live_days": 1}).raise_for_status()
    with KalshiClient(base_url=sim.base_url, rate_limit=False) as client:
        history = KalshiHistory(client)
        markets = history.markets_of_series("KXHIGHNY")
        old = next(m for m in markets if m.historical)
        recent = next(m for m in markets if not m.historical and m.status == "finalized")
        for market in (old, recent):
            right = [c for page in history.candles(market, 60, *_span(market)) for c in page]
            assert right
            # The same market believed to be in the other tier: the 404 there is not final.
            wrong = MarketInfo(**{**market.__dict__, "historical": not market.historical})
            fresh = KalshiHistory(client)
            sent = client.stats.requests_sent
            pages = [list(p) for p in fresh.candles(wrong, 60, *_span(market))]
            assert [c for page in pages for c in page] == right
            assert client.stats.requests_sent - sent == 2  # one 404, one answer
            # The tier it learnt is used straight away for the market's next request.
            sent = client.stats.requests_sent
            list(fresh.candles(wrong, 1440, *_span(market)))
            assert client.stats.requests_sent - sent == 1
        # A market neither tier has still fails, naming both tiers.
        ghost = MarketInfo(**{**old.__dict__, "ticker": "KXHIGHNY-00JAN01-B1.5"})
        with pytest.raises(NotFoundError) as caught:
            list(KalshiHistory(client).candles(ghost, 60, *_span(old)))
        assert caught.value.status == 404 and "neither tier" in caught.value.message


def _span(market: MarketInfo) -> tuple[dt.datetime, dt.datetime]:
    assert market.open_time is not None and market.close_time is not None
    return market.open_time, market.close_time
