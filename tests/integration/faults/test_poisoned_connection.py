"""A statement that dies half-sent must not poison the pool for the requests after it.

pg8000 encodes parameters while it writes the extended-query messages, so a value it cannot
encode (a timestamp whose UTC form is before year 1, ``0001-01-01T00:00:00+05:00``) raises
``OverflowError`` after ``Parse`` already went out. That is not a DBAPI error, so
SQLAlchemy did not invalidate the connection; it went back to the pool mid-protocol and
every later request on it failed (503s from the APIs). The statement here is raw, through
the engine, so the test fails on a pool without the fix whatever the API edges validate.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from shared.config import DatabaseSettings
from shared.db.engine import create_database, get_database
from tests.function_env import function_environment

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
EARLY = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5)))  # 0000-12-31T19:00Z
LATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5)))
VALID_REQUESTS = 20


def _poison(engine: sa.Engine, value: datetime) -> None:
    with pytest.raises(OverflowError), engine.connect() as connection:
        connection.execute(sa.text("SELECT CAST(:t AS timestamptz)"), {"t": value})


@pytest.mark.parametrize("value", [EARLY, LATE], ids=["start-0001", "end-9999"])
def test_poisoned_statement_then_20_valid_ones_all_succeed(
    migrated_database: str, value: datetime
) -> None:
    # One connection, no overflow: the next checkout gets the very connection poisoned.
    database = create_database(
        DatabaseSettings(database_url=migrated_database), pool_size=1, max_overflow=0
    )
    try:
        _poison(database.engine, value)
        successes = 0
        for i in range(VALID_REQUESTS):
            with database.engine.connect() as connection:
                if connection.execute(sa.text("SELECT :i + 1"), {"i": i}).scalar() == i + 1:
                    successes += 1
        assert successes == VALID_REQUESTS
    finally:
        database.dispose()


def test_a_server_error_keeps_its_connection(migrated_database: str) -> None:
    """Only an interrupted statement costs a reconnect: after an error the server reported
    (pg8000 read through to ReadyForQuery), the same connection serves the next request."""
    database = create_database(
        DatabaseSettings(database_url=migrated_database), pool_size=1, max_overflow=0
    )
    try:
        with database.engine.connect() as connection:
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        with pytest.raises(sa.exc.ProgrammingError), database.engine.connect() as connection:
            connection.execute(sa.text("SELECT * FROM no_such_table"))
        with database.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_backend_pid()")).scalar() == pid
    finally:
        database.dispose()


def _seed(url: str) -> None:
    """Markets (the hand-made universe) and one backtest run: non-empty answers, so a
    connection out of step (answering with another statement's rows) cannot pass."""
    from sqlalchemy.pool import NullPool

    from shared.db.models import BacktestRun
    from tests.integration.marketdata.handmade import seed

    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        seed(engine)
        with sa.orm.Session(engine) as session, session.begin():
            session.add(
                BacktestRun(
                    status="completed",
                    strategy="fade_large_moves",
                    strategy_version="1",
                    start_ts=datetime(2026, 6, 1, tzinfo=UTC),
                    end_ts=datetime(2026, 6, 2, tzinfo=UTC),
                    # The test client's own run (anonymous runs belong to an address).
                    owner_address="127.0.0.1",
                )
            )
    finally:
        engine.dispose()


@pytest.fixture
def handlers(migrated_database: str) -> Iterator[dict[str, Any]]:
    """The markets and backtests functions in process, sharing one one-connection pool."""
    import functions_framework

    _seed(migrated_database)
    wanted = {
        "DATABASE_URL": migrated_database,
        "DB_POOL_SIZE": "1",
        "DB_MAX_OVERFLOW": "0",
        "APP_ENVIRONMENT": "local",
        "CLOUD_TASKS_QUEUE": "projects/ki-faults/locations/local/queues/backtests",
        "BACKTEST_WORKER_URL": "http://127.0.0.1:9/worker",
        # Runs have owners (0150); these calls are the local stack's anonymous client.
        "BACKTEST_ANONYMOUS_SUBMISSIONS": "true",
    }
    with function_environment(wanted):
        yield {
            "markets": functions_framework.create_app(
                "markets", str(ROOT / "functions/markets/main.py"), "http"
            ).test_client(),
            "backtests": functions_framework.create_app(
                "backtests", str(ROOT / "functions/backtests/main.py"), "http"
            ).test_client(),
        }


def test_handlers_answer_20_requests_after_a_poisoned_statement(
    handlers: dict[str, Any],
) -> None:
    requests = [
        (handlers["markets"], "/api/v1/markets"),
        (handlers["backtests"], "/api/v1/backtests"),
        (handlers["markets"], "/api/v1/markets/KXA-26-T1"),
    ]
    expected = []
    for client, path in requests:  # also leaves the one pooled connection checked in
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data())
        expected.append(response.get_json())
    assert expected[0]["markets"] and expected[1]["items"]

    _poison(get_database().engine, EARLY)
    answers = []
    for i in range(VALID_REQUESTS):
        client, path = requests[i % 3]
        response = client.get(path)
        answers.append((response.status_code, response.get_json(silent=True) == expected[i % 3]))
    assert answers == [(200, True)] * VALID_REQUESTS
