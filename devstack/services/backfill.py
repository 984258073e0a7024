"""The local stack's daily backfill, on request: ``kalshi-insights up --backfill-daily``.

In the cloud a Cloud Scheduler job POSTs ``/_jobs/backfill`` on the ``backfill`` function
once a day (``infra/modules/platform/main.tf``: ``backfill_schedule``); the function queues
a fan-out task on the ``backfill`` queue, which enqueues one task per series (ADR 0232).
With the flag this service does the same locally: it creates the ``backfill`` queue on the
Cloud Tasks emulator, runs the ``backfill`` function under functions-framework as its own
login (``fn_backfill``), signing with the simulator's demo key as the market-data functions
do, and a :class:`devstack.scheduler.DailyJob` POSTs the job at 07:00 UTC, as Terraform's
default schedule does.

Off by default (ADR 0232): ``up`` starts nothing more and is ready as soon as before, and
the tests that start the stack are untouched. A local stack rarely lives through 07:00 UTC,
and a first backfill of the simulator's whole past takes a while at the key's budget; the
command line (``kalshi-insights backfill``) loads history on demand.
"""

from __future__ import annotations

import argparse
from datetime import time as wall_time
from zoneinfo import ZoneInfo

from devstack.functions_runner import FunctionServer
from devstack.scheduler import DailyJob
from devstack.services.base import StackContext, first_failure, stop_all
from devstack.services.functions import function_server
from devstack.state import remembered_port

__all__ = ["JOB_PATH", "JOB_TIME", "DailyBackfillService", "backfill_queue_path"]

JOB_PATH = "/_jobs/backfill"
JOB_TIME = wall_time(7, 0)
"""Terraform's default ``backfill_schedule`` ("0 7 * * *", UTC)."""
_NEEDS = ("DATABASE_URL", "CLOUD_TASKS_EMULATOR_HOST", "CLOUD_TASKS_QUEUE", "KALSHI_BASE_URL")


def backfill_queue_path(tasks_queue: str) -> str:
    """The ``backfill`` queue beside the stack's ``backtests`` queue (same project, location)."""
    parent, _, _ = tasks_queue.rpartition("/queues/")
    if not parent:
        raise ValueError(f"not a queue path: {tasks_queue!r}")
    return f"{parent}/queues/backfill"


def create_queue(emulator_host: str, queue_path: str) -> None:
    """Create ``queue_path`` on the emulator (creating an existing queue changes nothing)."""
    from shared.messaging.tasks import TaskQueue

    parent = queue_path.rpartition("/queues/")[0]
    TaskQueue(queue_path, emulator_host=emulator_host).client.create_queue(
        parent=parent, queue={"name": queue_path}
    )


class DailyBackfillService:
    name = "backfill"

    def __init__(self) -> None:
        self.function: FunctionServer | None = None
        self.job: DailyJob | None = None
        self.queue: str | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--backfill-daily",
            action="store_true",
            default=False,
            help="also run the backfill function and its daily job (07:00 UTC, settled "
            "markets of the last BACKFILL_DAYS days), as Cloud Scheduler does in the cloud",
        )

    def start(self, ctx: StackContext) -> None:
        if not getattr(ctx.options, "backfill_daily", False):
            return
        missing = [name for name in _NEEDS if not ctx.env.get(name)]
        if missing:
            raise RuntimeError(f"the backfill needs {', '.join(missing)} from earlier services")
        self.queue = backfill_queue_path(ctx.env["CLOUD_TASKS_QUEUE"])
        create_queue(ctx.env["CLOUD_TASKS_EMULATOR_HOST"], self.queue)
        port = remembered_port(ctx.state_dir, "backfill", None)
        url = f"http://127.0.0.1:{port}"
        env = {
            **ctx.env,
            "APP_ENVIRONMENT": "local",
            "BACKFILL_QUEUE": self.queue,
            "BACKFILL_URL": url,
        }
        self.function = function_server(ctx, "backfill", port, env).start(timeout=60)
        self.job = DailyJob("backfill", url + JOB_PATH, at=JOB_TIME, zone=ZoneInfo("UTC")).start()

    def stop(self) -> None:
        stop_all(self.job, self.function)

    def check(self) -> str | None:
        return first_failure(self.function)

    def describe(self) -> list[str]:
        if self.function is None or self.job is None:
            return []
        return [
            f"Backfill     function {self.function.url}  log {self.function.log_path}",
            f"             daily at {self.job.describe()} onto {self.queue}",
        ]
