"""The backtest service against a real Postgres (and the Pub/Sub emulator for its events):
submissions sized from the hourly rollups, duplicate deliveries while an attempt is alive,
the heartbeat, the reaper, the last attempt, permanent strategy errors, re-announcing a
completed run, and snapshots without quotes through the binary COPY."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import numpy as np
import pytest
from sqlalchemy import text

from devstack.pubsub_admin import ensure_topology
from shared.backtest import service as service_module
from shared.backtest.adapters import PubSubEvents
from shared.backtest.data import MISSING
from shared.backtest.errors import InvalidBacktestRequest
from shared.backtest.loader import MarketFilter, load_snapshots, resolve_markets
from shared.backtest.service import BacktestService, parse_request
from shared.backtest.settings import WorkerSettings
from shared.backtest.strategies import Signals, Strategy, StrategyView, register, unregister
from shared.config import DatabaseSettings
from shared.db.engine import Database, create_database
from shared.marketdata.ingest import rebuild_candles
from shared.messaging.envelope import Envelope
from shared.messaging.topics import BACKTEST_EVENTS, subscription_path
from tests.plugins.gcp_emulators import pull_envelopes

pytestmark = pytest.mark.integration

T0 = datetime(2026, 6, 1, tzinfo=UTC)
PER_MARKET = 120
REQUEST: dict[str, Any] = {
    "strategy": "fade_large_moves",
    "params": {"lookback": 1, "threshold": 0.05, "contracts": 5},
    "markets": {"series": ["KXSV"]},
    "start": T0.isoformat(),
    "end": (T0 + timedelta(hours=3)).isoformat(),
}


def _seed(database: Database, *, markets: int = 3, rollups: bool = True) -> None:
    """``markets`` markets of series KXSV, 120 one-minute snapshots each, zig-zagging."""
    raw = database.engine.raw_connection()
    try:
        cur = raw.cursor()
        rows, snaps = [], []
        close = (T0 + timedelta(minutes=PER_MARKET + 5)).isoformat()
        for m in range(markets):
            ticker = f"KXSV-{m}"
            rows.append(f"{ticker}\tKXSV-EV\tKXSV\tt\tfinalized\t{close}\tyes\n")
            for i in range(PER_MARKET):
                mid = 4000 + ((i * 7 + m * 13) % 11) * 300
                ts = (T0 + timedelta(minutes=i)).isoformat()
                snaps.append(f"{ticker}\t{ts}\tpoll\t0.{mid - 100:04d}\t0.{mid + 100:04d}\n")
        cur.execute(
            "COPY markets (ticker, event_ticker, series_ticker, title, status, close_time, "
            "result) FROM STDIN",
            stream=io.BytesIO("".join(rows).encode()),
        )
        cur.execute(
            "COPY market_snapshots (ticker, ts, source, yes_bid_dollars, yes_ask_dollars) "
            "FROM STDIN",
            stream=io.BytesIO("".join(snaps).encode()),
        )
        raw.commit()
    finally:
        raw.close()
    if rollups:
        with database.engine.begin() as connection:
            rebuild_candles(connection)


@pytest.fixture
def database(migrated_database: str) -> Iterator[Database]:
    db = create_database(DatabaseSettings(database_url=migrated_database))
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def seeded(database: Database) -> Database:
    _seed(database)
    return database


def _run_state(database: Database, run_id: uuid.UUID) -> dict[str, Any]:
    with database.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT r.status, r.error, d.stage, d.attempts, d.updated_at "
                "FROM backtest_runs r JOIN backtest_run_details d ON d.run_id = r.id "
                "WHERE r.id = :id"
            ),
            {"id": run_id},
        ).one()
    return dict(row._mapping)


def _set(database: Database, run_id: uuid.UUID, runs: str, details: str) -> None:
    with database.engine.begin() as connection:
        connection.execute(text(f"UPDATE backtest_runs SET {runs} WHERE id = :id"), {"id": run_id})
        connection.execute(
            text(f"UPDATE backtest_run_details SET {details} WHERE run_id = :id"), {"id": run_id}
        )


# -- submit: sized from the rollups, bounded before anything is read -----------------------


def test_submit_sizes_the_run_from_the_hourly_rollups(seeded: Database) -> None:
    service = BacktestService(seeded)
    created = service.submit(REQUEST)
    run = service.get_run(uuid.UUID(created["id"]))
    # 3 markets x 120 snapshots, every one of them in the window: the rollups' samples.
    assert run["snapshots"] == 3 * PER_MARKET

    # The estimate reads market_candles, never market_snapshots: without the rollups the
    # same snapshots are not counted (before: every POST counted the snapshots themselves).
    with seeded.engine.begin() as connection:
        connection.execute(text("DELETE FROM market_candles"))
    with pytest.raises(InvalidBacktestRequest) as caught:
        service.submit(REQUEST)
    assert caught.value.code == "no_data"


def test_submit_refuses_more_snapshots_than_the_workers_memory_holds(seeded: Database) -> None:
    tiny = BacktestService(seeded, worker=WorkerSettings(memory_mb=534))
    assert tiny.worker.max_snapshots == 4_681  # 0.5 MB usable at 112 bytes a snapshot
    assert tiny.submit(REQUEST)["status"] == "queued"  # 360 snapshots
    with seeded.engine.begin() as connection:  # twenty times the data: 7,200 snapshots
        connection.execute(text("UPDATE market_candles SET samples = samples * 20"))
    with pytest.raises(InvalidBacktestRequest) as caught:
        tiny.submit(REQUEST)
    assert caught.value.code == "too_large" and "about 7,200 snapshots" in str(caught.value)


def test_the_worker_refuses_a_run_that_outgrew_its_memory_before_loading(
    seeded: Database,
) -> None:
    tiny = WorkerSettings(memory_mb=534)  # 4,681 snapshots
    run_id = uuid.UUID(BacktestService(seeded, worker=tiny).submit(REQUEST)["id"])
    with seeded.engine.begin() as connection:  # the data grew after the submission
        connection.execute(text("UPDATE market_candles SET samples = samples * 20"))
    # Before: loaded anyway (in the cloud: killed for memory on every attempt).
    outcome = BacktestService(seeded, worker=tiny).execute(run_id, final_attempt=False)
    assert outcome.status == "failed" and outcome.error
    assert outcome.error.startswith("too_large:")
    assert _run_state(seeded, run_id)["status"] == "failed"


def test_submit_bounds_the_market_count_first(
    seeded: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "MAX_MARKETS", 2)
    with pytest.raises(InvalidBacktestRequest) as caught:
        BacktestService(seeded).submit(REQUEST)
    assert caught.value.code == "too_large" and "3 markets" in str(caught.value)


# -- duplicate deliveries, the heartbeat and the reaper -----------------------------------


def test_a_delivery_while_another_attempt_is_alive_stands_down(seeded: Database) -> None:
    service = BacktestService(seeded)
    run_id = uuid.UUID(service.submit(REQUEST)["id"])
    _set(
        seeded, run_id, "status = 'running', started_at = now()", "attempts = 1, updated_at = now()"
    )
    # Before: the duplicate ran a second attempt beside the live one.
    assert service.execute(run_id).status == "already_running"
    state = _run_state(seeded, run_id)
    assert (state["status"], state["attempts"]) == ("running", 1)

    # The live attempt died (its heartbeat stopped): the next delivery takes the run over.
    _set(seeded, run_id, "status = 'running'", "updated_at = now() - interval '5 minutes'")
    assert service.execute(run_id).status == "completed"
    assert _run_state(seeded, run_id)["attempts"] == 2


_heartbeats_seen: list[bool] = []


class WaitsForItsHeartbeat(Strategy):
    """Blocks inside ``signals`` until the run's heartbeat moved (or 30 s passed)."""

    name = "test_waits_for_heartbeat"
    version = "test-1"
    params_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"run": {"type": "string", "default": "", "description": "run id"}},
    }
    database: ClassVar[Database | None] = None

    def signals(self, view: StrategyView) -> Signals:
        assert self.database is not None
        run_id = uuid.UUID(str(self.params["run"]))
        with self.database.engine.connect() as connection:
            first = connection.execute(
                text("SELECT updated_at FROM backtest_run_details WHERE run_id = :id"),
                {"id": run_id},
            ).scalar_one()
        deadline = time.monotonic() + 30
        moved = False
        while not moved and time.monotonic() < deadline:
            with self.database.engine.connect() as connection:
                now = connection.execute(
                    text("SELECT updated_at FROM backtest_run_details WHERE run_id = :id"),
                    {"id": run_id},
                ).scalar_one()
            moved = now > first
            if not moved:
                time.sleep(0.05)  # polling a condition, with the deadline above
        _heartbeats_seen.append(moved)
        return Signals(entry=np.zeros(view.n_rows, dtype=np.int8))


