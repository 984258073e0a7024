"""Tools whose pins fight the project's, each in a virtual environment of its own.

The Cloud Tasks emulator needs protobuf < 5 (the project holds 7); checkov installs a module
named ``hcl2`` over the one the policy tests import. Each gets a venv built from exact pins
in a requirements file. A lock file serialises concurrent builders (several test sessions
may share a machine) and a marker holding the requirements' hash makes an unchanged venv
cost one file read; changed pins rebuild it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["ToolVenvError", "ensure_tool_venv", "lock_path"]

_MARKER = ".requirements-sha256"


class ToolVenvError(RuntimeError):
    """The venv could not be created or installed; the message carries pip's output."""


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lock_path(venv_dir: Path) -> Path:
    """The lock file beside ``venv_dir``: ``.venv-checkov`` -> ``.venv-checkov.lock``.

    The venv's own name plus ``.lock``, never a second leading dot: an older builder wrote
    ``..venv-checkov.lock``, which no ignore rule matched, into the repository root.
    """
    venv_dir = Path(venv_dir)
    return venv_dir.parent / f"{venv_dir.name}.lock"


def ensure_tool_venv(
    venv_dir: Path, requirements: Path, *, expect: str = "python", timeout: float = 900
) -> Path:
    """Build or refresh ``venv_dir`` from ``requirements``; return ``venv_dir/bin/<expect>``."""
    venv_dir = Path(venv_dir)
    python = venv_dir / "bin" / "python"
    wanted = venv_dir / "bin" / expect
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    marker = venv_dir / _MARKER

    def up_to_date() -> bool:
        return wanted.exists() and marker.exists() and marker.read_text().strip() == digest

    if up_to_date():
        return wanted
    with _exclusive(lock_path(venv_dir)):
        if up_to_date():
            return wanted
        # The project's own constraints must not leak into the tool's resolution.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_CONSTRAINT")}
        env.pop("VIRTUAL_ENV", None)
        steps: list[list[str]] = []
        if not python.exists():
            steps.append([sys.executable, "-m", "venv", str(venv_dir)])
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        steps.append([*pip, "-r", str(requirements)])
        for step in steps:
            try:
                result = subprocess.run(
                    step, capture_output=True, text=True, env=env, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired as error:
                raise ToolVenvError(
                    f"building {venv_dir} took longer than {timeout:.0f} s ({' '.join(step[:4])})"
                ) from error
            if result.returncode != 0:
                raise ToolVenvError(
                    f"building {venv_dir} failed ({' '.join(step[:4])} ...):\n"
                    f"{result.stderr[-3000:]}"
                )
        if not wanted.exists():
            raise ToolVenvError(f"{wanted} is missing after installing {requirements}")
        marker.write_text(digest + "\n")
    return wanted
