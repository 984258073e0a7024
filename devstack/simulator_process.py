"""The Kalshi exchange simulator as a child process (``python -m emulators.kalshi_sim``).

What ``kalshi-insights sim`` runs, started by the local stack with a demo account whose
credentials are written to ``account_file`` and with its world kept in ``state_dir``
(a restart continues it). A child process rather than a thread: the exchange ticks and
fans out WebSocket frames on its own interpreter, never competing with the launcher's.
The tests run the simulator in-process instead
(:class:`emulators.kalshi_sim.runner.SimulatorServer`), with a manual clock.
"""

from __future__ import annotations

import sys
from pathlib import Path

from devstack.harness import ProcessHarness
from devstack.process import Ready, http_ok

__all__ = ["SimulatorProcess"]


class SimulatorProcess(ProcessHarness):
    """The simulator on ``127.0.0.1:port``; ready once ``/exchange/status`` answers."""

    description = "Kalshi simulator"

    def __init__(
        self,
        port: int,
        *,
        seed: int,
        markets: int,
        account_file: Path,
        state_dir: Path,
        log_path: Path,
    ) -> None:
        super().__init__(port, log_path)
        self.seed = seed
        self.markets = markets
        self.account_file = account_file
        self.state_dir = state_dir

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def process_name(self) -> str:
        return "kalshi-simulator"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "emulators.kalshi_sim",
            "--port",
            str(self.port),
            "--seed",
            str(self.seed),
            "--markets",
            str(self.markets),
            "--demo-account-out",
            str(self.account_file),
            # The world continues across runs, so stored history has no jumps.
            "--state-dir",
            str(self.state_dir),
        ]

    def ready(self) -> Ready:
        return http_ok(f"{self.base_url}/trade-api/v2/exchange/status")
