"""``devstack.process_group``: one rule for a gone group, zombies and groups not ours."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from devstack import process_group
from devstack.process_group import group_alive, signal_group


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )


def test_a_running_group_is_alive_and_a_reaped_one_is_gone() -> None:
    child = _sleeper()
    try:
        assert group_alive(child.pid)
        signal_group(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        assert not group_alive(child.pid)
    finally:
        child.kill()
        child.wait()


def test_a_group_of_only_zombies_is_gone_and_its_leader_is_left_to_popen() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    deadline = time.monotonic() + 10
    # Not reaped: the leader stays a zombie, which still answers killpg(pgid, 0).
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{child.pid}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except OSError:
            break
        time.sleep(0.02)
    os.killpg(child.pid, 0)  # the zombie is still there...
    assert not group_alive(child.pid)  # ...but runs nothing
    assert child.wait(timeout=5) == 0  # and its status is still Popen's to collect


def test_a_group_we_may_not_signal_is_not_ours_and_counts_as_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(pgid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(process_group.os, "killpg", refuse)
    assert not group_alive(12345)
    signal_group(12345, signal.SIGTERM)  # no error either


def test_signalling_a_gone_group_is_a_no_op() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    child.wait(timeout=10)
    signal_group(child.pid, signal.SIGTERM)
    assert not group_alive(child.pid)
