"""Upgrade and downgrade the schema from code: the CLI, the local stack and tests use this.

Alembic is configured here rather than through an ``alembic.ini`` found on disk, so it works
the same from a checkout and from an installed wheel (the migration scripts ship as package
data). The database is a URL string, an :class:`~sqlalchemy.engine.Engine` (for example a
Cloud SQL engine from :func:`shared.db.engine.create_database`), or ``None`` for "whatever the
environment says" (``DATABASE_URL`` or ``INSTANCE_CONNECTION_NAME``).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.pool import NullPool

from shared.config import DatabaseSettings
from shared.db.engine import create_database

__all__ = [
    "MIGRATIONS_DIR",
    "DatabaseTarget",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "load_models",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Alembic keeps the running migration in module globals (``alembic.context``), so two
# threads of one process must not migrate at once. Across processes, env.py's advisory
# lock serialises them.
_alembic_lock = threading.Lock()

DatabaseTarget = str | Engine | None


def load_models() -> None:
    """Import every ``shared.db.models*`` module, so ``Base.metadata`` knows every table.

    Areas keep their tables in their own module (``models_marketdata.py`` ...); autogenerate
    and the schema tests must see all of them, not just the ones someone imported.
    """
    import importlib
    import pkgutil

    import shared.db

    for module in pkgutil.iter_modules(shared.db.__path__):
        if module.name == "models" or module.name.startswith("models_"):
            importlib.import_module(f"shared.db.{module.name}")


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@contextmanager
def _connection(target: DatabaseTarget) -> Iterator[Connection]:
    """One connection in one transaction, committed when the block ends without error."""
    if isinstance(target, Engine):
        with target.begin() as connection:
            yield connection
        return
    # A URL is just DATABASE_URL given explicitly: the same factory (pg8000, checks) builds it.
    settings = (
        DatabaseSettings.from_env() if target is None else DatabaseSettings(database_url=target)
    )
    # DDL on a big table may legitimately run for minutes: no statement or socket timeout
    # (opening the connection stays bounded).
    settings = dataclasses.replace(settings, statement_timeout=0, socket_timeout=None)
    database = create_database(settings, poolclass=NullPool)
    try:
        with database.engine.begin() as connection:
            yield connection
    finally:
        database.dispose()


def upgrade(url: DatabaseTarget = None, revision: str = "head") -> None:
    """Migrate forward to ``revision`` (default: the newest) in one transaction."""
    config = alembic_config()
    with _alembic_lock, _connection(url) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(url: DatabaseTarget, revision: str) -> None:
    """Migrate back to ``revision`` (``"base"`` drops everything Alembic created)."""
    config = alembic_config()
    with _alembic_lock, _connection(url) as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def current_revision(url: DatabaseTarget = None) -> str | None:
    """The revision the database is at, or ``None`` when it was never migrated."""
    with _connection(url) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """The newest revision the packaged scripts know."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head