def test_a_running_attempt_keeps_its_heartbeat_fresh(seeded: Database) -> None:
    WaitsForItsHeartbeat.database = seeded
    try:
        service = BacktestService(seeded)
        service.heartbeat_s = 0.2
        body = {**REQUEST, "strategy": WaitsForItsHeartbeat.name, "params": {}}
        run_id = uuid.UUID(service.submit(body)["id"])
        with seeded.engine.begin() as connection:
            connection.execute(
                text("UPDATE backtest_runs SET params = CAST(:p AS jsonb) WHERE id = :id"),
                {"p": f'{{"run": "{run_id}"}}', "id": run_id},
            )
        _heartbeats_seen.clear()
        assert service.execute(run_id).status == "completed"
        # The look-ahead audit calls signals again; every call saw the heartbeat move.
        assert _heartbeats_seen and all(_heartbeats_seen)
    finally:
        WaitsForItsHeartbeat.database = None


def test_the_reaper_fails_runs_no_attempt_can_finish(seeded: Database) -> None:
    service = BacktestService(seeded, worker=WorkerSettings(timeout_s=600, max_attempts=3))
    stuck = uuid.UUID(service.submit(REQUEST)["id"])
    slow_but_alive = uuid.UUID(service.submit(REQUEST)["id"])
    young = uuid.UUID(service.submit(REQUEST)["id"])
    # 600 s x 3 attempts = 30 minutes: "stuck" started 31 minutes ago and went quiet.
    _set(
        seeded,
        stuck,
        "status = 'running', started_at = now() - interval '31 minutes'",
        "updated_at = now() - interval '10 minutes'",
    )
    _set(
        seeded,
        slow_but_alive,
        "status = 'running', started_at = now() - interval '31 minutes'",
        "updated_at = now()",
    )
    _set(
        seeded,
        young,
        "status = 'running', started_at = now() - interval '20 minutes'",
        "updated_at = now() - interval '10 minutes'",
    )
    # Before: nothing ever moved a run out of "running".
    listed = {item["id"]: item["status"] for item in service.list_runs()["items"]}
    assert listed[str(stuck)] == "failed"
    assert listed[str(slow_but_alive)] == "running" and listed[str(young)] == "running"
    state = _run_state(seeded, stuck)
    assert state["stage"] == "failed" and "3 attempts of 600 s" in state["error"]
    # A late delivery for the reaped run changes nothing.
    assert service.execute(stuck).status == "already_failed"


