"""Session-wide fixtures: a real Postgres the tests start and stop themselves.

- ``postgres``: one throwaway cluster per session (fsync off: fast). As root it runs as the
  ``postgres`` user through ``runuser`` (see devstack/postgres.py); as anyone else, directly.
- ``fresh_database``: an empty database of its own for one test.
- ``migrated_database``: a database of its own already at the newest schema. It is copied
  from a template migrated once per session, so it costs a ``CREATE DATABASE``, not a
  migration run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.postgres import LocalPostgres
from tests.databases import admin_run, recreate_database, throwaway_cluster

pytest_plugins = ["tests.plugins.gcp_emulators", "tests.plugins.kalshi_sim"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A throwaway Postgres cluster for the whole test session (fsync off: fast)."""
    with throwaway_cluster("ki-test-pg-") as server:
        yield server


def _database_name(request: pytest.FixtureRequest) -> str:
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


@pytest.fixture
def fresh_database(postgres: LocalPostgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of its own for one test; yields its SQLAlchemy URL."""
    name = _database_name(request)
    yield recreate_database(postgres, name)
    admin_run(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def _migrated_template(postgres: LocalPostgres) -> str:
    from shared.db.migrate import upgrade

    name = "ki_template_head"
    upgrade(recreate_database(postgres, name))
    return name


@pytest.fixture
def migrated_database(
    postgres: LocalPostgres, _migrated_template: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A database of its own at the newest schema (``alembic upgrade head``); yields its URL."""
    name = _database_name(request)
    admin_run(
        postgres,
        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        f'CREATE DATABASE "{name}" TEMPLATE "{_migrated_template}"',
    )
    yield postgres.url_for(name)
    admin_run(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_configure(config: pytest.Config) -> None:
    """Keep the suite hermetic: a developer's own Kalshi key or URLs never leak into tests."""
    import os

    for name in [n for n in os.environ if n.startswith("KALSHI_")]:
        del os.environ[name]
    # The cursors' MAC key: the cloud refuses to start without one (shared.config.cursor_key),
    # so the suite brings its own; tests of that refusal remove it.
    os.environ["API_CURSOR_KEY"] = "kalshi-insights-test-cursor-key"
