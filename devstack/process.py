"""Child processes of the local stack: started in their own process group, logged to a file,
waited on until ready, and stopped as a group.

A process group matters because many servers we run are wrappers (``gcloud`` starts Java,
``functions-framework`` starts gunicorn workers): SIGTERM to the group reaches every
descendant, so Ctrl-C on ``kalshi-insights up`` leaves nothing behind.

Readiness is a small predicate over the running process, composable with :func:`all_of`::

    ManagedProcess(
        "pubsub-emulator",
        ["gcloud", "beta", "emulators", "pubsub", "start", ...],
        log_path=state_dir / "logs" / "pubsub.log",
        env={"PUBSUB_EMULATOR_HOST": None},          # None removes a variable
        ready=all_of(log_line(r"Server started"), tcp_port(8681)),
    ).start(timeout=120)
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

__all__ = [
    "ManagedProcess",
    "ProcessFailed",
    "Ready",
    "all_of",
    "http_url",
    "log_line",
    "tail",
    "tcp_port",
]


class ProcessFailed(RuntimeError):
    """A child did not become ready (exited, or timed out); the message quotes its log."""


def tail(path: Path, max_chars: int = 2000) -> str:
    """The end of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return text[-max_chars:]


class Ready(Protocol):
    """A readiness check; ``str()`` of it says what is being waited for."""

    def __call__(self, process: ManagedProcess) -> bool: ...


@dataclass(frozen=True)
class _Check:
    description: str
    predicate: Callable[[ManagedProcess], bool]

    def __call__(self, process: ManagedProcess) -> bool:
        return self.predicate(process)

    def __str__(self) -> str:
        return self.description


def tcp_port(port: int, host: str = "127.0.0.1") -> Ready:
    """Ready once ``host:port`` accepts a TCP connection."""

    def check(_: ManagedProcess) -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    return _Check(f"TCP {host}:{port}", check)


def http_url(url: str) -> Ready:
    """Ready once ``url`` answers HTTP below 500 (a 404 counts: the server is up)."""

    def check(_: ManagedProcess) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 (loopback)
                return int(response.status) < 500
        except urllib.error.HTTPError as error:
            return error.code < 500
        except (OSError, ValueError):
            return False

    return _Check(f"HTTP {url}", check)


def log_line(pattern: str) -> Ready:
    """Ready once this run of the process has logged a line matching regex ``pattern``."""
    compiled = re.compile(pattern, re.M)

    def check(process: ManagedProcess) -> bool:
        return compiled.search(process.log_text()) is not None

    return _Check(f"a log line matching {pattern!r}", check)


def all_of(*checks: Ready) -> Ready:
    """Ready once every check passes (checked in order, stopping at the first that fails)."""
    return _Check(
        " and ".join(str(check) for check in checks),
        lambda process: all(check(process) for check in checks),
    )


class ManagedProcess:
    """One child process of the local stack.

    ``env`` is applied on top of the launcher's environment (a ``None`` value removes the
    variable). Stdout and stderr both go to ``log_path``, appended, so a rerun keeps the
    previous run's lines above a ``=====`` marker; readiness only reads this run's part.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        log_path: Path | str,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | str | None = None,
        ready: Ready | None = None,
        stop_grace: float = 10.0,
    ) -> None:
        self.name = name
        self.command = [str(part) for part in command]
        self.log_path = Path(log_path)
        self.env = dict(env or {})
        self.cwd = Path(cwd) if cwd is not None else None
        self.ready = ready
        self.stop_grace = stop_grace
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None
        self._log_start = 0

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in self.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def start(self, timeout: float = 60.0) -> ManagedProcess:
        """Start, then block until ready; raises :class:`ProcessFailed` quoting the log."""
        if self._process is not None:
            raise RuntimeError(f"{self.name} is already started")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_handle = self.log_path.open("ab")
        self._log_handle.write(f"\n===== {self.name}: {' '.join(self.command)}\n".encode())
        self._log_handle.flush()
        self._log_start = self._log_handle.tell()
        try:
            self._process = subprocess.Popen(
                self.command,
                stdout=self._log_handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.child_env(),
                cwd=self.cwd,
                start_new_session=True,  # its own session, hence its own process group
            )
        except OSError as error:
            self._close_log()
            raise ProcessFailed(
                f"{self.name} could not start ({self.command[0]}): {error}"
            ) from None
        if self.ready is not None:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        """Poll the readiness check until it passes, the process exits, or time runs out."""
        if self._process is None or self.ready is None:
            return
        deadline = time.monotonic() + timeout
        while not self.ready(self):
            code = self._process.poll()
            if code is not None:
                self._close_log()
                raise ProcessFailed(
                    f"{self.name} exited with code {code} before it was ready (waiting for "
                    f"{self.ready}). Its log {self.log_path} ends with:\n{self._tail()}"
                )
            if time.monotonic() >= deadline:
                self.stop()
                raise ProcessFailed(
                    f"{self.name} was not ready after {timeout:g}s (waiting for {self.ready}). "
                    f"Its log {self.log_path} ends with:\n{self._tail()}"
                )
            time.sleep(0.1)

    def log_text(self) -> str:
        """What this run of the process has written so far."""
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_start)
                return handle.read().decode(errors="replace")
        except OSError:
            return ""

    def _tail(self, max_chars: int = 2000) -> str:
        return self.log_text()[-max_chars:]

    def poll(self) -> int | None:
        """The exit code if the process has exited, else ``None``."""
        return self._process.poll() if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; idempotent."""
        process = self._process
        if process is None:
            return None
        grace = self.stop_grace if grace is None else grace
        if process.poll() is None:
            self._signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # The leader may be gone while others in its group linger (a wrapper's children).
        self._signal_group(process.pid, signal.SIGKILL)
        self._close_log()
        return process.returncode

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    def _close_log(self) -> None:
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None
