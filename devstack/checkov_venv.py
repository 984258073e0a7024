"""checkov (Terraform static analysis) in a virtual environment of its own: ``.venv-checkov``.

checkov pins dozens of libraries, among them ``bc-python-hcl2``, which installs a module
named ``hcl2`` exactly like ``python-hcl2`` that the project's policy tests import. Inside
the project venv the two would overwrite each other, so checkov lives in ``.venv-checkov``
(git-ignored), built from the exact pins in ``infra/checkov-requirements.txt``. A lock
file serialises concurrent builders (several test sessions share this machine) and a hash
marker makes an unchanged venv cost one file read.

Run ``python -m devstack.checkov_venv`` to build it ahead of time (CI does, in its own
step); ``tests/infra`` calls :func:`ensure_checkov` and skips with the reason when PyPI is
unreachable.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

__all__ = [
    "DEFAULT_VENV_DIR",
    "REQUIREMENTS_FILE",
    "CheckovSetupError",
    "checkov_binary",
    "ensure_checkov",
    "main",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS_FILE = REPO_ROOT / "infra" / "checkov-requirements.txt"
DEFAULT_VENV_DIR = REPO_ROOT / ".venv-checkov"
_MARKER = ".requirements-sha256"


class CheckovSetupError(RuntimeError):
    """The checkov venv could not be created or installed; the message has pip's output."""


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def checkov_binary(venv_dir: Path = DEFAULT_VENV_DIR) -> Path:
    return Path(venv_dir) / "bin" / "checkov"


def _digest(requirements: Path) -> str:
    return hashlib.sha256(requirements.read_bytes()).hexdigest()


def ensure_checkov(
    venv_dir: Path = DEFAULT_VENV_DIR,
    requirements: Path = REQUIREMENTS_FILE,
    *,
    timeout: float = 900,
) -> Path:
    """Build or refresh the venv when the pins changed; return the ``checkov`` executable."""
    venv_dir = Path(venv_dir)
    python = venv_dir / "bin" / "python"
    binary = checkov_binary(venv_dir)
    digest = _digest(requirements)
    marker = venv_dir / _MARKER

    def up_to_date() -> bool:
        return binary.exists() and marker.exists() and marker.read_text().strip() == digest

    if up_to_date():
        return binary
    with _exclusive(venv_dir.parent / f".{venv_dir.name}.lock"):
        if up_to_date():
            return binary
        # The project's constraints must not leak into checkov's resolution.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_CONSTRAINT")}
        env.pop("VIRTUAL_ENV", None)
        steps: list[list[str]] = []
        if not python.exists():
            steps.append([sys.executable, "-m", "venv", str(venv_dir)])
        steps.append(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
                str(requirements),
            ]
        )
        for step in steps:
            try:
                result = subprocess.run(
                    step, capture_output=True, text=True, env=env, timeout=timeout, check=False
                )
            except subprocess.TimeoutExpired as error:
                raise CheckovSetupError(
                    f"building {venv_dir} took longer than {timeout:.0f} s ({' '.join(step[:4])})"
                ) from error
            if result.returncode != 0:
                raise CheckovSetupError(
                    f"building {venv_dir} failed ({' '.join(step[:4])} ...):\n"
                    f"{result.stderr[-3000:]}"
                )
        if not binary.exists():
            raise CheckovSetupError(f"{binary} is missing after installing {requirements}")
        marker.write_text(digest + "\n")
    return binary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack.checkov_venv",
        description="Build .venv-checkov from infra/checkov-requirements.txt, print checkov.",
    )
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV_DIR, help="venv directory")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per pip step")
    args = parser.parse_args(argv)
    try:
        print(ensure_checkov(args.venv, timeout=args.timeout))
    except CheckovSetupError as error:
        print(f"checkov setup failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
