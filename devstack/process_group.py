"""Signal and watch a process group: the one rule :mod:`devstack.process` and
:mod:`devstack.orphan_guard` both follow.

Every service runs as the leader of a session (so a process group) of its own; stopping it
means signalling the group, and "stopped" means no member of the group still runs.

Two edge cases, decided once here:

- ``PermissionError`` from ``killpg``: the group id now belongs to processes we may not
  signal (our group is gone and the number was reused by another user). That group is not
  ours, so it counts as gone and signalling it is a no-op; treating it as alive would
  keep a stop (or the orphan guard) waiting on something it can never stop.
- Zombies: an exited member its parent has not reaped yet still answers ``killpg(pgid, 0)``
  but runs nothing and holds no port, so it does not count as alive. Reaping stays with
  the parent: ``Popen.poll``/``wait`` for the leader (both callers do), the member's own
  parent or init for the rest. Reaping here (``waitpid`` on the group) would take the
  leader's exit status away from the ``Popen`` that reports it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["group_alive", "signal_group"]

_PROC = Path("/proc")


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to every member of group ``pgid``; a group that is gone (or not ours)
    is left alone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """True while a member of the group still runs (zombies awaiting a reaper do not count)."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    if not _PROC.is_dir():
        return True
    for stat in _PROC.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # After "(comm)": state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False
