"""The history endpoint's fast path (hourly rollups folded at ingest) equals the naive one
(GROUP BY over raw snapshots) on production-shaped data, not only in the benchmark.

Production shape: many markets in every poll, polls every 7 to 11 minutes across hour and
day boundaries, one poll delivered late (out of order), markets appearing and leaving the
open list, one-sided quotes (no midpoint), markets never traded (no last price), and
volume that only grows. Everything goes in through :func:`write_poll`.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from shared.marketdata.ingest import write_poll
from shared.marketdata.queries import _BASELINE_SNAPSHOT, HistoryRequest, get_history, history_sql
from tests.integration.marketdata.synthetic import synthetic_poll

pytestmark = pytest.mark.integration

START = datetime(2026, 6, 11, 21, 3, tzinfo=UTC)
MARKETS = 60
POLLS = 48


def _shaped(poll: int, rng: random.Random) -> list:
    observations = []
    for o in synthetic_poll(MARKETS, poll=poll):
        i = int(o.ticker[-5:])
        if i % 7 == poll % 7:  # left the open list for this poll
            continue
        if i < 10 and poll < 12:  # listed later
            continue
        if rng.random() < 0.15:  # one-sided: no midpoint
            o = replace(o, yes_bid_dollars=Decimal("0.0000"))
        if i % 11 == 0:  # never traded
            o = replace(o, last_price_dollars=Decimal("0.0000"))
        observations.append(o)
    return observations


@pytest.fixture
def ingested(engine: sa.Engine) -> list[str]:
    rng = random.Random(11)
    times, t = [], START
    for _ in range(POLLS):
        times.append(t)
        t += timedelta(minutes=rng.randint(7, 11))
    order = list(range(POLLS))
    order[20], order[21] = order[21], order[20]  # one poll arrives after the next
    for poll in order:
        with engine.begin() as c:
            write_poll(
                c,
                message_id=f"h-{poll}",
                polled_at=times[poll],
                observations=_shaped(poll, rng),
            )
    with engine.connect() as c:
        return list(c.execute(sa.text("SELECT ticker FROM markets ORDER BY ticker")).scalars())


def test_rollup_candles_equal_raw_snapshot_candles(engine, ingested):
    end = START + timedelta(hours=12)
    checked = 0
    for price in ("mid", "last"):
        for interval in ("1h", "4h"):
            for ticker in ingested:
                for start in (START, START + timedelta(hours=3, minutes=30)):
                    fast, naive = _both_paths(
                        engine, HistoryRequest(ticker, start, end, interval, price), end
                    )
                    assert fast.interval == interval
                    assert [
                        (k.t, k.open, k.high, k.low, k.close, k.volume, k.samples)
                        for k in fast.candles
                    ] == [
                        (r.bucket, r.open, r.high, r.low, r.close, r.volume, r.samples)
                        for r in naive
                    ], (ticker, start, price, interval)
                    checked += len(naive)
    assert checked > MARKETS * 16  # the comparison saw real candles, not empty lists


def _both_paths(engine: sa.Engine, request: HistoryRequest, end: datetime) -> tuple[Any, Any]:
    """The endpoint's answer, and the naive GROUP BY over snapshots for the same range."""
    with engine.connect() as c:
        fast = get_history(c, request, now=end)
        params = {"ticker": request.ticker, "start": fast.start, "end": end}
        baseline = c.execute(sa.text(_BASELINE_SNAPSHOT), params).scalar()
        seconds = fast.interval_seconds
        naive = c.execute(
            sa.text(history_sql(request.price, from_rollups=False, interval_seconds=seconds)),
            {**params, "i": seconds, "baseline": baseline},
        ).all()
    return fast, naive
