"""``kalshi-insights sim``: run the Kalshi exchange simulator in the foreground."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "sim"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from emulators.kalshi_sim.cli import add_arguments

    parser = subparsers.add_parser(
        NAME,
        help="run the Kalshi exchange simulator (REST + WebSocket) until Ctrl-C",
        description=(
            "Serve /trade-api/v2 and /trade-api/ws/v2 like Kalshi does, over a seeded, "
            "living exchange. Admin endpoints under /_sim: faults, accounts, tick, state."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: Any) -> int:
    from emulators.kalshi_sim.cli import run as run_simulator

    return run_simulator(args)
