"""``kalshi-insights up`` stopped and started again on the same state directory keeps polling.

The Pub/Sub emulator numbers messages from 1 again after a restart; when the message id
alone was the poll's idempotency key, every poll after the second ``up`` was recorded as a
duplicate and wrote nothing. Real launcher, real stack, a 2 s poll schedule.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pg8000.native
import pytest

from devstack.postgres import DEFAULT_DATABASE, free_port
from tests.integration.devstack.test_up import (
    READY_TIMEOUT,
    Launcher,
    launcher_command,
    state_dir,  # noqa: F401 - the fixture
    stop,
)

pytestmark = pytest.mark.integration

POLL_EVERY_S = 2
# Two poll intervals, plus room for a poll's own fetch and write on a busy 2-core machine
# running five other test suites.
NEW_DATA_TIMEOUT = 2 * POLL_EVERY_S + 60


class PollingLauncher(Launcher):
    """``kalshi-insights up --poll-every 2s`` (the base class runs plain ``up``)."""

    def __init__(self, port: int, state: Path) -> None:
        self.port = port
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [
                *launcher_command(),
                "up",
                "--port",
                str(port),
                "--state-dir",
                str(state),
                "--poll-every",
                f"{POLL_EVERY_S}s",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")},
                "PYTHONUNBUFFERED": "1",
            },
        )
        threading.Thread(target=self._read, daemon=True).start()


def start(state: Path) -> PollingLauncher:
    launcher = PollingLauncher(free_port(), state)
    try:
        launcher.wait_for_line("Dashboard:", READY_TIMEOUT)
    except BaseException:
        launcher.kill()
        raise
    return launcher


def written_polls(state: Path) -> tuple[int, int]:
    """(polls written, snapshots written) in the stack's database."""
    port = json.loads((state / "ports.json").read_text())["postgres"]
    conn = pg8000.native.Connection(
        "postgres", host="127.0.0.1", port=port, database=DEFAULT_DATABASE
    )
    try:
        polls = conn.run("SELECT count(*) FROM market_polls")[0][0]
        snapshots = conn.run("SELECT count(*) FROM market_snapshots")[0][0]
    finally:
        conn.close()
    return int(polls), int(snapshots)


def outcomes(log: Path, offset: int) -> list[str]:
    """The ``outcome`` of every trigger ``poll_markets`` logged after byte ``offset``."""
    with log.open("rb") as f:
        f.seek(offset)
        lines = f.read().decode("utf-8", "replace").splitlines()
    return [json.loads(line)["outcome"] for line in lines if '"outcome": ' in line]


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def test_polls_are_written_after_the_stack_restarts(state_dir: Path) -> None:  # noqa: F811
    log = state_dir / "logs" / "poll_markets.log"
    first = start(state_dir)
    try:
        wait_for(lambda: written_polls(state_dir)[0] >= 2, NEW_DATA_TIMEOUT, "two polls")
    except BaseException:
        first.kill()
        raise
    before = written_polls(state_dir)
    stop(first, signal.SIGTERM)
    offset = log.stat().st_size

    second = start(state_dir)
    try:
        # The first triggers after the restart carry message ids the first run already
        # used: each of them must be written, none taken for a duplicate.
        wait_for(lambda: len(outcomes(log, offset)) >= 2, NEW_DATA_TIMEOUT, "two triggers")
        assert outcomes(log, offset)[:2] == ["written", "written"], outcomes(log, offset)
        after = written_polls(state_dir)
        assert after[0] >= before[0] + 2 and after[1] > before[1], (before, after)
    except BaseException:
        second.kill()
        raise
    stop(second, signal.SIGTERM)
