"""The engine factory: Cloud SQL through the connector when INSTANCE_CONNECTION_NAME is set,
any Postgres URL through pg8000 otherwise. The connector is Google's, so a fake stands in."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import ConfigError, DatabaseSettings, Secret
from shared.db import engine as engine_module
from shared.db.engine import create_database, dispose_database, get_database, pg8000_url


class ConnectAttempted(Exception):
    """Raised by the fake connector so no real connection is needed."""


class FakeConnector:
    def __init__(self, **kwargs: Any) -> None:
        self.init_kwargs = kwargs
        self.connect_calls: list[tuple[str, str, dict[str, Any]]] = []
        self.close_calls = 0

    def connect(self, instance: str, driver: str, **kwargs: Any) -> Any:
        self.connect_calls.append((instance, driver, kwargs))
        raise ConnectAttempted

    def close(self) -> None:
        self.close_calls += 1


class FakeFactory:
    def __init__(self) -> None:
        self.created: list[FakeConnector] = []

    def __call__(self, **kwargs: Any) -> FakeConnector:
        connector = FakeConnector(**kwargs)
        self.created.append(connector)
        return connector


CLOUD = DatabaseSettings(
    instance_connection_name="proj:us-central1:ki",
    db_user="app",
    db_name="kalshi",
    db_pass=Secret("s3cret-pass"),
)


def test_cloud_sql_creator_uses_lazy_connector_with_pg8000() -> None:
    factory = FakeFactory()
    database = create_database(CLOUD, connector_factory=factory)
    try:
        assert len(factory.created) == 1
        connector = factory.created[0]
        assert connector.init_kwargs["refresh_strategy"] == "LAZY"
        assert connector.init_kwargs["enable_iam_auth"] is False
        assert connector.init_kwargs["ip_type"] == "PUBLIC"
        assert connector.connect_calls == []  # nothing connects until the first checkout

        with pytest.raises(ConnectAttempted):
            database.engine.connect()

        assert connector.connect_calls == [
            (
                "proj:us-central1:ki",
                "pg8000",
                {
                    "user": "app",
                    "db": "kalshi",
                    "password": "s3cret-pass",
                    "startup_params": {"statement_timeout": "20000"},
                },
            )
        ]
        assert database.engine.dialect.driver == "pg8000"
    finally:
        database.dispose()


def test_cloud_sql_pool_is_small_and_recycled() -> None:
    database = create_database(CLOUD, connector_factory=FakeFactory())
    try:
        pool: Any = database.engine.pool
        assert pool.size() == 2
        assert pool._max_overflow == 2
        assert pool._timeout == 30
        assert pool._recycle == 1800
        # Idle connections are pinged by the engine's own checkout listener (ADR 0220).
        assert pool._pre_ping is False
        assert len(pool.dispatch.checkout) >= 1
    finally:
        database.dispose()


def test_iam_auth_sends_no_password() -> None:
    factory = FakeFactory()
    settings = DatabaseSettings(
        instance_connection_name="proj:r:i", db_user="sa@proj.iam", db_iam_auth=True
    )
    database = create_database(settings, connector_factory=factory)
    try:
        with pytest.raises(ConnectAttempted):
            database.engine.connect()
        connector = factory.created[0]
        assert connector.init_kwargs["enable_iam_auth"] is True
        _, _, kwargs = connector.connect_calls[0]
        assert "password" not in kwargs
        assert kwargs["user"] == "sa@proj.iam"
    finally:
        database.dispose()


def test_password_required_without_iam_and_connector_closed() -> None:
    factory = FakeFactory()
    settings = DatabaseSettings(instance_connection_name="proj:r:i")
    with pytest.raises(ConfigError, match="DB_PASS"):
        create_database(settings, connector_factory=factory)
    assert factory.created[0].close_calls == 1


def test_dispose_closes_the_connector_once() -> None:
    factory = FakeFactory()
    database = create_database(CLOUD, connector_factory=factory)
    database.dispose()
    database.dispose()
    assert factory.created[0].close_calls == 1


def test_plain_url_uses_pg8000_and_pool_settings() -> None:
    settings = DatabaseSettings(
        database_url="postgresql://u:pw@db.example:5433/ki",
        pool_size=3,
        max_overflow=4,
        pool_timeout=7,
        pool_recycle=99,
    )
    factory = FakeFactory()
    database = create_database(settings, connector_factory=factory)
    try:
        assert factory.created == []
        assert database.connector is None
        url = database.engine.url
        assert url.drivername == "postgresql+pg8000"
        assert (url.host, url.port, url.database, url.username) == ("db.example", 5433, "ki", "u")
        pool: Any = database.engine.pool
        assert pool.size() == 3
        assert pool._max_overflow == 4
        assert pool._timeout == 7
        assert pool._recycle == 99
    finally:
        database.dispose()


def test_password_is_not_in_the_engine_repr() -> None:
    database = create_database(DatabaseSettings(database_url="postgresql://u:hunter2@h/d"))
    try:
        assert "hunter2" not in repr(database.engine)
        assert "hunter2" not in str(database.engine.url)
    finally:
        database.dispose()


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u@h/d",
        "postgresql://u@h/d",
        "postgresql+psycopg://u@h/d",
        "postgresql+pg8000://u@h/d",
    ],
)
def test_any_postgres_url_gets_pg8000(url: str) -> None:
    assert pg8000_url(url).drivername == "postgresql+pg8000"


def test_non_postgres_url_is_rejected() -> None:
    with pytest.raises(ConfigError, match="Postgres"):
        pg8000_url("mysql://u@h/d")


def test_get_database_is_a_lazy_global(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INSTANCE_CONNECTION_NAME", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@127.0.0.1:1/none")
    dispose_database()
    try:
        first = get_database()
        assert get_database() is first
        assert first.engine.url.database == "none"
    finally:
        dispose_database()
    assert engine_module._database is None
