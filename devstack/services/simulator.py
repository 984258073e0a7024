"""The local stack's Kalshi: the exchange simulator as a child process.

Runs :class:`devstack.simulator_process.SimulatorProcess` with a demo account whose
credentials land in ``STATE_DIR/demo-account.json`` (mode 0600; reused on
the next run, so the same key keeps working). Publishes ``KALSHI_BASE_URL``,
``KALSHI_WS_URL``, ``KALSHI_KEY_ID`` and ``KALSHI_PRIVATE_KEY_PATH`` for later services.

With a real Kalshi key in the launcher's environment (``KALSHI_KEY_ID`` and
``KALSHI_PRIVATE_KEY_PATH``; ``KALSHI_ENV=production`` for production, demo otherwise) no
simulator starts: the same stack talks to Kalshi itself.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path

from devstack.services.base import StackContext, add_port_option, first_failure, stop_all
from devstack.simulator_process import SimulatorProcess
from devstack.state import remembered_port
from shared.kalshi.environments import KalshiEnvironment, resolve_environment

__all__ = ["SimulatorService"]

DEMO_ACCOUNT_FILE = "demo-account.json"


class SimulatorService:
    name = "simulator"

    def __init__(self) -> None:
        self.process: SimulatorProcess | None = None
        self.port: int | None = None
        self.account_file: Path | None = None
        self.key_id: str | None = None
        self.real_exchange: KalshiEnvironment | None = None

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        add_port_option(parser, "--sim-port", "Kalshi simulator")
        parser.add_argument("--sim-seed", type=int, default=1, help="simulator seed (default: 1)")
        parser.add_argument(
            "--sim-markets",
            type=int,
            default=300,
            help="markets the simulator lists (default: 300)",
        )

    def start(self, ctx: StackContext) -> None:
        real = real_kalshi_from_env(os.environ)
        if real is not None:
            self._use_real_exchange(ctx, real)
            return
        port = remembered_port(ctx.state_dir, "simulator", getattr(ctx.options, "sim_port", None))
        self.port = port
        self.account_file = ctx.state_dir / DEMO_ACCOUNT_FILE
        self.process = SimulatorProcess(
            port,
            seed=getattr(ctx.options, "sim_seed", 1) or 1,
            markets=getattr(ctx.options, "sim_markets", 300) or 300,
            account_file=self.account_file,
            state_dir=ctx.state_dir,
            log_path=ctx.logs_dir / "simulator.log",
        )
        self.process.start(timeout=60)
        self.key_id = json.loads(self.account_file.read_text())["key_id"]
        self.account_file.chmod(0o600)
        base = f"http://127.0.0.1:{port}"
        ctx.env.update(
            {
                "KALSHI_BASE_URL": f"{base}/trade-api/v2",
                "KALSHI_WS_URL": f"ws://127.0.0.1:{port}/trade-api/ws/v2",
                "KALSHI_KEY_ID": self.key_id,
                "KALSHI_PRIVATE_KEY_PATH": str(self.account_file.with_suffix(".pem")),
            }
        )
        self._write_pem()

    def _use_real_exchange(self, ctx: StackContext, environment: KalshiEnvironment) -> None:
        key_id = os.environ["KALSHI_KEY_ID"].strip()
        key_path = Path(os.environ["KALSHI_PRIVATE_KEY_PATH"]).expanduser().resolve()
        if not key_path.is_file():
            raise RuntimeError(f"KALSHI_PRIVATE_KEY_PATH does not name a file: {key_path}")
        self.real_exchange = environment
        self.key_id = key_id
        ctx.env.update(
            {
                "KALSHI_ENV": environment.name,
                "KALSHI_BASE_URL": environment.rest_base_url,
                "KALSHI_WS_URL": environment.ws_url,
                "KALSHI_KEY_ID": key_id,
                "KALSHI_PRIVATE_KEY_PATH": str(key_path),
            }
        )

    def _write_pem(self) -> None:
        """The private key alone as a PEM file, for tools that want a key path."""
        assert self.account_file is not None
        pem = json.loads(self.account_file.read_text())["private_key_pem"]
        path = self.account_file.with_suffix(".pem")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(pem)
        path.chmod(0o600)

    def stop(self) -> None:
        stop_all(self.process)

    def check(self) -> str | None:
        return first_failure(self.process)

    def describe(self) -> list[str]:
        if self.real_exchange is not None:
            return [
                f"Kalshi       {self.real_exchange.name}: {self.real_exchange.rest_base_url}",
                f"             your key id {self.key_id} (no simulator started)",
            ]
        if self.process is None or self.port is None or self.account_file is None:
            return []
        pem = self.account_file.with_suffix(".pem")
        return [
            f"Kalshi sim   http://127.0.0.1:{self.port}/trade-api/v2  "
            f"ws://127.0.0.1:{self.port}/trade-api/ws/v2",
            f"             demo account key id {self.key_id}",
            f"             sign in with it: key id and private_key_pem in {self.account_file}",
            f"             (any Kalshi client: KALSHI_BASE_URL=http://127.0.0.1:{self.port}"
            f"/trade-api/v2 KALSHI_KEY_ID={self.key_id} "
            f"KALSHI_PRIVATE_KEY_PATH={pem})",
            f"             admin http://127.0.0.1:{self.port}/_sim/state",
            f"             log {self.process.log_path}",
        ]


def real_kalshi_from_env(env: Mapping[str, str]) -> KalshiEnvironment | None:
    """The real Kalshi environment to use instead of the simulator, if a key is configured.

    Two variables switch it on: ``KALSHI_KEY_ID`` and ``KALSHI_PRIVATE_KEY_PATH``. The
    exchange is demo unless ``KALSHI_ENV=production``: demo cannot move real money.
    """
    key_id = (env.get("KALSHI_KEY_ID") or "").strip()
    key_path = (env.get("KALSHI_PRIVATE_KEY_PATH") or "").strip()
    if not key_id or not key_path:
        return None
    return resolve_environment((env.get("KALSHI_ENV") or "demo").strip())
