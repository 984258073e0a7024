"""Run one Cloud Function locally with functions-framework, the way Cloud Run does.

The local stack and the integration tests serve each function in its own process on
127.0.0.1 (``functions-framework --target T --source S --signature-type X``), so a push
subscription or the Cloud Tasks emulator reaches it over real HTTP, as in the cloud.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Literal

from devstack.process import ManagedProcess, tcp_port

__all__ = ["FunctionServer", "functions_framework_binary"]

SignatureType = Literal["http", "cloudevent"]


def functions_framework_binary() -> Path:
    """functions-framework of the venv running us (the project venv), else from PATH."""
    candidate = Path(sys.prefix) / "bin" / "functions-framework"
    if candidate.exists():
        return candidate
    found = shutil.which("functions-framework")
    if found is None:
        raise FileNotFoundError(
            "functions-framework is not installed; run '.venv/bin/pip install -e .[dev]'"
        )
    return Path(found)


class FunctionServer:
    """One function target served on ``127.0.0.1:port``."""

    def __init__(
        self,
        target: str,
        source: Path | str,
        port: int,
        signature_type: SignatureType = "http",
        env: Mapping[str, str | None] | None = None,
        log_path: Path | str | None = None,
    ) -> None:
        if signature_type not in ("http", "cloudevent"):
            raise ValueError(
                f"signature_type must be 'http' or 'cloudevent', not {signature_type!r}"
            )
        self.target = target
        self.source = Path(source)
        self.port = port
        self.signature_type = signature_type
        self.env = dict(env or {})
        if log_path is None:
            log_path = Path(tempfile.mkdtemp(prefix="ki-fn-")) / f"{target}.log"
        self.log_path = Path(log_path)
        self.process = ManagedProcess(
            f"function {target}",
            [
                str(functions_framework_binary()),
                "--target",
                target,
                "--source",
                str(self.source),
                "--signature-type",
                signature_type,
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
            ],
            env={"PYTHONUNBUFFERED": "1", **self.env},
            cwd=self.source.parent,
            log_path=self.log_path,
            ready=tcp_port(port),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> FunctionServer:
        self.process.start(timeout=timeout)
        return self

    def stop(self, grace: float = 10) -> None:
        self.process.stop(grace=grace)

    def is_running(self) -> bool:
        return self.process.is_running()

    def log_text(self) -> str:
        return self.process.log_text()

    def __enter__(self) -> FunctionServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
