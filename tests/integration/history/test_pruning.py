"""Pruning long-settled markets from ``market_latest`` (ADR 0226), on a real Postgres.

A small world is polled through the real ingest; its last poll sees some markets
finalized and one closed. The daily round then prunes only what no poll saw for the
window: a backtest over the pruned markets loads and scores exactly as before (the
loader reads their last poll from ``markets.last_polled_at``), their detail, history and
candles still answer through the real ``markets`` function, a closed or vanished active
market waits until the poller stops following it, and a pruned market seen by a poll
again is re-inserted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.backtest.data import SnapshotSet
from shared.backtest.engine import run_backtest
from shared.backtest.loader import (
    MarketFilter,
    estimate_snapshots,
    load_snapshots,
    resolve_markets,
)
from shared.backtest.strategies import registry
from shared.history.maintenance import run_maintenance
from shared.history.pruning import prune_settled_markets
from shared.marketdata.ingest import write_poll
from shared.marketdata.observation import MarketObservation
from tests.function_env import function_environment
from tests.integration.history.world import STEP, T0, world

pytestmark = pytest.mark.integration

POLLS = 60
LAST = T0 + POLLS * STEP  # the poll that sees the settled markets finalized
END = LAST + timedelta(hours=2)
SETTLED = (0, 3, 4, 5)  # market 0 never moves: its last snapshot holds until its last poll
CLOSED = 9
WINDOW_DAYS = 7


def _final(o: MarketObservation) -> MarketObservation:
    return replace(
        o,
        status="finalized",
        result="yes",
        settlement_value_dollars=Decimal("1.0000"),
        settlement_ts=LAST,
    )


def _ingest(engine: sa.Engine) -> None:
    """Every poll of the world, then the last one seeing the settled and closed markets."""
    polls = list(world(polls=POLLS))
    for n, (polled_at, observations) in enumerate(polls):
        _write(engine, f"p-{n}", polled_at, observations)
    last = polls[-1][1]
    by_index = {int(o.ticker[-5:]): o for o in last}
    final = []
    for i, o in sorted(by_index.items()):
        if i in SETTLED:
            final.append(_final(o))
        elif i == CLOSED:
            final.append(replace(o, status="closed"))
        else:
            final.append(o)
    _write(engine, "p-last", LAST, final)


def _write(
    engine: sa.Engine, message: str, at: datetime, observations: list[MarketObservation]
) -> None:
    with engine.begin() as c:
        assert write_poll(c, message_id=message, polled_at=at, observations=observations)


@pytest.fixture
def world_engine(migrated_database: str) -> Iterator[tuple[sa.Engine, str]]:
    engine = sa.create_engine(migrated_database, poolclass=NullPool)
    _ingest(engine)
    yield engine, migrated_database
    engine.dispose()


def _ticker(engine: sa.Engine, i: int) -> str:
    with engine.connect() as c:
        return str(
            c.execute(
                sa.text("SELECT ticker FROM markets WHERE ticker LIKE :t"), {"t": f"%M{i:05d}"}
            ).scalar_one()
        )


def _latest(engine: sa.Engine) -> dict[str, datetime]:
    with engine.connect() as c:
        return {r[0]: r[1] for r in c.execute(sa.text("SELECT ticker, ts FROM market_latest"))}


def _last_polled(engine: sa.Engine) -> dict[str, datetime]:
    with engine.connect() as c:
        rows = c.execute(
            sa.text("SELECT ticker, last_polled_at FROM markets WHERE last_polled_at IS NOT NULL")
        )
        return {r[0]: r[1] for r in rows}


def _load(engine: sa.Engine) -> tuple[SnapshotSet, Any]:
    """Every market's snapshots in the window as the loader expands them, and the size
    estimate a submission checks."""
    raw = engine.raw_connection()
    try:
        markets = resolve_markets(raw.cursor(), MarketFilter())
        raw.rollback()
        loaded = load_snapshots(raw, markets, T0, END)
        estimate = estimate_snapshots(raw, [m.ticker for m in markets], T0, END)
    finally:
        raw.close()
    return loaded, estimate


def _same(before: SnapshotSet, after: SnapshotSet) -> bool:
    return all(
        np.array_equal(getattr(before, column), getattr(after, column))
        for column in ("market", "ts", "snapshot_id", "yes_bid", "yes_ask")
    )


def test_the_daily_round_prunes_only_long_settled_markets_and_backtests_do_not_change(
    world_engine: tuple[sa.Engine, str],
) -> None:
    engine, _ = world_engine
    settled = {_ticker(engine, i) for i in SETTLED}
    closed = _ticker(engine, CLOSED)
    before_latest = _latest(engine)
    loaded, estimate = _load(engine)
    result = run_backtest(loaded, registry.create("momentum"))
    assert len(result.trades) > 0

    # Inside the window nothing goes.
    early = run_maintenance(engine, now=LAST + timedelta(days=WINDOW_DAYS - 1))
    assert early.markets_pruned == 0 and _latest(engine) == before_latest

    report = run_maintenance(
        engine, now=LAST + timedelta(days=WINDOW_DAYS + 1), settled_market_retention_days=7
    )
    assert report.ran and report.markets_pruned == len(SETTLED)
    after_latest = _latest(engine)
    assert set(before_latest) - set(after_latest) == settled
    assert closed in after_latest  # still followed by the poller (14 days)
    # Their last poll moved to markets; nothing else was written there.
    assert _last_polled(engine) == {t: before_latest[t] for t in settled}

    again, again_estimate = _load(engine)
    assert _same(loaded, again)
    assert again_estimate == estimate
    assert run_backtest(again, registry.create("momentum")).metrics == result.metrics

    # Idempotent: a second round (a rerun the same day) finds nothing.
    rerun = run_maintenance(engine, now=LAST + timedelta(days=WINDOW_DAYS + 1))
    assert rerun.markets_pruned == 0

    # The test can fail: without the moved last poll the quiet market's hold is lost.
    with engine.begin() as c:
        c.execute(sa.text("UPDATE markets SET last_polled_at = NULL"))
    lost, _ = _load(engine)
    assert not _same(loaded, lost)


def test_an_unsettled_market_goes_once_the_poller_stops_following_it(
    world_engine: tuple[sa.Engine, str],
) -> None:
    """Closed, or still active but no longer returned by Kalshi: no poll will see it again
    once the poller stops following it (14 days), so it leaves the list then, not before,
    and not while polls have stopped."""
    engine, _ = world_engine
    closed = _ticker(engine, CLOSED)
    vanished = _ticker(engine, 2)  # active at the last poll, then never returned again
    seen_at = _latest(engine)
    # Polls stopped at LAST (an outage): however late the round, only the settled go.
    late = LAST + timedelta(days=400)
    assert prune_settled_markets(engine, late, batch=1) == len(SETTLED)
    assert {closed, vanished} <= set(_latest(engine))
    # Polls go on without them: followed for 14 days after they were last seen.
    gone = {closed, vanished, *(_ticker(engine, i) for i in SETTLED)}
    still = [o for o in list(world(polls=POLLS))[-1][1] if o.ticker not in gone]
    _write(engine, "p-13-days", LAST + timedelta(days=13), still)
    assert prune_settled_markets(engine, LAST + timedelta(days=13)) == 0
    _write(engine, "p-15-days", LAST + timedelta(days=15), still)
    assert prune_settled_markets(engine, LAST + timedelta(days=15), batch=1) == 2
    latest = _latest(engine)
    assert closed not in latest and vanished not in latest
    assert {o.ticker for o in still} <= set(latest)
    assert _last_polled(engine)[vanished] == seen_at[vanished]
    assert prune_settled_markets(engine, late) == 0
    # Window 0 turns pruning off.
    assert prune_settled_markets(engine, late, window=timedelta(0)) == 0


def test_a_pruned_market_answers_its_detail_history_and_candles_and_a_relisted_one_returns(
    world_engine: tuple[sa.Engine, str],
) -> None:
    engine, url = world_engine
    import functions_framework

    pruned = _ticker(engine, 3)
    listed_before = _list(url, functions_framework)
    assert pruned in listed_before["settled"]
    history_before = _history(url, functions_framework, pruned)

    assert prune_settled_markets(engine, LAST + timedelta(days=WINDOW_DAYS + 1)) == len(SETTLED)

    with function_environment(_env(url)):
        client = functions_framework.create_app(
            "markets", "functions/markets/main.py", "http"
        ).test_client()
        response = client.get(f"/api/v1/markets/{pruned}")
        assert response.status_code == 200, response.get_json()
        market = response.get_json()["market"]
        assert market["status"] == "finalized" and market["result"] == "yes"
        assert market["settlement_value_dollars"] == "1.0000"
        assert market["as_of"] is None and market["yes_bid_dollars"] is None
        assert market["volume_fp"] is None
        missing = client.get("/api/v1/markets/KXNOPE-1")
        assert missing.status_code == 404 and missing.get_json()["error"] == "market_not_found"
    assert _history(url, functions_framework, pruned) == history_before
    listed = _list(url, functions_framework)
    assert pruned not in listed["settled"] and pruned not in listed["all"]
    assert listed["open"] == listed_before["open"]

    # Seen by a poll again (re-listed): the poll's insert of missing rows brings it back.
    relisted_at = LAST + timedelta(days=WINDOW_DAYS + 2)
    observation = next(o for o in next(world(polls=1))[1] if o.ticker == pruned)
    _write(engine, "p-relisted", relisted_at, [replace(observation, status="active")])
    assert _latest(engine)[pruned] == relisted_at
    listed = _list(url, functions_framework)
    assert pruned in listed["open"]
    with engine.connect() as c:
        status = c.execute(
            sa.text("SELECT status FROM markets WHERE ticker = :t"), {"t": pruned}
        ).scalar_one()
    assert status == "active"


def _env(url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": url,
        "KALSHI_BASE_URL": "http://127.0.0.1:9",  # never asked: no order book is read
        "MARKETS_LIST_REVALIDATE_SECONDS": "0",
    }


def _list(url: str, functions_framework: Any) -> dict[str, list[str]]:
    with function_environment(_env(url)):
        client = functions_framework.create_app(
            "markets", "functions/markets/main.py", "http"
        ).test_client()
        out = {}
        for name, query in (
            ("open", {"status": "open"}),
            ("settled", {"status": "settled"}),
            ("all", {}),
        ):
            response = client.get("/api/v1/markets", query_string={**query, "limit": 500})
            assert response.status_code == 200, response.get_json()
            out[name] = [m["ticker"] for m in response.get_json()["markets"]]
        return out


def _history(url: str, functions_framework: Any, ticker: str) -> list[Any]:
    with function_environment(_env(url)):
        client = functions_framework.create_app(
            "markets", "functions/markets/main.py", "http"
        ).test_client()
        answers = []
        for interval in ("1m", "1h", "1d"):
            response = client.get(
                f"/api/v1/markets/{ticker}/history",
                query_string={
                    "start": T0.isoformat().replace("+00:00", "Z"),
                    "end": END.isoformat().replace("+00:00", "Z"),
                    "interval": interval,
                },
            )
            assert response.status_code == 200, response.get_json()
            body = response.get_json()
            assert body["candles"], interval
            answers.append(body["candles"])
        return answers


def test_the_poller_prunes_and_the_worker_reads_the_last_poll_as_their_roles(
    world_engine: tuple[sa.Engine, str],
) -> None:
    from shared.db.roles import deployable_url, ensure_local_logins

    engine, url = world_engine
    with engine.begin() as c:
        ensure_local_logins(c)
    poller = sa.create_engine(deployable_url(url, "poll_markets"), poolclass=NullPool)
    try:
        report = run_maintenance(poller, now=LAST + timedelta(days=WINDOW_DAYS + 1))
    finally:
        poller.dispose()
    assert report.markets_pruned == len(SETTLED)
    worker = sa.create_engine(deployable_url(url, "backtest_worker"), poolclass=NullPool)
    try:
        loaded, _ = _load(worker)
    finally:
        worker.dispose()
    assert loaded.n_rows > 0
