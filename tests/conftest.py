"""Session-wide fixtures: a real Postgres the tests start and stop themselves."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres, free_port

pytest_plugins = ["tests.plugins.gcp_emulators", "tests.plugins.kalshi_sim"]


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A throwaway Postgres cluster for the whole test session (fsync off: fast)."""
    base = Path(tempfile.mkdtemp(prefix="ki-test-pg-"))
    base.chmod(0o755)
    server = LocalPostgres(data_dir=base / "data", port=free_port(), log_file=base / "postgres.log")
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@pytest.fixture
def fresh_database(postgres: LocalPostgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of its own for one test; yields its SQLAlchemy URL."""
    import pg8000.native

    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    name = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=postgres.port)
    try:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.run(f'CREATE DATABASE "{name}"')
    finally:
        admin.close()
    yield postgres.url_for(name)
    admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=postgres.port)
    try:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.close()
