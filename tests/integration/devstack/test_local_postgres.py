"""LocalPostgres in a state directory the ``postgres`` user cannot reach (root only).

As root, initdb runs as ``postgres`` through runuser; a state directory under a private
parent (a 0700 home directory, pytest's tmp_path) is out of its reach, so the cluster and its
log move to /var/tmp and ``state_dir/logs/postgres.log`` links there.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres, free_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="root only"),
]


def test_private_state_dir_falls_back_to_var_tmp_and_restarts(tmp_path: Path) -> None:
    private = tmp_path / "home"
    private.mkdir(mode=0o700)
    state = private / "project" / ".local"

    server = LocalPostgres.in_state_dir(state, free_port())
    outside = server.data_dir.parent
    try:
        assert str(server.data_dir).startswith("/var/tmp/kalshi-insights-pg-")
        link = state / "logs" / "postgres.log"
        assert link.is_symlink() and link.resolve() == server.log_file
        server.start(timeout=60)
        with socket.create_connection(("127.0.0.1", server.port), timeout=2):
            pass
        server.stop()
        # A rerun finds the same cluster (keyed by the state directory) on a new port.
        again = LocalPostgres.in_state_dir(state, free_port())
        assert again.data_dir == server.data_dir
        again.start(timeout=60)
        assert again.is_running()
        again.stop()
        assert not again.is_running()
        assert "database system is ready" in link.read_text()
    finally:
        server.stop()
        shutil.rmtree(outside, ignore_errors=True)
