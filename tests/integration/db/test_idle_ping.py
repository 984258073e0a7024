"""The pool pings only connections that sat idle (ADR 0220), against a real Postgres.

A connection whose backend was killed while it sat in the pool: when it was idle past the
window, the checkout's ping finds it dead and the pool opens another, unseen by the caller;
inside the window, the caller's statement fails and that connection still leaves the pool
(ADR 0081), so the next checkout works on a new backend. A connection used a moment ago
costs no ping at all: a dead one fails its statement, which only
happens when nothing pinged it.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

import shared.db.engine as engine_module
from shared.config import DatabaseSettings
from shared.db.engine import Database, create_database

pytestmark = pytest.mark.integration


def _database(url: str, idle_seconds: float, monkeypatch: pytest.MonkeyPatch) -> Database:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", idle_seconds)
    return create_database(
        DatabaseSettings(database_url=url, pool_size=1, max_overflow=0, statement_timeout=5)
    )


def _pid(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def _kill(url: str, pid: int) -> None:
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
    finally:
        admin.dispose()


def test_idle_dead_connection_is_replaced_unseen(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _database(fresh_database, 0.0, monkeypatch)  # every returning connection is "idle"
    try:
        first = _pid(db)
        _kill(fresh_database, first)
        second = _pid(db)  # no error: the ping caught it and the pool reconnected
        assert second != first
    finally:
        db.dispose()


def test_recent_connection_is_not_pinged_and_a_dead_one_still_leaves_the_pool(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _database(fresh_database, 60.0, monkeypatch)
    try:
        first = _pid(db)
        assert _pid(db) == first
        _kill(fresh_database, first)
        # Not pinged (a ping would have replaced it unseen): the statement fails...
        with pytest.raises(sa.exc.DBAPIError) as failed:
            _pid(db)
        assert failed.value.connection_invalidated
        assert _pid(db) != first  # the dead connection left the pool
    finally:
        db.dispose()
