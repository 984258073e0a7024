"""Run a service so that it cannot outlive the launcher that started it.

``kalshi-insights up`` and the tests start each service through this guard. The service
runs as the leader of a session of its own, so it and everything it starts (``gcloud``'s
Java emulator, uvicorn workers) share one process group that nothing can leave: a session
leader may not change its group, which ``gcloud`` would otherwise do. The guard then:

- forwards SIGTERM to that group (a graceful stop) and SIGUSR1 as SIGKILL (the forced stop
  :class:`devstack.process.ManagedProcess` sends when the grace period is over);
- stops the group itself when its parent dies without cleaning up (SIGKILL, an OOM kill,
  a crashed test), so no Postgres, emulator or function is left holding its port;
- exits with the service's status once the whole group is gone (zombies and a group id
  that is no longer ours count as gone: see :mod:`devstack.process_group`).

Usage: ``python -m devstack.orphan_guard PARENT_PID -- COMMAND [ARG ...]``
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from types import FrameType

from devstack.process_group import group_alive, signal_group

POLL_SECONDS = 0.1
ORPHAN_GRACE_SECONDS = 5.0


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print("usage: python -m devstack.orphan_guard PARENT_PID -- COMMAND ...", file=sys.stderr)
        return 2
    parent = int(argv[0])
    # The handlers go in before the child starts: a stop that arrives while it starts is
    # held and forwarded once there is a group, instead of killing this guard and leaving
    # the child running with nothing to stop it.
    group: int | None = None
    held: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        if group is None:
            held.append(signum)
        else:
            signal_group(group, signal.SIGKILL if signum == signal.SIGUSR1 else signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(signum, forward)
    child = subprocess.Popen(argv[2:], start_new_session=True)
    group = child.pid
    for signum in held:
        forward(signum, None)

    orphaned_at: float | None = None
    while child.poll() is None or group_alive(group):
        if orphaned_at is None and os.getppid() != parent:
            orphaned_at = time.monotonic()
            signal_group(group, signal.SIGTERM)
        if orphaned_at is not None and time.monotonic() - orphaned_at > ORPHAN_GRACE_SECONDS:
            signal_group(group, signal.SIGKILL)
        time.sleep(POLL_SECONDS)
    return child.returncode if child.returncode >= 0 else 128 - child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
