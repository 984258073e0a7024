"""``kalshi-insights up``: run the whole system on this machine (see :mod:`devstack.stack`)."""

from __future__ import annotations

import argparse
import faulthandler
import signal
from typing import Any

NAME = "up"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        NAME,
        help="run the local stack until Ctrl-C",
        description=(
            "Start Postgres (migrated) and every other local service, print what runs "
            "where and then 'Dashboard: http://127.0.0.1:PORT'; Ctrl-C or SIGTERM stops "
            "everything. Data stays in the state directory for the next run."
        ),
    )
    parser.add_argument("--port", type=int, default=8080, help="the gateway's port (default: 8080)")
    parser.add_argument(
        "--state-dir",
        default=".local",
        help="where data, logs and remembered ports live (default: .local)",
    )
    # Services add their own options (--postgres-port ...). Imported here, not at module
    # import, so other commands never pay for (or break on) the stack's imports.
    from devstack.stack import add_service_arguments

    add_service_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: Any) -> int:
    from devstack.stack import run_stack

    # `kill -USR2 <pid>` prints every thread's stack to stderr: the way to see where a
    # start or stop that seems stuck is waiting, without stopping it.
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    return run_stack(args)
