"""Run a long-lived helper process (emulator, function, server) and know when it is usable.

The local stack and the integration tests start the same processes: the Pub/Sub emulator
(a JVM behind gcloud's wrapper), the Cloud Tasks emulator, functions-framework servers
(gunicorn workers), the gateway (uvicorn). Each of those forks children, so a process is
started in its own process group and stopped by signalling the whole group; killing only
the leader would leave an orphaned JVM holding a port on a machine several people share.

"Started" means "answers": :meth:`ManagedProcess.start` blocks until a readiness check
passes and, when the process dies or the wait times out, raises with the tail of its log
so the reason is in the error rather than in a file nobody opens::

    ManagedProcess(
        "pubsub-emulator",
        ["gcloud", "beta", "emulators", "pubsub", "start", ...],
        log_path=state_dir / "logs" / "pubsub.log",
        env={"PUBSUB_EMULATOR_HOST": None},          # None removes a variable
        ready=all_of(log_line(r"Server started"), tcp_port(8681)),
    ).start(timeout=120)

A readiness check is any callable taking the :class:`ManagedProcess` and returning a bool
(:class:`Ready`); :func:`tcp_port`, :func:`http_ok` (alias :func:`http_url`),
:func:`log_line` and :func:`all_of` build the usual ones. :class:`ReadyCheck` exposes the
same builders as static methods.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

from devstack.process_group import group_alive, signal_group

__all__ = [
    "ManagedProcess",
    "ProcessFailed",
    "ProcessStartError",
    "Ready",
    "ReadyCheck",
    "StartStopContext",
    "all_of",
    "http_ok",
    "http_url",
    "log_line",
    "tail",
    "tcp_port",
]

_POLL_INTERVAL = 0.1
_LOG_TAIL_CHARS = 4000


class ProcessStartError(RuntimeError):
    """The process exited before it was ready, or did not become ready in time.

    The message names the readiness check and quotes the end of the process's log.
    """


ProcessFailed = ProcessStartError  # the name the gateway service uses


def tail(path: Path, max_chars: int = 2000) -> str:
    """The end of a log file, for error messages."""
    try:
        return path.read_text(errors="replace")[-max_chars:]
    except OSError:
        return ""


class Ready(Protocol):
    """A readiness check; ``str()`` of it says what is being waited for."""

    def __call__(self, process: ManagedProcess) -> bool: ...


@dataclass(frozen=True)
class ReadyCheck:
    """A described readiness predicate; network errors while probing count as "not yet"."""

    description: str
    probe: Callable[[ManagedProcess], bool]

    def __call__(self, process: ManagedProcess) -> bool:
        try:
            return self.probe(process)
        except OSError:
            return False

    def __str__(self) -> str:
        return self.description


def tcp_port(port: int, host: str = "127.0.0.1") -> ReadyCheck:
    """Ready when something accepts TCP connections on ``host:port``."""

    def probe(_: ManagedProcess) -> bool:
        with socket.create_connection((host, port), timeout=0.5):
            return True

    return ReadyCheck(f"TCP {host}:{port} accepting connections", probe)


def http_ok(url: str, *, accept: Callable[[int], bool] | None = None) -> ReadyCheck:
    """Ready when ``GET url`` answers with an accepted status (default: below 500, since a
    404 or 405 still proves the server is up)."""
    accepted = accept or (lambda status: status < 500)

    def probe(_: ManagedProcess) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback URL)
                return accepted(int(response.status))
        except urllib.error.HTTPError as exc:
            return accepted(int(exc.code))
        except (urllib.error.URLError, ValueError):
            return False

    return ReadyCheck(f"HTTP {url} answering", probe)


def http_url(url: str) -> ReadyCheck:
    """Alias of :func:`http_ok` (status below 500)."""
    return http_ok(url)


def log_line(regex: str) -> ReadyCheck:
    """Ready when this run of the process logged a line matching ``regex`` (lines of a
    previous run in the same log file never count)."""
    pattern = re.compile(regex, re.MULTILINE)
    return ReadyCheck(
        f"a log line matching {regex!r}",
        lambda process: pattern.search(process.log_text()) is not None,
    )


def all_of(*checks: Ready) -> ReadyCheck:
    """Ready when every check passes (in order, stopping at the first that fails)."""
    return ReadyCheck(
        " and ".join(str(check) for check in checks),
        lambda process: all(check(process) for check in checks),
    )


# Processes still running when the interpreter exits (a test run interrupted with Ctrl-C, a
# crashed launcher) are stopped so no emulator outlives its owner.
_LIVE: weakref.WeakSet[ManagedProcess] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    for process in leftovers:
        process.stop(grace=3)


atexit.register(_stop_leftovers)


class StartStopContext:
    """``with x:`` starts ``x`` (blocking until it is ready) and stops it however the block
    ends. :class:`ManagedProcess` and every :class:`~devstack.harness.Harness` share it; a
    subclass gives ``start`` (returning itself) and ``stop`` (safe when start failed)."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> object:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ManagedProcess(StartStopContext):
    """One child process in its own process group, with readiness and group-wide stop.

    ``env`` is laid over ``os.environ`` (a value of None removes a variable). Stdout and
    stderr both go to ``log_path``, appended, under a ``=====`` marker line per run.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str | None] | None = None,
        cwd: Path | str | None = None,
        log_path: Path | str,
        ready: Ready | None = None,
        stop_grace: float = 10.0,
    ) -> None:
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.env = dict(env or {})
        self.cwd = Path(cwd) if cwd is not None else None
        self.log_path = Path(log_path)
        self.ready = ready
        self.stop_grace = stop_grace
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_offset = 0

    @property
    def command(self) -> list[str]:
        return self.argv

    # -- state -----------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def returncode(self) -> int | None:
        return self._popen.poll() if self._popen else None

    def poll(self) -> int | None:
        """The exit code if the process has exited, else None."""
        return self.returncode

    def is_running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log_text(self) -> str:
        """What the process wrote to its log since the last start."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = _LOG_TAIL_CHARS) -> str:
        return self.log_text()[-chars:]

    def child_env(self) -> dict[str, str]:
        merged = dict(os.environ)
        for key, value in self.env.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        return merged

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 60) -> Self:
        """Start the process and block until it is ready; raise with its log tail otherwise.

        Starting a process that is already running is a no-op.
        """
        if self.is_running():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n===== {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self._log_offset = log.tell()
            try:
                self._popen = subprocess.Popen(
                    self._guarded_argv(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.child_env(),
                    cwd=self.cwd,
                    start_new_session=True,  # own process group: stop() reaches every child
                )
            except OSError as exc:
                raise ProcessStartError(
                    f"{self.name} could not start ({self.argv[0]}): {exc}"
                ) from None
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop(grace=3)
            raise
        return self

    def _guarded_argv(self) -> list[str]:
        """The command behind :mod:`devstack.orphan_guard`, so it dies with this process.

        The guard runs the command itself, so a command that cannot run at all is reported
        here, where the caller still gets a clear error instead of a guard's exit status.
        """
        executable = shutil.which(self.argv[0], path=self.child_env().get("PATH"))
        if executable is None:
            raise OSError(f"no executable {self.argv[0]!r} (not found or not executable)")
        guard = [sys.executable, "-m", "devstack.orphan_guard", str(os.getpid()), "--"]
        return [*guard, executable, *self.argv[1:]]

    def wait_ready(self, timeout: float) -> None:
        """Poll the readiness check until it passes, the process exits, or time runs out."""
        if self._popen is None or self.ready is None:
            return
        deadline = time.monotonic() + timeout
        while not self.ready(self):
            code = self.returncode
            if code is not None:
                raise ProcessStartError(
                    f"{self.name} exited with status {code} before it was ready (waiting for "
                    f"{self.ready}). Its log {self.log_path} ends with:\n{self.log_tail()}"
                )
            if time.monotonic() >= deadline:
                raise ProcessStartError(
                    f"{self.name} was not ready after {timeout:g}s (waiting for {self.ready}). "
                    f"Its log {self.log_path} ends with:\n{self.log_tail()}"
                )
            time.sleep(_POLL_INTERVAL)

    def stop(self, grace: float | None = None) -> int | None:
        """SIGTERM the whole process group, SIGKILL whatever is left after ``grace`` seconds.

        Idempotent; returns the leader's exit code.
        """
        popen = self._popen
        if popen is None:
            return None
        grace = self.stop_grace if grace is None else grace
        pgid = popen.pid  # start_new_session: the leader's pid is the group id
        if group_alive(pgid) or popen.poll() is None:
            signal_group(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=grace)
            # Children may outlive the leader (gcloud -> java): give them the same grace.
            deadline = time.monotonic() + grace
            while group_alive(pgid) and time.monotonic() < deadline:
                time.sleep(_POLL_INTERVAL)
        if popen.poll() is None:
            # The orphan guard turns SIGUSR1 into SIGKILL for the service's own group,
            # which a SIGKILL of the guard alone would leave running.
            with contextlib.suppress(ProcessLookupError):
                popen.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=5)
        signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(timeout=5)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        return popen.returncode

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"ManagedProcess({self.name!r}, pid={self.pid}, {state})"
