"""Run a command so that it cannot outlive the launcher that started it.

``kalshi-insights up`` starts each service in a process group of its own, so Ctrl-C in a
terminal reaches the launcher first and the launcher stops services in order. But a
launcher that dies without cleaning up (SIGKILL, an OOM kill, a crashed test) would leave
Postgres, the emulators and the functions running, holding their ports. This guard sits
between the launcher and the service as the leader of the service's process group: it
watches its parent, and when the parent is gone it stops the whole group (``gcloud``'s
Java child included, which a parent-death signal on the direct child would miss).

Usage: ``python -m devstack.orphan_guard PARENT_PID -- COMMAND [ARG ...]``
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

POLL_SECONDS = 0.5
GRACE_SECONDS = 5.0


def _stop_group() -> None:
    """SIGTERM the group (this guard ignores it), then SIGKILL what is left."""
    os.killpg(0, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline:
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        time.sleep(0.1)
    os.killpg(0, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m devstack.orphan_guard PARENT_PID -- COMMAND ...", file=sys.stderr)
        return 2
    parent = int(argv[0])
    # Signals sent to the group reach the service directly; the guard outlives them long
    # enough to report the service's exit status.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = subprocess.Popen(
        argv[2:],
        preexec_fn=lambda: (
            signal.signal(signal.SIGTERM, signal.SIG_DFL),
            signal.signal(signal.SIGINT, signal.SIG_DFL),
        ),
    )
    while True:
        try:
            return child.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            if os.getppid() != parent:
                _stop_group()
                return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