# -- the last attempt, permanent strategy errors, re-announcing ----------------------------


@pytest.fixture
def events(pubsub_project: str) -> Iterator[tuple[PubSubEvents, str]]:
    ensure_topology(pubsub_project, pull_subscriptions=[(BACKTEST_EVENTS, "bt-service-test")])
    yield PubSubEvents(pubsub_project), subscription_path(pubsub_project, "bt-service-test")


def _pull_until(subscription: str, event_type: str, timeout: float = 60) -> list[Envelope]:
    """Every envelope pulled up to and including the first of ``event_type``."""
    seen: list[Envelope] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = pull_envelopes(
            subscription, expect=1, timeout=max(1.0, deadline - time.monotonic())
        )
        seen.extend(batch)
        if any(e.type == event_type for e in batch):
            return seen
    raise AssertionError(f"no {event_type} among {[e.type for e in seen]}")


def test_the_last_attempt_marks_a_transient_failure_failed(
    seeded: Database, events: tuple[PubSubEvents, str]
) -> None:
    sink, subscription = events
    service = BacktestService(seeded, events=sink)
    run_id = uuid.UUID(service.submit(REQUEST)["id"])
    with seeded.engine.begin() as connection:  # a real database failure while storing
        connection.execute(
            text(
                "CREATE FUNCTION refuse_trades() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'disk full (test)'; END $$"
            )
        )
        connection.execute(
            text(
                "CREATE TRIGGER refuse_trades BEFORE INSERT ON backtest_trades "
                "FOR EACH ROW EXECUTE FUNCTION refuse_trades()"
            )
        )
    # An earlier attempt: the error goes to the queue (503, retried), the run stays
    # running and the attempt gives up its claim so the retry is not taken for a duplicate.
    with pytest.raises(Exception, match="disk full"):
        service.execute(run_id, final_attempt=False)
    state = _run_state(seeded, run_id)
    assert (state["status"], state["stage"]) == ("running", "retrying")
    # The last attempt: the run is failed for good and the failure announced.
    outcome = service.execute(run_id, final_attempt=True)
    assert outcome.status == "failed" and outcome.error
    assert "after its last attempt" in outcome.error
    state = _run_state(seeded, run_id)
    assert (state["status"], state["attempts"]) == ("failed", 2)
    failed = [
        e for e in _pull_until(subscription, "backtest.failed") if e.type == "backtest.failed"
    ]
    assert failed[0].idempotency_key == f"backtest:{run_id}:failed"
    assert failed[0].payload["error"]["code"] == "internal"


