"""Fixtures for the auth integration tests: a migrated database with two users, engines
as the deployables' roles, and the Secret Manager emulator seeded as the local stack does."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from devstack.secret_manager_emulator import SecretManagerEmulator
from shared.db.roles import deployable_url, ensure_local_logins

ALICE = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
BOB = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
PROJECT = "ki-auth-tests"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def auth_database(migrated_database: str) -> str:
    """A migrated database with the deployables' local logins and two users."""
    engine = sa.create_engine(migrated_database, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            ensure_local_logins(connection)
            for user_id, key_id in ((ALICE, "key-alice"), (BOB, "key-bob")):
                connection.execute(
                    sa.text(
                        "INSERT INTO users (id, kalshi_key_id, environment) "
                        "VALUES (:id, :key, 'custom')"
                    ),
                    {"id": user_id, "key": key_id},
                )
    finally:
        engine.dispose()
    return migrated_database


@pytest.fixture
def engine_as() -> Iterator[object]:
    """``engine_as(url, deployable)``: an engine logged in as that deployable's role."""
    engines: list[sa.Engine] = []

    def make(url: str, deployable: str | None = None) -> sa.Engine:
        target = deployable_url(url, deployable) if deployable else url
        engine = sa.create_engine(target, poolclass=NullPool)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def secret_manager(tmp_path: Path) -> Iterator[SecretManagerEmulator]:
    """The Secret Manager emulator as a child process on loopback, data in ``tmp_path``."""
    harness = SecretManagerEmulator(
        free_port(), data_dir=tmp_path / "secret-manager", log_path=tmp_path / "sm.log"
    )
    with harness:
        yield harness


@pytest.fixture
def seeded_secrets(secret_manager: SecretManagerEmulator) -> SecretManagerEmulator:
    """The emulator with the local stack's seeded key rings."""
    from devstack.services.secret_manager import seed_secrets
    from shared.secrets import secret_manager_client

    seed_secrets(secret_manager_client(secret_manager.host), PROJECT)
    return secret_manager
