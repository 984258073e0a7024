"""One deployable of ``functions/`` as the local stack serves it.

Every function the stack runs is built the same way: the target is the deployable's name,
the source its ``functions/<name>/main.py``, the process connects to Postgres as the
deployable's own login role (docs/decisions/0080, so a grant the cloud would refuse is
refused locally too) and logs to ``<name>.log`` in the stack's log directory.
"""

from __future__ import annotations

from pathlib import Path

from devstack.functions_runner import FunctionServer, SignatureType
from devstack.services.base import StackContext
from devstack.services.postgres import as_role

__all__ = ["FUNCTIONS_DIR", "function_server"]

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"


def function_server(
    ctx: StackContext,
    name: str,
    port: int,
    env: dict[str, str],
    signature_type: SignatureType = "http",
) -> FunctionServer:
    """The (not yet started) server of deployable ``name`` on ``port`` with ``env``."""
    return FunctionServer(
        name,
        FUNCTIONS_DIR / name / "main.py",
        port,
        signature_type=signature_type,
        env=as_role(env, name),
        log_path=ctx.logs_dir / f"{name}.log",
    )
