"""A whole ``kalshi-insights up`` for end-to-end tests: started on a free port in a
throwaway state directory, stopped (and its Postgres with it) whatever happens.

The account and trading end-to-end modules each had their own copy of this start/stop
dance; one copy keeps the clean-up rules in one place.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from devstack.postgres import free_port
from tests.integration.devstack.test_up import (
    READY_TIMEOUT,
    STOP_TIMEOUT,
    Launcher,
    stop_stack_postgres,
)


@contextmanager
def live_stack(
    prefix: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, Path, Launcher]]:
    """Yield ``(origin, state_dir, launcher)`` of a running stack whose launcher saw ``env``
    on top of this process's environment. The living exchange's random fills of demo
    accounts are switched off, so every fill a test sees is one it made."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)  # as root, the postgres user must reach the data directory
    state = base / "state"
    overrides = dict(env or {})
    previous = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    port = free_port()
    launcher = Launcher(port, state)
    try:
        launcher.wait_for_line("Dashboard:", READY_TIMEOUT)
    except BaseException:
        launcher.kill()
        raise
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        ports = json.loads((state / "ports.json").read_text())
        httpx.post(
            f"http://127.0.0.1:{ports['simulator']}/_sim/settings",
            json={"account_fill_rate": 0},
            timeout=10,
        )
        yield f"http://127.0.0.1:{port}", state, launcher
    finally:
        launcher.process.terminate()
        try:
            launcher.finish(STOP_TIMEOUT)  # a stop that hangs fails, with the launcher's stacks
        finally:
            launcher.kill()
            stop_stack_postgres(state)
            shutil.rmtree(base, ignore_errors=True)
