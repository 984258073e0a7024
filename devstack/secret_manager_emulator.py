"""The local Secret Manager emulator as a process harness (``emulators.secret_manager``).

Runs ``python -m emulators.secret_manager`` with this interpreter, its data under
``data_dir``; clients reach it through ``SECRET_MANAGER_EMULATOR_HOST`` (see
:func:`shared.secrets.secret_manager_client`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from devstack.harness import ProcessHarness
from devstack.process import Ready, all_of, log_line, tcp_port

__all__ = ["SecretManagerEmulator"]

_REPO = Path(__file__).resolve().parents[1]


class SecretManagerEmulator(ProcessHarness):
    """One emulator on ``127.0.0.1:port`` persisting to ``data_dir``."""

    description = "Secret Manager emulator"
    start_timeout = 30.0
    stop_grace = 5.0

    def __init__(
        self,
        port: int,
        data_dir: Path | str | None = None,
        log_path: Path | str | None = None,
    ) -> None:
        if data_dir is None or log_path is None:
            scratch = Path(tempfile.mkdtemp(prefix="ki-secret-manager-"))
            data_dir = data_dir or scratch / "data"
            log_path = log_path or scratch / "secret-manager.log"
        super().__init__(port, log_path)
        self.data_dir = Path(data_dir)

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to reach this emulator."""
        return {"SECRET_MANAGER_EMULATOR_HOST": self.host}

    def process_name(self) -> str:
        return "secret-manager-emulator"

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "emulators.secret_manager",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
        ]

    def cwd(self) -> Path | None:
        return _REPO

    def process_env(self) -> dict[str, str | None]:
        return {"SECRET_MANAGER_EMULATOR_HOST": None}

    def ready(self) -> Ready:
        return all_of(log_line(r"secret manager emulator listening"), tcp_port(self.port))
