"""Fixtures for history integration tests: a migrated database of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool


@pytest.fixture
def engine(migrated_database: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(migrated_database, poolclass=NullPool)
    yield engine
    engine.dispose()
