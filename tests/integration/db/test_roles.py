"""Least privilege in the database (docs/decisions/0080): each deployable's role can do
what its function does, run for real as that role, and nothing more. The markets role in
particular cannot read the credential vault."""

from __future__ import annotations

import io
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pg8000.native
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from devstack.postgres import LocalPostgres
from shared.config import DatabaseSettings
from shared.db import migrate
from shared.db.engine import create_database, dispose_database
from shared.db.roles import GROUP_ROLES, deployable_url, ensure_local_logins

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
CREDENTIAL_TABLES = ("users", "user_credentials", "revoked_tokens")
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _owner(url: str) -> sa.Engine:
    return sa.create_engine(url, poolclass=NullPool)


@pytest.fixture
def roles_database(migrated_database: str) -> str:
    """A migrated database whose deployables' local logins exist (as ``up`` makes them)."""
    engine = _owner(migrated_database)
    try:
        with engine.begin() as connection:
            ensure_local_logins(connection)
    finally:
        engine.dispose()
    return migrated_database


def _error_code(error: BaseException) -> str:
    orig = getattr(error, "orig", error)
    detail = orig.args[0] if orig.args else {}
    return str(detail.get("C", "")) if isinstance(detail, dict) else ""


def _as(url: str, deployable: str) -> sa.Engine:
    return sa.create_engine(deployable_url(url, deployable), poolclass=NullPool)


@pytest.mark.parametrize("table", CREDENTIAL_TABLES)
def test_markets_role_cannot_read_the_credential_tables(roles_database: str, table: str) -> None:
    engine = _as(roles_database, "markets")
    try:
        with pytest.raises(sa.exc.ProgrammingError) as denied, engine.connect() as connection:
            connection.execute(sa.text(f"SELECT * FROM {table}"))
        assert _error_code(denied.value) == "42501"  # insufficient_privilege
        assert "permission denied" in str(denied.value)
    finally:
        engine.dispose()


def test_markets_role_cannot_write_market_data_or_touch_backtests(roles_database: str) -> None:
    engine = _as(roles_database, "markets")
    try:
        for statement in (
            "INSERT INTO markets (ticker, event_ticker, status) VALUES ('X', 'X', 'active')",
            "DELETE FROM market_snapshots",
            "SELECT * FROM backtest_runs",
            "SELECT * FROM processed_messages",
        ):
            with pytest.raises(sa.exc.ProgrammingError) as denied, engine.connect() as c:
                c.execute(sa.text(statement))
            assert _error_code(denied.value) == "42501", statement
    finally:
        engine.dispose()


def test_only_account_and_streamer_reach_credentials_and_every_table_has_a_grant(
    roles_database: str,
) -> None:
    engine = _owner(roles_database)
    try:
        with engine.connect() as connection:
            tables = connection.execute(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ).scalars()
            readers: dict[str, set[str]] = {}
            for table in tables:
                readers[table] = {
                    deployable
                    for deployable, role in GROUP_ROLES.items()
                    if connection.execute(
                        sa.text("SELECT has_table_privilege(:r, :t, 'SELECT')"),
                        {"r": role, "t": f"public.{table}"},
                    ).scalar_one()
                }
    finally:
        engine.dispose()
    assert all(readers.values()), {t: r for t, r in readers.items() if not r}
    # The backtests API and worker authenticate requests themselves (0005_accounts): they
    # read users and revocations, never the stored credentials.
    authenticators = {"account", "streamer", "backtests", "backtest_worker"}
    for table in CREDENTIAL_TABLES:
        expected = {"account", "streamer"} if table == "user_credentials" else authenticators
        assert readers[table] == expected, table


# -------------------------------------------------------------- each function, as its role


@pytest.fixture
def function_env(roles_database: str) -> Iterator[dict[str, str]]:
    """Restores the environment and the process-wide database after a function ran."""
    saved = dict(os.environ)
    dispose_database()
    try:
        yield os.environ  # type: ignore[misc]
    finally:
        dispose_database()
        os.environ.clear()
        os.environ.update(saved)


def test_markets_api_works_as_the_markets_role(
    roles_database: str, function_env: dict[str, str]
) -> None:
    import functions_framework

    from tests.integration.marketdata.handmade import seed

    owner = _owner(roles_database)
    seed(owner)
    owner.dispose()
    function_env["DATABASE_URL"] = deployable_url(roles_database, "markets")
    client = functions_framework.create_app(
        "markets", str(ROOT / "functions/markets/main.py"), "http"
    ).test_client()
    for path in (
        "/api/v1/markets",
        "/api/v1/markets/KXA-26-T1",
        "/api/v1/markets/KXA-26-T1/history",
        "/api/v1/health",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data())
    assert client.get("/api/v1/markets").get_json()["markets"]


