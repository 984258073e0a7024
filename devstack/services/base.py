"""The contract every local-stack service follows.

``kalshi-insights up`` starts services in order. Each one reads what earlier services
published in :attr:`StackContext.env` (``DATABASE_URL``, ``PUBSUB_EMULATOR_HOST``,
``KALSHI_BASE_URL`` ...), publishes its own, may add routes to the local gateway, and
prints where it runs. Stopping happens in reverse order.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

__all__ = ["Service", "StackContext", "add_port_option", "first_failure", "stop_all"]


@dataclass
class StackContext:
    state_dir: Path
    options: argparse.Namespace
    # Environment variables for processes started after this point.
    env: dict[str, str] = field(default_factory=dict)
    # Gateway routes: path prefix (e.g. "/api/v1/markets") -> upstream origin.
    gateway_routes: dict[str, str] = field(default_factory=dict)
    # (service name, its describe() lines) for every service started so far, in order; the
    # launcher fills it, the gateway's fallback page shows it.
    summary: list[tuple[str, list[str]]] = field(default_factory=list)
    # The origin a person opens; the gateway sets it, the launcher prints it last.
    dashboard_url: str | None = None

    @property
    def logs_dir(self) -> Path:
        path = self.state_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path


class Service(Protocol):
    """A piece of the local stack. Listed, in start order, in ``devstack.stack.SERVICES``.

    Optional extras the launcher uses when a service class defines them:

    - ``add_arguments(parser)`` (static or class method): add ``kalshi-insights up`` options;
      they arrive in ``ctx.options``.
    - ``check() -> str | None``: called about once a second while the stack runs; a string
      means the service has failed (for example its process exited), and the launcher stops
      everything and exits non-zero with that message.

    Services are constructed with no arguments.
    """

    name: str

    def start(self, ctx: StackContext) -> None:
        """Start and block until ready (or raise with a clear message)."""

    def stop(self) -> None:
        """Stop; must be safe to call when start failed half-way."""

    def describe(self) -> list[str]:
        """Human lines for the "what runs where" summary."""


class _Stoppable(Protocol):
    def stop(self) -> object: ...


class _Checkable(Protocol):
    def failure(self) -> str | None: ...


def add_port_option(parser: argparse.ArgumentParser, option: str, label: str) -> None:
    """``option`` (e.g. ``--pubsub-port``): where ``label`` listens; unset, a free port that
    :func:`devstack.state.remembered_port` keeps between runs, so URLs stay the same."""
    parser.add_argument(
        option,
        type=int,
        default=None,
        help=f"{label} port (default: a free port, remembered between runs)",
    )


def stop_all(*parts: _Stoppable | None) -> None:
    """Stop each part that was made, in the order given (a service lists them in reverse
    start order); None is a part that ``start`` never reached."""
    for part in parts:
        if part is not None:
            part.stop()


def first_failure(*parts: _Checkable | None) -> str | None:
    """The first part's failure, for :meth:`Service.check`; parts never made cannot fail."""
    for part in parts:
        failure = None if part is None else part.failure()
        if failure is not None:
            return failure
    return None
