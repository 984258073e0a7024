"""Fault fixtures: a Postgres cluster of this package's own, which tests may freeze.

Freezing (``SIGSTOP`` to the postmaster and every backend) is how a stalled database looks
to a client: TCP connects still complete (the kernel accepts into the listen backlog) but
nothing ever answers. The session cluster is never frozen; this one is thrown away after
the package, and :func:`frozen` always thaws it in a ``finally``.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from devstack.postgres import LocalPostgres
from tests.databases import throwaway_cluster


@pytest.fixture(scope="package")
def stallable_postgres() -> Iterator[LocalPostgres]:
    """A throwaway cluster that tests may SIGSTOP, kept apart from the session cluster."""
    with throwaway_cluster("ki-fault-pg-") as server:
        yield server


def _server_pids(server: LocalPostgres) -> list[int]:
    """The postmaster and its children (backends, background workers)."""
    postmaster = int((server.data_dir / "postmaster.pid").read_text().splitlines()[0])
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ")".
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == postmaster:
            pids.append(int(entry.name))
    return pids


@contextmanager
def frozen(server: LocalPostgres) -> Iterator[None]:
    """Every server process stopped (SIGSTOP) inside the block, resumed (SIGCONT) after."""
    pids = _server_pids(server)
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        yield
    finally:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
