"""The local stack's Pub/Sub: Google's emulator, with every topic and dead-letter topic.

Publishes ``PUBSUB_EMULATOR_HOST`` and ``PUBSUB_PROJECT_ID`` to later services (the
Google client libraries read the first one themselves) and creates the shared topology:
topics, their dead-letter topics and the pull subscriptions that keep dead letters. The
services that run consumers add their push subscriptions with
:func:`devstack.pubsub_admin.ensure_topology` once their URLs are known.
"""

from __future__ import annotations

import argparse
import os

from devstack.pubsub_emulator import DEFAULT_PROJECT, PubSubEmulator
from devstack.services.base import StackContext, add_port_option, first_failure, stop_all
from devstack.state import remembered_port

__all__ = ["PubSubService"]


class PubSubService:
    name = "pubsub"

    def __init__(self) -> None:
        self.emulator: PubSubEmulator | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        add_port_option(parser, "--pubsub-port", "Pub/Sub emulator")
        parser.add_argument(
            "--pubsub-project",
            default=DEFAULT_PROJECT,
            help=f"Pub/Sub project id on the emulator (default {DEFAULT_PROJECT})",
        )

    def start(self, ctx: StackContext) -> None:
        from devstack.pubsub_admin import ensure_topology

        port = remembered_port(ctx.state_dir, "pubsub", getattr(ctx.options, "pubsub_port", None))
        project = getattr(ctx.options, "pubsub_project", None) or DEFAULT_PROJECT
        self.emulator = PubSubEmulator(
            port,
            project=project,
            data_dir=ctx.state_dir / "pubsub",
            log_path=ctx.logs_dir / "pubsub-emulator.log",
        )
        self.emulator.start(timeout=180)
        ctx.env.update(self.emulator.env)
        # The launcher itself creates the topology (and later services' subscriptions), so
        # its own Google clients must reach the emulator too.
        os.environ.update(self.emulator.env)
        ensure_topology(project)

    def stop(self) -> None:
        stop_all(self.emulator)

    def check(self) -> str | None:
        return first_failure(self.emulator)

    def describe(self) -> list[str]:
        if self.emulator is None:
            return []
        return [
            f"Pub/Sub      emulator {self.emulator.host}  project {self.emulator.project}",
            "             topics poll-trigger, market-snapshots, account-events, "
            "backtest-events (+ -dead-letter)",
            f"             log {self.emulator.log_path}",
        ]
