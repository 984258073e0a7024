"""``devstack.harness``: a subclass gives only its command; start, ready, stop and logs are
the base class's, for every emulator harness alike."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devstack.functions_runner import FunctionServer
from devstack.harness import Harness, ProcessHarness
from devstack.postgres import LocalPostgres, free_port
from devstack.process import ProcessStartError
from devstack.pubsub_emulator import PubSubEmulator
from devstack.simulator_process import SimulatorProcess
from devstack.tasks_emulator import CloudTasksEmulator

pytestmark = pytest.mark.integration


class _HttpServer(ProcessHarness):
    description = "test HTTP server"
    start_timeout = 30.0

    def command(self) -> list[str]:
        return [sys.executable, "-u", "-m", "http.server", str(self.port), "--bind", "127.0.0.1"]


class _Broken(ProcessHarness):
    description = "broken server"

    def command(self) -> list[str]:
        return [sys.executable, "-c", "print('cannot start: no config'); raise SystemExit(3)"]


def test_start_ready_logs_and_stop(tmp_path: Path) -> None:
    server = _HttpServer(free_port(), tmp_path / "http.log")
    assert server.failure() is not None  # never started: not usable
    with server as running:
        assert running is server and server.is_running()
        assert server.host == f"127.0.0.1:{server.port}"
        assert server.failure() is None
        assert "Serving HTTP" in server.log_text()
        assert server.start() is server  # already running: nothing new starts
    assert not server.is_running()
    assert server.failure() == f"the test HTTP server exited; see {tmp_path / 'http.log'}"
    server.stop()  # stopping twice is harmless


def test_a_process_that_dies_before_ready_raises_with_its_log(tmp_path: Path) -> None:
    broken = _Broken(free_port(), tmp_path / "broken.log")
    with pytest.raises(ProcessStartError, match="cannot start: no config"):
        broken.start(timeout=20)
    assert not broken.is_running()


def test_every_emulator_harness_shares_the_base() -> None:
    harnesses = (
        LocalPostgres,
        PubSubEmulator,
        CloudTasksEmulator,
        SimulatorProcess,
        FunctionServer,
    )
    for harness in harnesses:
        assert issubclass(harness, Harness)
