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

Every wait is bounded and every broken connection leaves the pool (docs/decisions/0081):
``statement_timeout`` travels in the startup message, each socket gets a read/write timeout
once connected, opening a connection has its own deadline (the connector's sync path honours
none), and an exception that interrupts a statement before the server answered it
invalidates that one connection instead of handing it, mid-protocol, to the next request.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pg8000.dbapi
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, ExceptionContext, make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.config import ConfigError, DatabaseSettings

__all__ = [
    "ConnectorLike",
    "Database",
    "create_database",
    "dispose_database",
    "get_database",
    "pg8000_url",
    "server_reported",
]

DRIVER = "pg8000"
log = logging.getLogger(__name__)


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


def server_reported(error: BaseException) -> bool:
    """Whether ``error`` is the server's own answer to a statement (an ``ErrorResponse``).

    pg8000 reads such an answer through to ``ReadyForQuery`` before raising, so the
    connection is in step and can serve the next request. Anything else (a Python error
    while encoding parameters after some messages went out, a socket timeout, a network
    error, ``KeyboardInterrupt``) leaves the protocol state unknown.
    """
    if not isinstance(error, pg8000.dbapi.DatabaseError):
        return False
    detail = error.args[0] if error.args else None
    return isinstance(detail, dict) and "C" in detail


# SQLSTATE classes that mean "the database could not serve this now", not "this statement
# is wrong": connection exceptions, insufficient resources, operator intervention (57014 is
# a statement_timeout cancel). pg8000 raises most of them as ProgrammingError.
_OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57")


def _on_error(context: ExceptionContext) -> BaseException | None:
    """``handle_error`` hook: discard the connection a statement was interrupted on, and
    report a server-side outage (a statement timeout) as ``OperationalError``.

    SQLAlchemy invalidates a connection only for DBAPI errors its dialect classifies as a
    disconnect; an ``OverflowError`` raised by pg8000 half-way through the extended query
    protocol is neither, so the half-spoken connection went back to the pool and every
    later request on it failed. Setting ``is_disconnect`` invalidates it; only it, not the
    whole pool (``invalidate_pool_on_disconnect``), because the other connections are fine.
    """
    error = context.original_exception
    if server_reported(error):
        code = str(error.args[0].get("C", ""))
        wrapped = context.sqlalchemy_exception
        if code[:2] in _OUTAGE_SQLSTATE_CLASSES and not isinstance(
            wrapped, sqlalchemy.exc.OperationalError
        ):
            # Callers map OperationalError to 503: a cancelled statement is an outage of
            # this request, not a bug (pg8000 calls 57014 a ProgrammingError).
            return sqlalchemy.exc.OperationalError(
                context.statement, context.parameters, error, hide_parameters=True
            )
        return None
    if context.connection is None or context.is_disconnect:
        return None
    log.warning(
        "database connection discarded after %s interrupted a statement",
        type(error).__name__,
    )
    context.is_disconnect = True
    context.invalidate_pool_on_disconnect = False
    return None


class _NetworkErrorsAsDbapi:
    """pg8000's buffered socket file, whose read errors surface as DBAPI errors.

    pg8000 1.31 wraps an ``OSError`` from most socket calls in ``InterfaceError("network
    error")``, but not one from the first read of each message; so a socket timeout
    escaped as a bare ``TimeoutError``, which SQLAlchemy neither treats as a disconnect (a
    pre-ping let it through instead of reconnecting) nor wraps (handlers answered 500, not
    503). Translated here, it is the error the pg8000 dialect already recognises.
    """

    __slots__ = ("_file",)

    def __init__(self, file: Any) -> None:
        self._file = file

    def read(self, size: int = -1) -> bytes:
        try:
            data: bytes = self._file.read(size)
        except OSError as error:
            raise pg8000.dbapi.InterfaceError("network error") from error
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def _bound_socket(dbapi_connection: Any, seconds: float | None) -> None:
    """Bound every later read and write on this pg8000 connection's socket.

    pg8000 applies its ``timeout`` argument only to sockets it opens itself; the Cloud SQL
    connector hands it an already-open TLS socket with no timeout, so set it here for both.
    """
    sock = getattr(dbapi_connection, "_usock", None)
    file = getattr(dbapi_connection, "_sock", None)
    if sock is None or file is None:
        raise RuntimeError("pg8000 connection without _usock/_sock: cannot bound its socket")
    sock.settimeout(seconds)
    if not isinstance(file, _NetworkErrorsAsDbapi):
        dbapi_connection._sock = _NetworkErrorsAsDbapi(file)


def _connect_with_deadline(connect: Callable[[], Any], seconds: float) -> Any:
    """``connect()`` in a helper thread, abandoned (and its late connection closed) after
    ``seconds``: the connector's synchronous path waits on a socket with no timeout."""
    lock = threading.Lock()
    done = threading.Event()
    state: dict[str, Any] = {"abandoned": False}

    def run() -> None:
        try:
            connection, error = connect(), None
        except BaseException as raised:
            connection, error = None, raised
        with lock:
            state["connection"], state["error"] = connection, error
            late = state["abandoned"]
            done.set()
        if late and connection is not None:
            with contextlib.suppress(Exception):  # a late connection nobody wants
                connection.close()

    threading.Thread(target=run, name="db-connect", daemon=True).start()
    done.wait(seconds)
    with lock:
        if not done.is_set():
            state["abandoned"] = True
            raise pg8000.dbapi.InterfaceError(f"connecting timed out after {seconds:g} s")
    if state["error"] is not None:
        raise state["error"]
    return state["connection"]


