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


@dataclass
class StackContext:
    state_dir: Path
    options: argparse.Namespace
    # Environment variables for processes started after this point.
    env: dict[str, str] = field(default_factory=dict)
    # Gateway routes: path prefix (e.g. "/api/v1/markets") -> upstream origin.
    gateway_routes: dict[str, str] = field(default_factory=dict)

    @property
    def logs_dir(self) -> Path:
        path = self.state_dir / "logs"
        path.mkdir(parents=True, exist_ok=True)
        return path


class Service(Protocol):
    name: str

    def start(self, ctx: StackContext) -> None:
        """Start and block until ready (or raise with a clear message)."""

    def stop(self) -> None:
        """Stop; must be safe to call when start failed half-way."""

    def describe(self) -> list[str]:
        """Human lines for the "what runs where" summary."""
