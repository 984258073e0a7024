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
from typing import Literal

from devstack.harness import ProcessHarness

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


class FunctionServer(ProcessHarness):
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
        if log_path is None:
            log_path = Path(tempfile.mkdtemp(prefix="ki-fn-")) / f"{target}.log"
        super().__init__(port, log_path)
        self.target = target
        self.source = Path(source)
        self.signature_type = signature_type
        self.env = dict(env or {})
        self.binary = functions_framework_binary()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def process_name(self) -> str:
        return f"function {self.target}"

    def failure(self) -> str | None:
        if self.is_running():
            return None
        return f"function {self.target} exited; see {self.log_path}"

    def command(self) -> list[str]:
        return [
            str(self.binary),
            "--target",
            self.target,
            "--source",
            str(self.source),
            "--signature-type",
            self.signature_type,
            "--port",
            str(self.port),
            "--host",
            "127.0.0.1",
        ]

    def process_env(self) -> dict[str, str | None]:
        return {"PYTHONUNBUFFERED": "1", **self.env}

    def cwd(self) -> Path:
        return self.source.parent
