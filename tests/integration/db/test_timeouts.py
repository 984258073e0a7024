"""The statement timeout reaches the server on the plain URL path, a statement it cancels
keeps its (healthy) connection, and migrations run without one."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.config import DatabaseSettings
from shared.db import migrate
from shared.db.engine import create_database

pytestmark = pytest.mark.integration


def test_statement_timeout_is_set_and_a_cancelled_statement_keeps_its_connection(
    migrated_database: str,
) -> None:
    database = create_database(
        DatabaseSettings(database_url=migrated_database, statement_timeout=0.3),
        pool_size=1,
        max_overflow=0,
    )
    try:
        with database.engine.connect() as connection:
            assert connection.execute(sa.text("SHOW statement_timeout")).scalar_one() == "300ms"
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        # An OperationalError (an outage: 503), not pg8000's ProgrammingError (a bug: 500).
        with (
            pytest.raises(sa.exc.OperationalError, match="statement timeout"),
            database.engine.connect() as connection,
        ):
            connection.execute(sa.text("SELECT pg_sleep(5)"))
        with database.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one() == pid
    finally:
        database.dispose()


def test_migrations_run_without_a_statement_timeout(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = migrate.create_database

    def spying(settings: DatabaseSettings | None = None, **options: object) -> object:
        database = real(settings, **options)  # type: ignore[arg-type]
        with database.engine.connect() as connection:
            seen.append(connection.execute(sa.text("SHOW statement_timeout")).scalar_one())
        return database

    monkeypatch.setenv("DB_STATEMENT_TIMEOUT", "1")
    monkeypatch.setattr(migrate, "create_database", spying)
    assert migrate.current_revision(fresh_database) is None
    assert seen == ["0"]