def _connect_or_interface_error(connect: Callable[[], Any]) -> Any:
    """``connect()``, with a bare ``OSError`` (pg8000 lets a timeout during its startup
    handshake escape unwrapped) raised as the DBAPI ``InterfaceError`` it stands for, so
    callers see one "database unreachable" error type whatever phase failed."""
    try:
        return connect()
    except OSError as error:
        raise pg8000.dbapi.InterfaceError(f"network error: {type(error).__name__}") from error


def _startup_params(settings: DatabaseSettings) -> dict[str, str]:
    if settings.statement_timeout <= 0:
        return {}
    # Sent in the startup message: no extra round trip per connection.
    return {"statement_timeout": str(max(1, round(settings.statement_timeout * 1000)))}


def _bound(engine: Engine, settings: DatabaseSettings) -> Engine:
    socket_timeout = settings.effective_socket_timeout

    @event.listens_for(engine, "do_connect")
    def _do_connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
        return _connect_or_interface_error(lambda: dialect.loaded_dbapi.connect(*cargs, **cparams))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        _bound_socket(dbapi_connection, socket_timeout)

    event.listen(engine, "handle_error", _on_error)
    _ping_when_idle(engine, PING_AFTER_IDLE_S)
    return engine


# A connection used this recently is not pinged on checkout: see _ping_when_idle.
PING_AFTER_IDLE_S = 2.0
_IDLE_SINCE = "ki_idle_since"


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection on checkout only when it sat idle ``idle_seconds`` or more.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout; pg8000 sends it as ``BEGIN``
    and ``SELECT 1``, two round trips, each a CPU wait on a loaded instance, in front of
    every request (docs/decisions/0220). Here a ping is one round trip, and most checkouts
    of a busy instance send none. The connections that die under a function are the
    idle ones (a CPU-throttled gap between requests, Cloud SQL's idle timeout, a restart
    while nothing ran); one that answered a statement a moment ago is alive unless the
    server went away in that moment. This is SQLAlchemy's documented pessimistic-disconnect
    recipe on the pool's ``checkout`` event, limited to idle connections: a failed ping
    raises ``DisconnectionError``, which makes the pool discard that connection and check
    out (or open) another, so the request never sees it. A connection that breaks within
    the idle window fails its request's first statement instead; ``_on_error`` (or the
    dialect's disconnect check) discards it then, so it still leaves the pool
    (docs/decisions/0081). A freshly opened connection is not pinged: it just spoke.
    """

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        # In the driver's autocommit: pg8000 sends the SELECT alone (no BEGIN) and leaves no
        # transaction open behind the pool's back (shared/db/autocommit.py relies on it).
        autocommit = getattr(dbapi_connection, "autocommit", None)
        try:
            if autocommit is not None:
                dbapi_connection.autocommit = True
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
                if autocommit is not None:
                    dbapi_connection.autocommit = autocommit
        except Exception as error:  # any failure: this connection cannot serve a request
            log.info("pooled connection failed its ping (%s); replacing it", type(error).__name__)
            raise sqlalchemy.exc.DisconnectionError(type(error).__name__) from None


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
        # A connection idle across a function's CPU-throttled gap may be dead: checked on
        # checkout when it has been idle a while (_ping_when_idle), not on every checkout.
        "pool_pre_ping": False,
    }
    if "poolclass" in engine_options:
        for key in ("pool_size", "max_overflow", "pool_timeout"):
            options.pop(key)
    options.update(engine_options)
    startup = _startup_params(settings)

    if not settings.uses_cloud_sql:
        if settings.database_url is None:
            raise ConfigError("set DATABASE_URL or INSTANCE_CONNECTION_NAME")
        connect_args: dict[str, Any] = {"timeout": settings.connect_timeout}
        if startup:
            connect_args["startup_params"] = startup
        options["connect_args"] = {**connect_args, **options.get("connect_args", {})}
        engine = sqlalchemy.create_engine(pg8000_url(settings.database_url), **options)
        return Database(_bound(engine, settings))

    factory = connector_factory or _default_connector_factory
    connector = factory(
        refresh_strategy="LAZY",
        ip_type=settings.db_ip_type,
        enable_iam_auth=settings.db_iam_auth,
        timeout=max(1, round(settings.connect_timeout)),
    )
    instance = settings.instance_connection_name
    assert instance is not None  # uses_cloud_sql
    connect_kwargs: dict[str, Any] = {"user": settings.db_user, "db": settings.db_name}
    if startup:
        connect_kwargs["startup_params"] = startup
    if not settings.db_iam_auth:
        if settings.db_pass is None:
            connector.close()
            raise ConfigError("DB_PASS is required unless DB_IAM_AUTH is true")
        connect_kwargs["password"] = settings.db_pass.reveal()

    def creator() -> Any:
        return _connect_with_deadline(
            lambda: _connect_or_interface_error(
                lambda: connector.connect(instance, DRIVER, **connect_kwargs)
            ),
            settings.connect_timeout,
        )

    try:
        engine = sqlalchemy.create_engine(f"postgresql+{DRIVER}://", creator=creator, **options)
    except Exception:
        connector.close()
        raise
    return Database(_bound(engine, settings), connector)


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
