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
import sys
from collections.abc import Sequence
from pathlib import Path

from devstack.tool_venv import ToolVenvError, ensure_tool_venv

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


class CheckovSetupError(RuntimeError):
    """The checkov venv could not be created or installed; the message has pip's output."""


def checkov_binary(venv_dir: Path = DEFAULT_VENV_DIR) -> Path:
    return Path(venv_dir) / "bin" / "checkov"


def ensure_checkov(
    venv_dir: Path = DEFAULT_VENV_DIR,
    requirements: Path = REQUIREMENTS_FILE,
    *,
    timeout: float = 900,
) -> Path:
    """Build or refresh the venv when the pins changed; return the ``checkov`` executable."""
    try:
        return ensure_tool_venv(Path(venv_dir), requirements, expect="checkov", timeout=timeout)
    except ToolVenvError as error:
        raise CheckovSetupError(str(error)) from error


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