class Broken(Strategy):
    name = "test_broken_strategy"
    version = "test-1"
    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def signals(self, view: StrategyView) -> Signals:
        raise ZeroDivisionError("the strategy's own bug")


def test_a_strategy_error_fails_the_run_permanently(
    seeded: Database, events: tuple[PubSubEvents, str]
) -> None:
    sink, subscription = events
    service = BacktestService(seeded, events=sink)
    run_id = uuid.UUID(service.submit({**REQUEST, "strategy": Broken.name, "params": {}})["id"])
    # Not the last attempt, yet failed at once: a retry cannot fix the strategy's code.
    outcome = service.execute(run_id, final_attempt=False)
    assert outcome.status == "failed" and outcome.error
    assert outcome.error.startswith("strategy_error:") and "ZeroDivisionError" in outcome.error
    assert _run_state(seeded, run_id)["status"] == "failed"
    assert service.execute(run_id).status == "already_failed"
    failed = [
        e for e in _pull_until(subscription, "backtest.failed") if e.type == "backtest.failed"
    ]
    assert failed[0].payload["error"]["code"] == "strategy_error"


def test_a_completed_but_unannounced_run_is_announced_once(
    seeded: Database, events: tuple[PubSubEvents, str]
) -> None:
    sink, subscription = events
    service = BacktestService(seeded, events=sink)
    run_id = uuid.UUID(service.submit(REQUEST)["id"])
    assert service.execute(run_id).status == "completed"
    first = [
        e for e in _pull_until(subscription, "backtest.completed") if e.type == "backtest.completed"
    ]
    assert _run_state(seeded, run_id)["stage"] == "announced"

    # A crash between the commit and the publish: stored ("done"), not announced.
    _set(seeded, run_id, "status = 'completed'", "stage = 'done'")
    assert service.execute(run_id).status == "already_completed"
    again = [
        e for e in _pull_until(subscription, "backtest.completed") if e.type == "backtest.completed"
    ]
    assert again[0].idempotency_key == first[0].idempotency_key == f"backtest:{run_id}:completed"
    assert again[0].payload["metrics"] == first[0].payload["metrics"]
    assert _run_state(seeded, run_id)["stage"] == "announced"
    assert _run_state(seeded, run_id)["attempts"] == 1  # announced, not recomputed


# -- the loader: snapshots without quotes --------------------------------------------------


