"""``kalshi-insights``: the one command-line entry point (``migrate``, ``up``, ``sim`` ...).

Subcommands live in ``devstack/commands/<name>.py`` and are listed in :data:`COMMANDS`.
They are imported when the parser is built, each on its own: a module that does not exist
yet (another issue adds it) is skipped with a debug log, and one that fails to import is
skipped with a warning, so a broken ``sim`` never stops ``migrate`` from working.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS: tuple[str, ...] = (
    "up",
    "migrate",
    "sim",
    "backtest",
    "demo-account",
    "backfill",
    "rotate-keys",
    "orders",
)

logger = logging.getLogger("devstack.cli")


def _register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str) -> None:
    module_name = f"devstack.commands.{name.replace('-', '_')}"  # demo-account: demo_account
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            logger.debug("command %r is not available yet (no %s)", name, module_name)
            return
        logger.warning("command %r is unavailable: %s", name, error)
        return
    except Exception as error:  # a broken command must not take the others down
        logger.warning("command %r is unavailable: %s: %s", name, type(error).__name__, error)
        return
    register = getattr(module, "register", None)
    if register is None:
        logger.warning("command module %s has no register(subparsers)", module_name)
        return
    try:
        register(subparsers)
    except Exception as error:
        logger.warning("command %r is unavailable: %s: %s", name, type(error).__name__, error)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kalshi-insights",
        description="Kalshi Insights: run the local stack and manage its database.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show debug logs from the launcher"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        _register(subparsers, name)
    return parser


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (pytest swaps it per test)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _configure_logging(verbose: bool) -> None:
    # Human-readable on stderr: stdout belongs to the command's own output (the launcher's
    # "Dashboard:" line that scripts wait for). Secrets are scrubbed here too. Other handlers
    # (pytest's) are left alone; ours is installed once.
    from shared.logging import RedactingFilter

    root = logging.getLogger()
    if not any(isinstance(handler, _StderrHandler) for handler in root.handlers):
        handler = _StderrHandler()
        handler.addFilter(RedactingFilter())
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    _configure_logging("-v" in arguments or "--verbose" in arguments)
    # Ctrl-C is a normal way to stop any command, even while its modules still import:
    # exit 130 as shells expect, never a traceback.
    try:
        parser = build_parser()
        args = parser.parse_args(arguments)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 2
        return int(handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
