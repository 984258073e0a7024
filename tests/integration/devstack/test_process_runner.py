"""ManagedProcess: readiness, early exit, timeouts and stopping the whole process group."""

import os
import sys
import time

import pytest

from devstack.postgres import free_port
from devstack.process import ManagedProcess, ProcessStartError, http_ok, log_line, tcp_port

pytestmark = pytest.mark.integration


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_http_server_becomes_ready_and_the_group_is_stopped(tmp_path):
    port = free_port()
    # A shell that starts a child: stop() must reach the grandchild too.
    child_pid_file = tmp_path / "child.pid"
    script = (
        f"{sys.executable} -m http.server {port} --bind 127.0.0.1 & "
        f"echo $! > {child_pid_file}; wait"
    )
    process = ManagedProcess(
        "http",
        ["sh", "-c", script],
        log_path=tmp_path / "http.log",
        ready=http_ok(f"http://127.0.0.1:{port}/"),
    )
    with process:
        assert process.is_running()
        child = int(child_pid_file.read_text())
        assert alive(child)
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)
    assert not process.is_running()


def test_early_exit_raises_with_the_log_tail(tmp_path):
    process = ManagedProcess(
        "doomed",
        [sys.executable, "-c", "import sys; print('missing config FOO'); sys.exit(3)"],
        log_path=tmp_path / "doomed.log",
        ready=tcp_port(free_port()),
    )
    with pytest.raises(ProcessStartError) as error:
        process.start(timeout=20)
    assert "status 3" in str(error.value)
    assert "missing config FOO" in str(error.value)


def test_timeout_raises_and_kills(tmp_path):
    process = ManagedProcess(
        "sleeper",
        [sys.executable, "-c", "import time; print('booting', flush=True); time.sleep(60)"],
        log_path=tmp_path / "sleeper.log",
        ready=log_line(r"^ready$"),
    )
    with pytest.raises(ProcessStartError) as error:
        process.start(timeout=1)
    assert "not ready after" in str(error.value) and "booting" in str(error.value)
    assert not process.is_running()


def test_log_line_readiness_ignores_previous_runs(tmp_path):
    log = tmp_path / "shared.log"
    log.write_text("ready\n")  # left over from an earlier run
    process = ManagedProcess(
        "late",
        [
            sys.executable,
            "-c",
            "import time; time.sleep(0.5); print('ready', flush=True); time.sleep(60)",
        ],
        log_path=log,
        ready=log_line(r"^ready$"),
    )
    started = time.monotonic()
    with process:
        assert time.monotonic() - started >= 0.4
    assert process.log_text().count("ready") == 1


def test_sigterm_ignoring_process_is_killed(tmp_path):
    process = ManagedProcess(
        "stubborn",
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, "
            "signal.SIG_IGN); print('up', flush=True); time.sleep(60)",
        ],
        log_path=tmp_path / "stubborn.log",
        ready=log_line("up"),
    )
    process.start(timeout=20)
    started = time.monotonic()
    process.stop(grace=0.5)
    assert not process.is_running()
    assert time.monotonic() - started < 5
