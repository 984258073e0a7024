"""Database timeouts as settings, and the engine's connect deadline on the connector path
(docs/decisions/0081). The connector is Google's, so fakes stand in; the real-socket
behaviour is tested against a stalled Postgres in tests/integration/faults/."""

from __future__ import annotations

import threading
import time
from typing import Any

import pg8000.dbapi
import pytest
import sqlalchemy as sa

from shared.config import ConfigError, DatabaseSettings, Secret
from shared.db.deadline import DeadlineExceeded, call_with_deadline, health_timeout
from shared.db.engine import create_database, server_reported

DB = {"DATABASE_URL": "postgresql://u@h/d"}


def test_timeouts_default_below_an_http_function_timeout() -> None:
    settings = DatabaseSettings.from_env(DB)
    assert (settings.connect_timeout, settings.statement_timeout) == (5.0, 20.0)
    assert settings.effective_socket_timeout == 25.0  # the server cancels first


def test_timeouts_are_read_from_the_environment() -> None:
    settings = DatabaseSettings.from_env(
        {
            **DB,
            "DB_CONNECT_TIMEOUT": "0.5",
            "DB_STATEMENT_TIMEOUT": "10",
            "DB_SOCKET_TIMEOUT": "12.5",
        }
    )
    assert settings.connect_timeout == 0.5
    assert settings.statement_timeout == 10.0
    assert settings.effective_socket_timeout == 12.5


@pytest.mark.parametrize("raw", ["abc", "0", "-1", "inf", "nan"])
@pytest.mark.parametrize(
    "name", ["DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT", "DB_SOCKET_TIMEOUT"]
)
def test_bad_timeouts_are_refused_by_name(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        DatabaseSettings.from_env({**DB, name: raw})


def test_no_statement_timeout_means_no_socket_timeout() -> None:
    """Migrations turn both off: DDL on a big table may legitimately run for minutes."""
    assert (
        DatabaseSettings(
            database_url="postgresql://h/d", statement_timeout=0
        ).effective_socket_timeout
        is None
    )


def test_health_timeout() -> None:
    assert health_timeout({}) == 1.5
    assert health_timeout({"DB_HEALTH_TIMEOUT": "0.75"}) == 0.75
    for raw in ("x", "0", "-2", "inf"):
        with pytest.raises(ConfigError, match="DB_HEALTH_TIMEOUT"):
            health_timeout({"DB_HEALTH_TIMEOUT": raw})


def test_call_with_deadline_gives_up_and_cancels() -> None:
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as raised:
        call_with_deadline(lambda: release.wait(30), 0.2)
    assert time.monotonic() - started < 5
    assert isinstance(raised.value, sa.exc.SQLAlchemyError)  # handlers catch it as a DB error
    release.set()
    assert call_with_deadline(lambda: 42, 5) == 42


def test_server_reported_errors_only() -> None:
    assert server_reported(pg8000.dbapi.ProgrammingError({"C": "42P01", "M": "no table"}))
    assert not server_reported(pg8000.dbapi.InterfaceError("network error"))
    assert not server_reported(OverflowError("date value out of range"))
    assert not server_reported(KeyboardInterrupt())


class StalledConnector:
    """connect() blocks until released, like the connector on a socket nobody answers."""

    def __init__(self, **kwargs: Any) -> None:
        self.init_kwargs = kwargs
        self.release = threading.Event()
        self.late: list[LateConnection] = []
        self.kwargs: list[dict[str, Any]] = []

    def connect(self, instance: str, driver: str, **kwargs: Any) -> Any:
        self.kwargs.append(kwargs)
        self.release.wait(30)
        connection = LateConnection()
        self.late.append(connection)
        return connection

    def close(self) -> None:
        self.release.set()


class LateConnection:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_cloud_sql_connect_has_a_deadline_and_a_late_connection_is_closed() -> None:
    connectors: list[StalledConnector] = []

    def factory(**kwargs: Any) -> StalledConnector:
        connectors.append(StalledConnector(**kwargs))
        return connectors[-1]

    settings = DatabaseSettings(
        instance_connection_name="p:r:i",
        db_pass=Secret("pw"),
        connect_timeout=0.3,
        statement_timeout=7.5,
    )
    database = create_database(settings, connector_factory=factory)
    connector = connectors[0]
    try:
        started = time.monotonic()
        with pytest.raises(sa.exc.InterfaceError, match="timed out"):
            database.engine.connect()
        assert time.monotonic() - started < 5
        assert connector.init_kwargs["timeout"] == 1  # the connector's own (whole seconds)
        assert connector.kwargs[0]["startup_params"] == {"statement_timeout": "7500"}
        connector.release.set()
        deadline = time.monotonic() + 10
        while not (connector.late and connector.late[0].closed) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert connector.late and connector.late[0].closed
    finally:
        database.dispose()