def test_the_binary_copy_loads_snapshots_without_quotes_as_missing(database: Database) -> None:
    raw = database.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(
            "INSERT INTO markets (ticker, event_ticker, series_ticker, title, status) VALUES "
            "('KXQ-A', 'KXQ-EV', 'KXQ', 't', 'open'), ('KXQ-B', 'KXQ-EV', 'KXQ', 't', 'open')"
        )
        rows = [
            ("KXQ-A", 0, "0.4100", "0.4300"),
            ("KXQ-A", 1, None, "0.4400"),  # no bid
            ("KXQ-A", 2, "0.4200", None),  # no ask
            ("KXQ-A", 3, None, None),  # an empty book
            ("KXQ-B", 0, None, None),  # a market that never had a quote
            ("KXQ-B", 1, None, None),
        ]
        for ticker, minute, bid, ask in rows:
            cur.execute(
                "INSERT INTO market_snapshots (ticker, ts, source, yes_bid_dollars, "
                "yes_ask_dollars) VALUES (%s, %s, 'poll', %s, %s)",
                (ticker, T0 + timedelta(minutes=minute), bid, ask),
            )
        raw.commit()
        markets = resolve_markets(raw.cursor(), MarketFilter(series=("KXQ",)))
        raw.rollback()
        data = load_snapshots(raw, markets, T0, T0 + timedelta(hours=1))
    finally:
        raw.close()
    assert data.tickers == ("KXQ-A", "KXQ-B")
    assert data.market.tolist() == [0, 0, 0, 0, 1, 1]
    assert data.yes_bid.tolist() == [4100, MISSING, 4200, MISSING, MISSING, MISSING]
    assert data.yes_ask.tolist() == [4300, 4400, MISSING, MISSING, MISSING, MISSING]
    assert np.all(np.diff(data.ts[:4]) == 60_000_000)


def test_parse_request_accepts_the_seeded_request() -> None:
    # Guard for the fixtures above: the shared request stays valid as limits change.
    assert parse_request(REQUEST).markets == MarketFilter(series=("KXSV",))


@pytest.fixture(autouse=True, scope="module")
def _test_strategies() -> Iterator[None]:
    """Registered only while this module's tests run: a registration at import would leak
    into every module collected after it (the look-ahead audit parametrizes over the
    registry at collection time)."""
    for strategy in (WaitsForItsHeartbeat, Broken):
        register(strategy)
    yield
    for strategy in (WaitsForItsHeartbeat, Broken):
        unregister(strategy.name)


def test_the_mid_rule_is_the_same_in_python_numpy_sql_and_the_ingest(database: Database) -> None:
    """One rule: the engine's mid, the Decimal mid and the SQL the rollups use agree on every
    kind of book, including the one-sided ones Kalshi shows as 0.0000 / 1.0000."""
    from decimal import Decimal

    from shared.domain.prices import mid_price, mid_price_sql, mid_price_ticks
    from shared.domain.units import PRICE_SCALE
    from shared.marketdata.sql import MID_SQL

    prices = ["0.0000", "0.0001", "0.4100", "0.4150", "0.6200", "0.9999", "1.0000", None]
    books = [(b, a) for b in prices for a in prices]
    values = ", ".join(
        f"({'NULL' if b is None else b}::numeric, {'NULL' if a is None else a}::numeric)"
        for b, a in books
    )
    with database.engine.connect() as connection:
        rows = connection.execute(
            text(
                f"SELECT {mid_price_sql('q.')}, {MID_SQL.format(p='q.')} FROM (VALUES {values}) "
                "AS q(yes_bid_dollars, yes_ask_dollars)"
            )
        ).all()
    ticks = mid_price_ticks(
        np.array([-1 if b is None else int(Decimal(b) * PRICE_SCALE) for b, _ in books]),
        np.array([-1 if a is None else int(Decimal(a) * PRICE_SCALE) for _, a in books]),
        PRICE_SCALE,
    )
    for (bid, ask), (sql_mid, ingest_mid), engine_mid in zip(books, rows, ticks, strict=True):
        expected = mid_price(
            None if bid is None else Decimal(bid), None if ask is None else Decimal(ask)
        )
        assert sql_mid == expected == ingest_mid, (bid, ask)
        assert (np.isnan(engine_mid) and expected is None) or Decimal(str(engine_mid)) == expected
