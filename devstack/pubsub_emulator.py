"""Google's official Pub/Sub emulator (``gcloud beta emulators pubsub start``) as a process.

The emulator is a JVM behind gcloud's Python wrapper; it starts in a few seconds on an idle
machine and much slower on a busy one, so the test suite runs one per session and the local
stack one per ``kalshi-insights up``. Clients find it through ``PUBSUB_EMULATOR_HOST``
(google-cloud-pubsub reads that variable itself); topics and subscriptions are created with
the Python client (:func:`devstack.pubsub_admin.ensure_topology`), because ``gcloud pubsub``
commands always talk to the real service.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from devstack.harness import ProcessHarness
from devstack.process import Ready, all_of, log_line, tcp_port

__all__ = ["DEFAULT_PROJECT", "EmulatorNotInstalled", "PubSubEmulator"]

DEFAULT_PROJECT = "kalshi-insights-local"
_COMPONENT_HINT = (
    "Install it with 'apt-get install google-cloud-cli-pubsub-emulator' (Debian/Ubuntu; it "
    "needs a Java 11+ runtime such as 'openjdk-17-jre-headless') or "
    "'gcloud components install pubsub-emulator beta' (standalone Cloud SDK)."
)


class EmulatorNotInstalled(RuntimeError):
    """A local emulator's binaries are missing; the message says what to install."""


def _check_installed() -> None:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorNotInstalled(
            "The Pub/Sub emulator needs the Google Cloud CLI ('gcloud'), which is not on PATH. "
            + _COMPONENT_HINT
        )
    if shutil.which("java") is None:
        raise EmulatorNotInstalled(
            "The Pub/Sub emulator needs Java ('java' is not on PATH). " + _COMPONENT_HINT
        )
    sdk_root = Path(gcloud).resolve().parent.parent
    platform_dir = sdk_root / "platform"
    if platform_dir.is_dir() and not (platform_dir / "pubsub-emulator").is_dir():
        raise EmulatorNotInstalled(
            f"The Pub/Sub emulator component (google-cloud-cli-pubsub-emulator) is missing "
            f"from {sdk_root}. " + _COMPONENT_HINT
        )


class PubSubEmulator(ProcessHarness):
    """One emulator on ``127.0.0.1:port`` with its state under ``data_dir``."""

    description = "Pub/Sub emulator"
    start_timeout = 120.0

    def __init__(
        self,
        port: int,
        project: str = DEFAULT_PROJECT,
        data_dir: Path | str | None = None,
        log_path: Path | str | None = None,
    ) -> None:
        if data_dir is None or log_path is None:
            scratch = Path(tempfile.mkdtemp(prefix="ki-pubsub-"))
            data_dir = data_dir or scratch / "data"
            log_path = log_path or scratch / "pubsub.log"
        super().__init__(port, log_path)
        self.project = project
        self.data_dir = Path(data_dir)

    @property
    def env(self) -> dict[str, str]:
        """Variables a client process needs to reach this emulator (``PUBSUB_EMULATOR_HOST``
        is :attr:`host`)."""
        return {"PUBSUB_EMULATOR_HOST": self.host, "PUBSUB_PROJECT_ID": self.project}

    def prepare(self) -> None:
        _check_installed()
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def process_name(self) -> str:
        return "pubsub-emulator"

    def command(self) -> list[str]:
        return [
            "gcloud",
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--project={self.project}",
            f"--host-port={self.host}",
            f"--data-dir={self.data_dir}",
            "--quiet",
        ]

    def process_env(self) -> dict[str, str | None]:
        # The emulator itself must never be pointed at another emulator.
        return {"PUBSUB_EMULATOR_HOST": None, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}

    def ready(self) -> Ready:
        return all_of(log_line(r"Server started, listening on"), tcp_port(self.port))
