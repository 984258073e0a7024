"""A local Cloud Tasks emulator (PyPI ``gcloud-tasks-emulator`` 0.6.2) as a process.

Google ships no Cloud Tasks emulator. The PyPI one is small, pure Python and speaks the
real gRPC API, but it needs protobuf < 5 while the project venv holds protobuf 7, so it
lives in a virtual environment of its own (``.venv-tasks`` in the repo root, created on
first use from ``devstack/tasks-emulator-requirements.txt``) and is started through our
``devstack/tasks_emulator_main.py``, which patches the few places where 0.6.2 differs from
Cloud Tasks in ways our code relies on (task-name deduplication, retry backoff, dispatch
deadline, loopback-only binding). See docs/decisions/0042-cloud-tasks-emulator.md.

How it dispatches (verified against 0.6.2's source and by tests/integration/messaging):
HTTP-target tasks are POSTed (or the task's method) to ``http_request.url`` exactly as
given, with the task's headers plus ``X-CloudTasks-QueueName`` (the FULL queue path
``projects/P/locations/L/queues/Q``; real Cloud Tasks sends only ``Q``),
``X-CloudTasks-TaskName`` (the short task id), ``X-CloudTasks-TaskRetryCount``,
``X-CloudTasks-TaskExecutionCount`` and ``X-CloudTasks-TaskETA``. No OIDC token is sent
(no ``Authorization`` header). A 2xx answer completes the task; 4xx/5xx or a connection
error retries it with exponential backoff until ``max_attempts`` dispatches were made.
Tasks of one queue are dispatched one at a time. State is in memory only.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from devstack.harness import ProcessHarness
from devstack.process import Ready, all_of, log_line, tcp_port
from devstack.tool_venv import ToolVenvError, ensure_tool_venv

__all__ = [
    "DEFAULT_QUEUE_PATH",
    "REQUIREMENTS_FILE",
    "CloudTasksEmulator",
    "TasksEmulatorSetupError",
    "ensure_tasks_venv",
]

DEVSTACK_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEVSTACK_DIR.parent
REQUIREMENTS_FILE = DEVSTACK_DIR / "tasks-emulator-requirements.txt"
ENTRY_POINT = DEVSTACK_DIR / "tasks_emulator_main.py"
DEFAULT_VENV_DIR = REPO_ROOT / ".venv-tasks"
DEFAULT_QUEUE_PATH = "projects/kalshi-insights-local/locations/us-central1/queues/backtests"


class TasksEmulatorSetupError(RuntimeError):
    """The emulator's virtual environment could not be created or installed."""


def ensure_tasks_venv(venv_dir: Path = DEFAULT_VENV_DIR, *, timeout: float = 600) -> Path:
    """Create or update the emulator's venv when the pinned requirements changed.

    Returns the venv's Python.
    """
    try:
        return ensure_tool_venv(Path(venv_dir), REQUIREMENTS_FILE, timeout=timeout)
    except ToolVenvError as error:
        raise TasksEmulatorSetupError(
            f"Setting up the Cloud Tasks emulator venv failed: {error}"
        ) from error


class CloudTasksEmulator(ProcessHarness):
    """The patched emulator on ``127.0.0.1:port`` with one queue, ``queue_path``."""

    description = "Cloud Tasks emulator"
    stop_grace = 5.0

    def __init__(
        self,
        port: int,
        venv_dir: Path | str = DEFAULT_VENV_DIR,
        log_path: Path | str | None = None,
        queue_path: str = DEFAULT_QUEUE_PATH,
        *,
        max_attempts: int = 5,
        min_backoff: float = 1.0,
        max_backoff: float = 10.0,
        dispatch_deadline: float = 600.0,
    ) -> None:
        if queue_path.count("/") != 5 or not queue_path.startswith("projects/"):
            raise ValueError(
                f"queue_path must look like projects/P/locations/L/queues/Q, got {queue_path!r}"
            )
        if log_path is None:
            log_path = Path(tempfile.mkdtemp(prefix="ki-tasks-")) / "tasks-emulator.log"
        super().__init__(port, log_path)
        self.venv_dir = Path(venv_dir)
        self.queue_path = queue_path
        self.max_attempts = max_attempts
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.dispatch_deadline = dispatch_deadline
        self._python: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        """``CLOUD_TASKS_EMULATOR_HOST`` (:attr:`host`) and ``CLOUD_TASKS_QUEUE``."""
        return {"CLOUD_TASKS_EMULATOR_HOST": self.host, "CLOUD_TASKS_QUEUE": self.queue_path}

    def prepare(self) -> None:
        self._python = ensure_tasks_venv(self.venv_dir)

    def process_name(self) -> str:
        return "cloud-tasks-emulator"

    def command(self) -> list[str]:
        python = self._python or ensure_tasks_venv(self.venv_dir)
        return [
            str(python),
            str(ENTRY_POINT),
            f"--min-backoff={self.min_backoff}",
            f"--max-backoff={self.max_backoff}",
            f"--dispatch-deadline={self.dispatch_deadline}",
            "start",
            f"--port={self.port}",
            f"--default-queue={self.queue_path}",
            # 0.6.2 counts retries after the first dispatch.
            f"--max-retries={max(self.max_attempts - 1, 0)}",
        ]

    def process_env(self) -> dict[str, str | None]:
        # Unbuffered: the readiness line must reach the log as soon as it is printed.
        return {"PYTHONUNBUFFERED": "1", "PYTHONPATH": None, "VIRTUAL_ENV": None}

    def ready(self) -> Ready:
        return all_of(log_line(r"All services started"), tcp_port(self.port))
