"""Alembic environment: runs migrations on the connection :mod:`shared.db.migrate` hands in.

Programmatic callers (the CLI, ``kalshi-insights up``, tests) pass an open connection in
``config.attributes["connection"]`` so Alembic never builds a second engine (on Cloud SQL
that engine would need the connector). The ``alembic`` CLI with ``shared/db/alembic.ini``
falls back to ``DATABASE_URL``.

Every run takes a transaction-scoped advisory lock first: two processes that migrate at
the same moment (two launchers, a deploy job racing a test) run one after the other
instead of both trying to create the same tables.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.pool import NullPool

from shared import config as settings
from shared.db.engine import pg8000_url
from shared.db.migrate import load_models
from shared.db.models import Base

# Arbitrary, fixed: "KalshiIn" as an int64, so no other tool's advisory lock collides.
MIGRATION_LOCK_KEY = 0x4B616C736869496E

load_models()
target_metadata = Base.metadata
config = context.config


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


def _url() -> str:
    url = config.attributes.get("url") or settings.text("DATABASE_URL")
    if not url:
        raise RuntimeError("set DATABASE_URL to the database to migrate")
    return str(pg8000_url(str(url)))


def run_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(_url(), poolclass=NullPool)
    try:
        with engine.connect() as own_connection:
            _configure_and_run(own_connection)
            own_connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
