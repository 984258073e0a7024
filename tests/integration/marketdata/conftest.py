"""Fixtures for market-data integration tests: a migrated database of the test's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.db.migrate import upgrade
from tests.function_env import function_environment


@pytest.fixture
def migrated_url(fresh_database: str) -> str:
    upgrade(fresh_database)
    return fresh_database


@pytest.fixture
def engine(migrated_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(migrated_url, poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def seeded_api(postgres, simulator, request):
    """The real ``markets`` function (functions-framework app, in process) on a database of
    this module's own, seeded with the hand-made universe, and the session simulator as its
    Kalshi (which knows none of the hand-made tickers). Yields a Flask test client."""

    import functions_framework

    from tests.databases import recreate_database
    from tests.integration.marketdata.handmade import seed

    name = "md_api_" + request.module.__name__.rsplit(".", 1)[-1][:30]
    url = recreate_database(postgres, name)
    upgrade(url)
    seeding = sa.create_engine(url, poolclass=NullPool)
    seed(seeding)
    seeding.dispose()

    wanted = {"DATABASE_URL": url, "KALSHI_BASE_URL": simulator.base_url}
    with function_environment(wanted):
        app = functions_framework.create_app("markets", "functions/markets/main.py", "http")
        yield app.test_client()