def test_poller_works_as_the_poll_markets_role(roles_database: str, simulator: Any) -> None:
    from shared.kalshi.client import KalshiClient
    from shared.marketdata.poller import PollMarkets
    from shared.marketdata.settings import MarketDataSettings

    engine = create_database(
        DatabaseSettings(database_url=deployable_url(roles_database, "poll_markets"))
    ).engine
    try:
        with KalshiClient(base_url=simulator.base_url) as kalshi:
            poller = PollMarkets(engine, kalshi, None, MarketDataSettings(publish_snapshots=False))
            first = poller.run("roles-poll-1", published_at=datetime.now(UTC))
            assert first.status == "written" and first.markets > 0
            simulator.advance(30)
            assert poller.run("roles-poll-2", published_at=datetime.now(UTC)).status == "written"
            assert poller.run("roles-poll-1", published_at=datetime.now(UTC)).status == "duplicate"
    finally:
        engine.dispose()


def _seed_backtest_data(url: str) -> None:
    """Two markets, 90 one-minute snapshots each, as the owner (the poller's job)."""
    engine = _owner(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        markets, snaps = [], []
        for m in range(2):
            ticker = f"KXRL-{m}"
            close = (T0 + timedelta(minutes=95)).isoformat()
            markets.append(
                f"{ticker}\tKXRL-EV\tKXRL\tt\tfinalized\t{close}\t{'yes' if m else 'no'}\n"
            )
            for i in range(90):
                mid = 4000 + ((i * 7 + m * 13) % 11) * 300
                ts = (T0 + timedelta(minutes=i)).isoformat()
                snaps.append(f"{ticker}\t{ts}\tpoll\t0.{mid - 100:04d}\t0.{mid + 100:04d}\n")
        cursor.execute(
            "COPY markets (ticker, event_ticker, series_ticker, title, status, close_time, "
            "result) FROM STDIN",
            stream=io.BytesIO("".join(markets).encode()),
        )
        cursor.execute(
            "COPY market_snapshots (ticker, ts, source, yes_bid_dollars, yes_ask_dollars) "
            "FROM STDIN",
            stream=io.BytesIO("".join(snaps).encode()),
        )
        raw.commit()
        # The hourly rollups the ingest would have kept: submissions are sized from them.
        from shared.marketdata.ingest import rebuild_candles

        with engine.begin() as connection:
            rebuild_candles(connection)
    finally:
        raw.close()
        engine.dispose()


class QueueRecorder:
    """Stands in for Cloud Tasks (not our component): remembers what would be queued."""

    def __init__(self) -> None:
        self.queued: list[uuid.UUID] = []

    def dispatch(self, run_id: uuid.UUID) -> None:
        self.queued.append(run_id)


def test_backtests_api_and_worker_work_as_their_roles(roles_database: str) -> None:
    from shared.backtest.service import BacktestService

    _seed_backtest_data(roles_database)
    api_db = create_database(
        DatabaseSettings(database_url=deployable_url(roles_database, "backtests"))
    )
    worker_db = create_database(
        DatabaseSettings(database_url=deployable_url(roles_database, "backtest_worker"))
    )
    try:
        queue = QueueRecorder()
        api = BacktestService(api_db, dispatcher=queue)
        created = api.submit(
            {
                "strategy": "fade_large_moves",
                "params": {"lookback": 1, "threshold": 0.05, "contracts": 5},
                "markets": {"series": ["KXRL"]},
                "start": T0.isoformat(),
                "end": (T0 + timedelta(hours=2)).isoformat(),
            }
        )
        run_id = uuid.UUID(created["id"])
        assert queue.queued == [run_id]
        outcome = BacktestService(worker_db).execute(run_id, final_attempt=True)
        assert outcome.status == "completed", outcome
        assert api.get_run(run_id)["status"] == "completed"
        assert [item["id"] for item in api.list_runs(limit=10)["items"]] == [str(run_id)]
        api.delete_run(run_id)
    finally:
        api_db.dispose()
        worker_db.dispose()


# -------------------------------------------------------------- reversible


def test_downgrade_revokes_the_grants_and_upgrade_restores_them(
    postgres: LocalPostgres, fresh_database: str
) -> None:
    migrate.upgrade(fresh_database)
    migrate.downgrade(fresh_database, "0003_backtests")
    name = sa.engine.make_url(fresh_database).database
    admin = pg8000.native.Connection(
        "postgres", host="127.0.0.1", port=postgres.port, database=name
    )
    try:
        granted = admin.run(
            "SELECT count(*) FROM information_schema.role_table_grants "
            "WHERE grantee LIKE 'ki\\_%' AND table_catalog = current_database()"
        )[0][0]
        assert granted == 0
    finally:
        admin.close()
    migrate.upgrade(fresh_database)
    engine = _owner(fresh_database)
    try:
        with engine.connect() as connection:
            assert connection.execute(
                sa.text("SELECT has_table_privilege('ki_markets', 'public.markets', 'SELECT')")
            ).scalar_one()
    finally:
        engine.dispose()
