"""ManagedProcess with real child processes (small Python one-liners)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from devstack.postgres import free_port
from devstack.process import ManagedProcess, ProcessFailed, all_of, http_url, log_line, tcp_port

pytestmark = pytest.mark.integration

PY = sys.executable


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ready_on_a_log_line_and_env_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KI_DROP_ME", "x")
    process = ManagedProcess(
        "liner",
        [
            PY,
            "-u",
            "-c",
            "import os,time; print('hello', os.environ['KI_VALUE'], "
            "os.environ.get('KI_DROP_ME')); time.sleep(60)",
        ],
        log_path=tmp_path / "logs" / "liner.log",
        env={"KI_VALUE": "42", "KI_DROP_ME": None},
        ready=log_line(r"hello 42 None"),
    )
    process.start(timeout=20)
    try:
        assert process.is_running()
        assert "hello 42 None" in process.log_text()
    finally:
        assert process.stop(grace=5) is not None
    assert not process.is_running()


def test_ready_on_tcp_and_http(tmp_path: Path) -> None:
    port = free_port()
    process = ManagedProcess(
        "http",
        [PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        log_path=tmp_path / "http.log",
        cwd=tmp_path,
        ready=all_of(tcp_port(port), http_url(f"http://127.0.0.1:{port}/")),
    )
    process.start(timeout=20)
    try:
        assert process.is_running()
    finally:
        process.stop()


def test_early_exit_raises_with_the_log_tail(tmp_path: Path) -> None:
    process = ManagedProcess(
        "crasher",
        [PY, "-c", "import sys; print('config is wrong: no KEY', flush=True); sys.exit(3)"],
        log_path=tmp_path / "crasher.log",
        ready=tcp_port(free_port()),
    )
    with pytest.raises(ProcessFailed) as failure:
        process.start(timeout=20)
    message = str(failure.value)
    assert "crasher exited with status 3" in message
    assert "config is wrong: no KEY" in message


def test_timeout_raises_and_stops_the_process(tmp_path: Path) -> None:
    process = ManagedProcess(
        "sleeper",
        [PY, "-c", "import time; print('waiting', flush=True); time.sleep(60)"],
        log_path=tmp_path / "sleeper.log",
        ready=log_line("never printed"),
        stop_grace=2,
    )
    started = time.monotonic()
    with pytest.raises(ProcessFailed, match=r"not ready after 1s .*waiting"):
        process.start(timeout=1)
    assert time.monotonic() - started < 10
    assert not process.is_running()


def test_readiness_ignores_a_previous_runs_lines(tmp_path: Path) -> None:
    log = tmp_path / "same.log"
    log.write_text("READY from last time\n")
    process = ManagedProcess(
        "quiet",
        [PY, "-c", "import time; time.sleep(60)"],
        log_path=log,
        ready=log_line("READY"),
    )
    with pytest.raises(ProcessFailed):
        process.start(timeout=0.5)


def test_stop_reaches_the_whole_group_and_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        "print('child', child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    process = ManagedProcess(
        "stubborn", [PY, "-c", script], log_path=tmp_path / "s.log", ready=log_line(r"child \d+")
    )
    process.start(timeout=20)
    child_pid = int(process.log_text().split("child")[1].split()[0])
    assert alive(child_pid)
    started = time.monotonic()
    process.stop(grace=0.5)
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child_pid)


def test_missing_executable_is_a_clear_error(tmp_path: Path) -> None:
    process = ManagedProcess(
        "ghost", ["/nonexistent/kalshi-ghost"], log_path=tmp_path / "g.log", ready=None
    )
    with pytest.raises(ProcessFailed, match="ghost could not start"):
        process.start()
