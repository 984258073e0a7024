"""The local stack's Cloud Tasks: the patched PyPI emulator with the backtests queue.

Publishes ``CLOUD_TASKS_EMULATOR_HOST`` (read by :class:`shared.messaging.tasks.TaskQueue`)
and ``CLOUD_TASKS_QUEUE`` to later services. The emulator keeps tasks in memory only: a
task still queued when the stack stops is gone on the next start. The first start builds
its virtual environment (``.venv-tasks``), which takes a minute.
"""

from __future__ import annotations

import argparse

from devstack.services.base import StackContext, add_port_option, first_failure, stop_all
from devstack.state import remembered_port
from devstack.tasks_emulator import DEFAULT_QUEUE_PATH, DEFAULT_VENV_DIR, CloudTasksEmulator

__all__ = ["CloudTasksService"]


class CloudTasksService:
    name = "cloud-tasks"

    def __init__(self) -> None:
        self.emulator: CloudTasksEmulator | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        add_port_option(parser, "--tasks-port", "Cloud Tasks emulator")
        parser.add_argument(
            "--tasks-queue",
            default=DEFAULT_QUEUE_PATH,
            help=f"queue path the emulator creates (default {DEFAULT_QUEUE_PATH})",
        )

    def start(self, ctx: StackContext) -> None:
        port = remembered_port(ctx.state_dir, "tasks", getattr(ctx.options, "tasks_port", None))
        queue = getattr(ctx.options, "tasks_queue", None) or DEFAULT_QUEUE_PATH
        self.emulator = CloudTasksEmulator(
            port,
            venv_dir=DEFAULT_VENV_DIR,
            log_path=ctx.logs_dir / "tasks-emulator.log",
            queue_path=queue,
        )
        self.emulator.start(timeout=120)
        ctx.env.update(self.emulator.env)

    def stop(self) -> None:
        stop_all(self.emulator)

    def check(self) -> str | None:
        return first_failure(self.emulator)

    def describe(self) -> list[str]:
        if self.emulator is None:
            return []
        return [
            f"Cloud Tasks  emulator {self.emulator.host}  queue {self.emulator.queue_path}",
            f"             log {self.emulator.log_path}",
        ]
