"""Both HTTP API functions, in process, on one real Postgres database, for the fuzz tests.

The apps are what functions-framework builds (``create_app``), so a request goes through
Flask, our framework error handler, the router and the real service code down to SQL;
nothing of ours is replaced. The database holds the hand-made market universe (so market
routes reach their queries) and one finished backtest run (so ``GET /backtests/{id}``
reaches the variant and trades queries, where an oversized integer used to fail).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from shared.db.migrate import upgrade
from tests.function_env import function_environment

RUN_ID = uuid.UUID("6f1c2d3e-4b5a-4c6d-8e7f-0123456789ab")


@dataclass(frozen=True)
class Functions:
    markets: Any  # the Flask app functions-framework serves
    backtests: Any
    run_id: uuid.UUID


def _seed_run(engine: sa.Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO backtest_runs (id, status, strategy, strategy_version, "
                "start_ts, end_ts, progress, owner_address) VALUES (:id, 'completed', "
                "'momentum', '1', '2026-06-01T00:00:00Z', '2026-06-02T00:00:00Z', 1, "
                "'127.0.0.1')"
            ),
            {"id": RUN_ID},
        )


@pytest.fixture(scope="package")
def functions(postgres: Any, simulator: Any, tasks_emulator: Any) -> Iterator[Functions]:
    import functions_framework

    from tests.databases import admin_run, recreate_database
    from tests.integration.marketdata.handmade import seed

    name = "fuzz_functions"
    url = recreate_database(postgres, name)
    upgrade(url)
    seeding = sa.create_engine(url, poolclass=NullPool)
    seed(seeding)
    _seed_run(seeding)
    seeding.dispose()

    wanted = {
        "DATABASE_URL": url,
        "KALSHI_BASE_URL": simulator.base_url,
        "APP_ENVIRONMENT": "local",
        "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator.host,
        "CLOUD_TASKS_QUEUE": tasks_emulator.queue_path,
        # Nothing listens here: the fuzzer's bodies never pass validation far enough to
        # queue a run (the universe has no data in a backtest's window), and if one did,
        # only the emulator's delivery would fail, not the request.
        "BACKTEST_WORKER_URL": "http://127.0.0.1:9/worker",
        # The fuzzer calls without signing in: anonymous runs, owned by the test client's
        # address (the seeded run is that address's, so its id is found).
        "BACKTEST_ANONYMOUS_SUBMISSIONS": "true",
    }
    try:
        with function_environment(wanted):
            yield Functions(
                markets=functions_framework.create_app(
                    "markets", "functions/markets/main.py", "http"
                ),
                backtests=functions_framework.create_app(
                    "backtests", "functions/backtests/main.py", "http"
                ),
                run_id=RUN_ID,
            )
    finally:
        admin_run(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
