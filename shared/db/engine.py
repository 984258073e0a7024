"""The engine factory: Cloud SQL through the Python connector, or any Postgres URL.

Every deployable gets its database the same way::

    db = get_database()              # lazy process-wide global, built from the environment
    with db.sessions.begin() as s:   # or shared.db.session.session_scope()
        ...

With ``INSTANCE_CONNECTION_NAME`` set, connections come from
``google.cloud.sql.connector.Connector(refresh_strategy="LAZY")`` with the pg8000 driver, the
pattern of Google's ``cloud-sql/postgres/sqlalchemy`` sample: lazy refresh fetches the
instance certificate only when a connection is opened, so a Cloud Function whose CPU is
throttled between requests never has a background refresh starved of CPU. Otherwise the
engine connects to ``DATABASE_URL`` (the local stack and tests), also through pg8000, so
there is one driver everywhere. Pools are small (see :class:`~shared.config.DatabaseSettings`)
and :meth:`Database.dispose` closes both the pool and the connector, which a SIGTERM handler
should call.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.config import ConfigError, DatabaseSettings

__all__ = [
    "ConnectorLike",
    "Database",
    "create_database",
    "dispose_database",
    "get_database",
    "pg8000_url",
]

DRIVER = "pg8000"


class ConnectorLike(Protocol):
    """What we use of ``google.cloud.sql.connector.Connector`` (a fake stands in for tests)."""

    def connect(self, instance_connection_string: str, driver: str, **kwargs: Any) -> Any: ...

    def close(self) -> None: ...


ConnectorFactory = Callable[..., ConnectorLike]


def _default_connector_factory(**kwargs: Any) -> ConnectorLike:
    # Imported here: the connector starts no threads at import, but pulling in google-auth
    # costs cold-start time that local runs and tests never need.
    from google.cloud.sql.connector import Connector

    connector: ConnectorLike = Connector(**kwargs)
    return connector


def pg8000_url(url: str | URL) -> URL:
    """``url`` with the pg8000 driver, whatever driver (if any) it named.

    ``postgres://`` and ``postgresql+psycopg://`` URLs from other tools work unchanged.
    """
    parsed = make_url(url)
    backend = parsed.drivername.split("+", 1)[0]
    if backend not in ("postgresql", "postgres"):
        raise ConfigError(f"DATABASE_URL must be a Postgres URL, got a {backend!r} URL")
    return parsed.set(drivername=f"postgresql+{DRIVER}")


@dataclass
class Database:
    """An engine, its session factory and (on Cloud SQL) the connector that feeds it."""

    engine: Engine
    connector: ConnectorLike | None = None
    sessions: sessionmaker[Session] = field(init=False)
    _disposed: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        # expire_on_commit=False: handlers return ORM objects after the transaction ends.
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def dispose(self) -> None:
        """Close every pooled connection, then the connector (idempotent)."""
        if self._disposed:
            return
        self._disposed = True
        self.engine.dispose()
        if self.connector is not None:
            self.connector.close()


def create_database(
    settings: DatabaseSettings | None = None,
    *,
    connector_factory: ConnectorFactory | None = None,
    **engine_options: Any,
) -> Database:
    """Build a :class:`Database` from ``settings`` (default: the environment).

    ``engine_options`` override the pool settings (tests pass ``poolclass=NullPool``).
    """
    settings = DatabaseSettings.from_env() if settings is None else settings
    options: dict[str, Any] = {
        # Size the pool for one instance's concurrency, not for the whole service.
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        # Fail a request after this long rather than queue forever behind a full pool.
        "pool_timeout": settings.pool_timeout,
        # Cloud SQL drops idle connections; recycle well before that.
        "pool_recycle": settings.pool_recycle,
        # A connection idle across a function's CPU-throttled gap may be dead: check it.
        "pool_pre_ping": True,
    }
    if "poolclass" in engine_options:
        for key in ("pool_size", "max_overflow", "pool_timeout"):
            options.pop(key)
    options.update(engine_options)

    if not settings.uses_cloud_sql:
        if settings.database_url is None:
            raise ConfigError("set DATABASE_URL or INSTANCE_CONNECTION_NAME")
        return Database(sqlalchemy.create_engine(pg8000_url(settings.database_url), **options))

    factory = connector_factory or _default_connector_factory
    connector = factory(
        refresh_strategy="LAZY",
        ip_type=settings.db_ip_type,
        enable_iam_auth=settings.db_iam_auth,
    )
    instance = settings.instance_connection_name
    assert instance is not None  # uses_cloud_sql
    connect_kwargs: dict[str, Any] = {"user": settings.db_user, "db": settings.db_name}
    if not settings.db_iam_auth:
        if settings.db_pass is None:
            connector.close()
            raise ConfigError("DB_PASS is required unless DB_IAM_AUTH is true")
        connect_kwargs["password"] = settings.db_pass.reveal()

    def creator() -> Any:
        return connector.connect(instance, DRIVER, **connect_kwargs)

    try:
        engine = sqlalchemy.create_engine(f"postgresql+{DRIVER}://", creator=creator, **options)
    except Exception:
        connector.close()
        raise
    return Database(engine, connector)


_lock = threading.Lock()
_database: Database | None = None


def get_database() -> Database:
    """The process-wide :class:`Database`, created on first use from the environment.

    A lazy global, as Google's function samples do: nothing connects at import time, and
    every request on a warm instance reuses the pool.
    """
    global _database
    with _lock:
        if _database is None:
            _database = create_database()
            atexit.register(dispose_database)
        return _database


def dispose_database() -> None:
    """Dispose the process-wide database, if one was created (call it on SIGTERM)."""
    global _database
    with _lock:
        database, _database = _database, None
    if database is not None:
        database.dispose()
