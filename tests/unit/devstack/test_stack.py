"""The launcher's control flow, with stand-in services (the real ones are covered by
tests/integration/devstack/test_up.py)."""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import threading
from pathlib import Path

import pytest

from devstack import stack
from devstack.postgres import free_port
from devstack.services.base import StackContext


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []


class StubService:
    def __init__(
        self,
        name: str,
        recorder: Recorder,
        *,
        fail: bool = False,
        problem: str | None = None,
        dashboard: str | None = None,
    ) -> None:
        self.name = name
        self.recorder = recorder
        self.fail = fail
        self.problem = problem
        self.dashboard = dashboard

    def start(self, ctx: StackContext) -> None:
        self.recorder.events.append(f"start {self.name}")
        ctx.env[f"{self.name.upper()}_URL"] = f"http://{self.name}"
        if self.fail:
            raise RuntimeError(f"{self.name} exploded")
        if self.dashboard:
            ctx.dashboard_url = self.dashboard

    def stop(self) -> None:
        self.recorder.events.append(f"stop {self.name}")

    def check(self) -> str | None:
        return self.problem

    def describe(self) -> list[str]:
        return [f"{self.name} runs here"]


def options(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(port=free_port(), state_dir=str(tmp_path / "state"))


def test_the_service_order_lives_in_one_list() -> None:
    names = [entry.rsplit(":", 1)[0].rsplit(".", 1)[1] for entry in stack.SERVICES]
    assert names[0] == "postgres"
    assert names[-1] == "gateway"


def test_a_start_failure_stops_what_started_in_reverse_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder()
    services = [
        StubService("db", recorder),
        StubService("sim", recorder),
        StubService("broken", recorder, fail=True),
        StubService("never", recorder),
    ]
    out = io.StringIO()
    code = stack.run_stack(options(tmp_path), services, out=out)
    assert code == 1
    assert recorder.events == [
        "start db",
        "start sim",
        "start broken",
        "stop broken",
        "stop sim",
        "stop db",
    ]
    assert "broken failed to start: broken exploded" in capsys.readouterr().err
    assert "Dashboard:" not in out.getvalue()


def test_a_service_failing_later_stops_everything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack, "HEALTH_INTERVAL", 0.01)
    recorder = Recorder()
    services = [
        StubService("db", recorder, problem="disk full"),
        StubService("gw", recorder, dashboard="http://127.0.0.1:1"),
    ]
    out = io.StringIO()
    assert stack.run_stack(options(tmp_path), services, out=out) == 1
    assert recorder.events[-2:] == ["stop gw", "stop db"]
    assert "db failed: disk full" in capsys.readouterr().err
    # It had been ready, so it had said so, once.
    assert out.getvalue().count("Dashboard: http://127.0.0.1:1\n") == 1


def test_sigterm_stops_cleanly_after_the_dashboard_line(tmp_path: Path) -> None:
    recorder = Recorder()
    services = [
        StubService("db", recorder),
        StubService("gw", recorder, dashboard="http://127.0.0.1:9"),
    ]

    class Out(io.StringIO):
        def write(self, text: str) -> int:
            written = super().write(text)
            if text.startswith("Dashboard:"):
                # Ready: now ask the launcher (this process, main thread) to stop.
                threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM)).start()
            return written

    out = Out()
    previous = signal.getsignal(signal.SIGTERM)
    assert stack.run_stack(options(tmp_path), services, out=out) == 0
    assert signal.getsignal(signal.SIGTERM) == previous
    lines = out.getvalue().splitlines()
    dashboard = lines.index("Dashboard: http://127.0.0.1:9")
    assert any("db runs here" in line for line in lines[:dashboard])
    assert "Received SIGTERM; stopping ..." in lines[dashboard + 1 :]
    assert lines[-1] == "Stopped."
    assert recorder.events == ["start db", "start gw", "stop gw", "stop db"]


def test_a_busy_port_is_reported_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = Recorder()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        opts = argparse.Namespace(port=holder.getsockname()[1], state_dir=str(tmp_path))
        assert stack.run_stack(opts, [StubService("db", recorder)], out=io.StringIO()) == 1
    assert recorder.events == []
    assert "already in use" in capsys.readouterr().err


def test_missing_postgres_binaries_name_the_package(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from devstack import postgres
    from devstack.services.postgres import PostgresService

    monkeypatch.delenv("PG_BIN_DIR", raising=False)
    monkeypatch.setattr(postgres, "_SEARCH_DIRS", ())
    monkeypatch.setattr(postgres.shutil, "which", lambda name: None)
    code = stack.run_stack(options(tmp_path), [PostgresService()], out=io.StringIO())
    assert code == 1
    err = capsys.readouterr().err
    assert "postgres failed to start" in err
    assert "apt-get install postgresql" in err
