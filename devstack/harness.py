"""What every local stand-in for a cloud piece has in common: start, wait ready, stop, logs.

The local stack (``devstack/services``) and the integration tests run the same six
harnesses: Postgres (:class:`devstack.postgres.LocalPostgres`), the Pub/Sub emulator
(:class:`devstack.pubsub_emulator.PubSubEmulator`), the Cloud Tasks emulator
(:class:`devstack.tasks_emulator.CloudTasksEmulator`), the Secret Manager emulator
(:class:`devstack.secret_manager_emulator.SecretManagerEmulator`), the Kalshi simulator
(:class:`devstack.simulator_process.SimulatorProcess`) and functions
(:class:`devstack.functions_runner.FunctionServer`). Each listens on ``127.0.0.1:port``,
writes one log file, starts blocking until it answers, and is a context manager.

:class:`Harness` holds that contract; :class:`ProcessHarness` implements it for the five
that are one long-lived child process (a :class:`~devstack.process.ManagedProcess`, in its
own process group behind the orphan guard), so a subclass only says what differs: its
command, environment, readiness check and what to check or prepare before starting.
Postgres is not such a process (``pg_ctl`` daemonizes the server), so it implements
:meth:`Harness.launch` and :meth:`Harness.stop` itself.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Self

from devstack.process import ManagedProcess, Ready, StartStopContext, tcp_port

__all__ = ["Harness", "ProcessHarness"]


class Harness(StartStopContext, abc.ABC):
    """One local service on ``127.0.0.1:port`` logging to ``log_path``."""

    # What the harness is, in messages: "the {description} exited; see ...".
    description: ClassVar[str] = "service"
    start_timeout: ClassVar[float] = 60.0
    stop_grace: ClassVar[float] = 10.0

    port: int

    @property
    @abc.abstractmethod
    def log_path(self) -> Path:
        """The harness's log file."""

    @property
    def host(self) -> str:
        """``127.0.0.1:port``, the form the emulator variables (``*_EMULATOR_HOST``) take."""
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float | None = None) -> Self:
        """Start and block until ready; raise with the end of the log otherwise."""
        self.prepare()
        self.launch(self.start_timeout if timeout is None else timeout)
        return self

    def prepare(self) -> None:
        """Checks and set-up before each start (binaries installed, directories made)."""
        return None

    @abc.abstractmethod
    def launch(self, timeout: float) -> None:
        """Start the service and wait until it is ready, or raise."""

    @abc.abstractmethod
    def stop(self, grace: float | None = None) -> None:
        """Stop; safe to call when never started or when start failed half-way."""

    @abc.abstractmethod
    def is_running(self) -> bool: ...

    def log_text(self) -> str:
        """What the log holds (a process harness: what this run wrote)."""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def failure(self) -> str | None:
        """Why the harness is no longer usable, for the launcher's health check; or None."""
        if self.is_running():
            return None
        return f"the {self.description} exited; see {self.log_path}"


class ProcessHarness(Harness):
    """A harness that is one :class:`ManagedProcess`; subclasses give its command."""

    def __init__(self, port: int, log_path: Path | str) -> None:
        self.port = port
        self._log_path = Path(log_path)
        self._process: ManagedProcess | None = None

    @property
    def log_path(self) -> Path:
        return self._log_path

    @abc.abstractmethod
    def command(self) -> list[str]:
        """The argv of the process."""

    def process_env(self) -> Mapping[str, str | None]:
        """Laid over the launcher's environment; None removes a variable."""
        return {}

    def ready(self) -> Ready:
        """When the process counts as started (default: it accepts TCP on its port)."""
        return tcp_port(self.port)

    def cwd(self) -> Path | None:
        return None

    def process_name(self) -> str:
        """The name in the log's ``=====`` marker line and in start errors."""
        return self.description

    def launch(self, timeout: float) -> None:
        if self.is_running():
            return
        self._process = ManagedProcess(
            self.process_name(),
            self.command(),
            env=self.process_env(),
            cwd=self.cwd(),
            log_path=self.log_path,
            ready=self.ready(),
            stop_grace=self.stop_grace,
        )
        self._process.start(timeout=timeout)

    def stop(self, grace: float | None = None) -> None:
        if self._process is not None:
            self._process.stop(grace=self.stop_grace if grace is None else grace)

    def is_running(self) -> bool:
        return self._process is not None and self._process.is_running()

    def log_text(self) -> str:
        """What the process wrote to its log since it last started."""
        return self._process.log_text() if self._process is not None else ""

    @property
    def process(self) -> ManagedProcess | None:
        return self._process
