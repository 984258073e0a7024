"""What ``kalshi-insights up`` remembers between runs, under the state directory.

Ports are chosen once and written to ``state_dir/ports.json``, so a rerun finds its
services where they were (a browser tab, a ``psql`` command line, a ``.env`` still work),
unless that port is taken by then.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

from devstack.postgres import free_port

__all__ = ["local_database_url", "port_is_free", "remembered_port"]

PORTS_FILE = "ports.json"


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on ``port`` now.

    SO_REUSEADDR as servers set it (Postgres, uvicorn): connections of the previous run in
    TIME_WAIT must not make its own port look taken.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _saved_ports(state_dir: Path) -> dict[str, object]:
    """The ports file's contents; empty when it is missing or not a JSON object, since a
    damaged file should only cost new ports, never a failed start."""
    try:
        ports = json.loads((state_dir / PORTS_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return ports if isinstance(ports, dict) else {}


def remembered_port(state_dir: Path, name: str, explicit: int | None = None) -> int:
    """The port for service ``name``: ``explicit`` if given, else last run's if still free,
    else a new free one; the answer is saved for the next run."""
    ports = _saved_ports(state_dir)
    port = explicit
    if port is None:
        previous = ports.get(name)
        port = previous if isinstance(previous, int) and port_is_free(previous) else free_port()
    if ports.get(name) != port:
        ports[name] = port
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / PORTS_FILE).write_text(json.dumps(ports, indent=2, sort_keys=True) + "\n")
    return port


def local_database_url(state_dir: Path) -> str | None:
    """The URL of the Postgres that ``kalshi-insights up`` runs from ``state_dir``, if any.

    Lets ``kalshi-insights backtest run`` and ``kalshi-insights migrate`` find the local
    stack's database without the user copying a URL around.
    """
    from devstack.postgres import DEFAULT_DATABASE

    port = _saved_ports(state_dir).get("postgres")
    if not isinstance(port, int):
        return None
    return f"postgresql+pg8000://postgres@127.0.0.1:{port}/{DEFAULT_DATABASE}"
