"""``kalshi-insights up --backfill-daily``: the local stack's stand-in of the daily backfill.

The stack's service creates the ``backfill`` queue on the Cloud Tasks emulator, runs the
``backfill`` function as its own login (``fn_backfill``: the grants the cloud gives it) and
a ``DailyJob``; the job's run reaches the function, whose fan-out the emulator delivers
until markets are loaded. Without the flag the service starts nothing (``up`` is as fast
as before).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from devstack.services.backfill import DailyBackfillService, backfill_queue_path
from devstack.services.base import StackContext
from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer
from shared.db.roles import create_local_logins
from shared.messaging.tasks import TaskQueue

pytestmark = pytest.mark.integration

START = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)


def test_without_the_flag_nothing_starts(tmp_path: Path) -> None:
    service = DailyBackfillService()
    service.start(StackContext(state_dir=tmp_path, options=argparse.Namespace()))
    assert service.function is None and service.job is None
    assert service.describe() == [] and service.check() is None
    service.stop()
    with pytest.raises(ValueError):
        backfill_queue_path("backtests")


def test_the_daily_job_reaches_the_function_which_loads_through_the_queue(
    migrated_database: str, tasks_emulator: Any, tmp_path: Path
) -> None:
    create_local_logins(migrated_database)
    config = SimConfig(
        seed=4242, n_markets=40, tick_interval_s=None, start_time_s=START.timestamp()
    )
    engine = sa.create_engine(migrated_database, poolclass=NullPool)
    service = DailyBackfillService()
    queue_path = backfill_queue_path(tasks_emulator.queue_path)
    with SimulatorServer(config) as sim:
        key_id, pem = sim.create_account()
        budget = {"refill_rate": 4000, "bucket_capacity": 4000, "enforce": False}
        httpx.post(sim.admin_url + "/budget", json=budget).raise_for_status()
        key_path = tmp_path / "demo.pem"
        key_path.write_text(pem)
        ctx = StackContext(state_dir=tmp_path, options=argparse.Namespace(backfill_daily=True))
        ctx.env.update(
            {
                "DATABASE_URL": migrated_database,
                "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator.host,
                "CLOUD_TASKS_QUEUE": tasks_emulator.queue_path,
                "KALSHI_BASE_URL": sim.base_url,
                "KALSHI_KEY_ID": key_id,
                "KALSHI_PRIVATE_KEY_PATH": str(key_path),
                "BACKFILL_DAYS": "1",
            }
        )
        try:
            service.start(ctx)
            assert service.job is not None and service.function is not None
            assert service.queue == queue_path
            assert "07:00 UTC" in "\n".join(service.describe())
            # The run Cloud Scheduler would make on the morning of 2026-11-01.
            service.job.fire(dt.datetime(2026, 11, 1, 7, 0, tzinfo=dt.UTC))
            assert (service.job.runs, service.job.failures) == (1, 0), service.job.last_error
            deadline = time.monotonic() + 60
            done = 0
            while time.monotonic() < deadline and not done:
                with engine.connect() as c:
                    done = c.execute(
                        sa.text(
                            "SELECT count(*) FROM backfill_checkpoints "
                            "WHERE completed_at IS NOT NULL"
                        )
                    ).scalar_one()
                time.sleep(0.2)
            log = service.function.log_path.read_text()
            assert done, log[-3000:]
            assert service.check() is None
        finally:
            service.stop()
            engine.dispose()
            # What the fan-out queued and the stopped function cannot run any more.
            queue = TaskQueue(queue_path, emulator_host=tasks_emulator.host)
            queue.client.purge_queue(name=queue_path)
    assert service.check() is not None  # stopped: the function is gone
