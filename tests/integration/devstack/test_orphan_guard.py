"""A service must not outlive a launcher that dies without cleaning up (SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

# A service with a grandchild, like gcloud starting the Pub/Sub emulator's JVM, and that
# tries to leave its process group as gcloud does.
SERVICE = textwrap.dedent(
    """
    import os, subprocess, sys, time
    try:
        os.setpgrp()
    except OSError:
        pass
    g = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    print("grandchild", g.pid, flush=True)
    time.sleep(120)
    """
)

LAUNCHER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from devstack.process import ManagedProcess, log_line

    service = ManagedProcess(
        "sleeper", [sys.executable, sys.argv[2]], log_path=Path(sys.argv[1]),
        ready=log_line(r"grandchild \\d+"),
    )
    service.start(timeout=20)
    print("ready", flush=True)
    time.sleep(120)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it no longer runs.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_service_and_its_children_die_with_a_killed_launcher(tmp_path: Path) -> None:
    log = tmp_path / "sleeper.log"
    service = tmp_path / "service.py"
    service.write_text(SERVICE)
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(log), str(service)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert launcher.stdout is not None
        assert launcher.stdout.readline().strip() == "ready"
        grandchild = int(log.read_text().split("grandchild")[-1].split()[0])
        assert _alive(grandchild)

        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=10)

        deadline = time.monotonic() + 10
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(grandchild), "the service's child outlived the killed launcher"
    finally:
        if launcher.poll() is None:
            launcher.kill()


def test_stop_reaches_a_service_that_tries_to_leave_its_group(tmp_path: Path) -> None:
    from devstack.process import ManagedProcess, log_line

    service = tmp_path / "service.py"
    service.write_text(SERVICE)
    log = tmp_path / "sleeper.log"
    process = ManagedProcess(
        "sleeper", [sys.executable, str(service)], log_path=log, ready=log_line(r"grandchild \d+")
    )
    process.start(timeout=20)
    grandchild = int(log.read_text().split("grandchild")[-1].split()[0])
    try:
        assert _alive(grandchild)
        process.stop(grace=5)
        deadline = time.monotonic() + 5
        while _alive(grandchild) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(grandchild), "stop() left the service's child running"
    finally:
        process.stop(grace=1)


def test_a_stop_that_arrives_while_the_child_starts_still_reaches_the_child() -> None:
    """The SIGTERM lands right after the guard spawned its child and before it could
    forward anything: it is held and forwarded, not the end of the guard alone (which
    left the child running with nothing to stop it)."""
    marker = f"ki-guard-{uuid.uuid4().hex}"
    driver = textwrap.dedent(
        f"""
        import os, signal, subprocess, sys
        import devstack.orphan_guard as guard
        spawn = subprocess.Popen
        def spawn_then_stop(*args, **kwargs):
            child = spawn(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGTERM)
            return child
        guard.subprocess.Popen = spawn_then_stop
        sleeper = [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}]
        sys.exit(guard.main([str(os.getppid()), "--", *sleeper]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", driver], capture_output=True, text=True, timeout=10
    )
    deadline = time.monotonic() + 5
    while (left := _running(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, "the child outlived a guard stopped while it started"
    assert done.returncode == 128 + signal.SIGTERM, done.stderr


def _running(marker: str) -> list[int]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]
