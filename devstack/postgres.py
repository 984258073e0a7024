"""A private Postgres server from the machine's own ``initdb``/``pg_ctl`` binaries.

Used by ``kalshi-insights up`` (data kept under the state directory, reused across runs)
and by the test suite (a throwaway cluster per session). ``initdb`` refuses to run as
root, and CI machines run as root, so as root the cluster belongs to the ``postgres``
system user and every server command runs through ``runuser``. An ordinary user on a
laptop runs the binaries directly.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.harness import Harness

__all__ = ["LocalPostgres", "PostgresNotInstalled", "find_pg_bin_dir", "free_port"]

_SEARCH_DIRS = ("/usr/lib/postgresql/{v}/bin", "/usr/local/pgsql/bin", "/opt/homebrew/bin")
DEFAULT_DATABASE = "kalshi_insights"
# How long a fast shutdown (its checkpoint included) may take before an immediate one.
FAST_STOP_SECONDS = 30


class PostgresNotInstalled(RuntimeError):
    def __init__(self) -> None:
        super().__init__(
            "PostgreSQL server binaries (initdb, pg_ctl) were not found. Install them with "
            "'apt-get install postgresql' (Debian/Ubuntu) or 'brew install postgresql@15' "
            "(macOS), or put their directory on PATH or in PG_BIN_DIR."
        )


def find_pg_bin_dir() -> Path:
    """Locate the directory holding ``initdb`` and ``pg_ctl``."""
    explicit = os.environ.get("PG_BIN_DIR")
    candidates: list[Path] = [Path(explicit)] if explicit else []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for version in ("17", "16", "15", "14"):
        candidates.extend(Path(d.format(v=version)) for d in _SEARCH_DIRS)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise PostgresNotInstalled()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass
class LocalPostgres(Harness):
    """One Postgres cluster listening on 127.0.0.1:``port``.

    A :class:`~devstack.harness.Harness` that is not one child process: ``pg_ctl`` starts
    the server as a daemon and stops it by its data directory.
    """

    description = "Postgres server"
    start_timeout = 30.0

    data_dir: Path
    port: int
    log_file: Path
    database: str = DEFAULT_DATABASE
    bin_dir: Path = field(default_factory=find_pg_bin_dir)
    # Tests trade crash safety for speed (fsync off); the local stack keeps its data safe.
    durable: bool = False

    @classmethod
    def in_state_dir(cls, state_dir: Path, port: int) -> LocalPostgres:
        """The cluster of ``kalshi-insights up``: data under ``state_dir/postgres``.

        As root, the ``postgres`` user must be able to reach that directory; when a parent is
        private (a home directory with mode 0700) the data and the server log live under
        /var/tmp instead, keyed by the state directory so reruns find them again, and
        ``state_dir/logs/postgres.log`` links to that log.
        """
        state_dir = state_dir.resolve()
        data_dir = state_dir / "postgres"
        log_file = state_dir / "logs" / "postgres.log"
        if _is_root() and not _postgres_user_can_reach(state_dir):
            digest = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
            outside = Path("/var/tmp") / f"kalshi-insights-pg-{digest}"  # noqa: S108 (fixed, keyed name)
            data_dir, log_file = outside / "data", outside / "postgres.log"
            link = state_dir / "logs" / "postgres.log"
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.unlink(missing_ok=True)
                link.symlink_to(log_file)
        return cls(data_dir=data_dir, port=port, log_file=log_file, durable=True)

    @property
    def log_path(self) -> Path:
        return self.log_file

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:{self.port}/{database}"

    # -- lifecycle -------------------------------------------------------------------------

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if _is_root():
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True)

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if _is_root():
            shutil.chown(self.data_dir, "postgres", "postgres")
            self.log_file.touch(exist_ok=True)
            shutil.chown(self.log_file, "postgres", "postgres")
        # Trust auth on loopback only: a private development cluster, never exposed.
        self._run(
            "initdb",
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
        )

    def is_running(self) -> bool:
        """Whether a server runs on this data directory (``pg_ctl status``)."""
        if not self.initialized():
            return False
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def launch(self, timeout: float) -> None:
        if not self.initialized():
            self.init()
        elif self.is_running():
            # Left over from a launcher that was killed outright (SIGKILL, a crash): stop it,
            # so this run's port and settings apply. Its data is kept.
            self.stop()
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if _is_root():
            self.log_file.touch(exist_ok=True)
            shutil.chown(self.log_file, "postgres", "postgres")
        # synchronous_commit=off may lose the last moments of commits on a crash but never
        # corrupts; fsync/full_page_writes off can corrupt, so only throwaway clusters use them.
        safety = "" if self.durable else "-c fsync=off -c full_page_writes=off "
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data_dir} "
            f"-c synchronous_commit=off {safety}"
            "-c shared_buffers=128MB -c max_connections=200"
        )
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data_dir),
            "-l",
            str(self.log_file),
            "-o",
            options,
            "-w",
            "-t",
            str(int(timeout)),
            "start",
            check=False,
        )
        if result.returncode != 0:
            log = self.log_file
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"Postgres did not start: {result.stderr.strip()}\n{tail}")
        self._wait_ready(timeout)
        self.create_database(self.database)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Postgres is not accepting connections on port {self.port}")

    def create_database(self, name: str) -> None:
        import pg8000.native

        conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=self.port)
        try:
            exists = conn.run("SELECT 1 FROM pg_database WHERE datname = :n", n=name)
            if not exists:
                conn.run(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def stop(self, grace: float | None = None) -> None:
        """``pg_ctl stop -m fast``, waiting up to ``grace`` seconds (default 30); then
        ``-m immediate``, so a stop always ends. An immediate stop loses nothing committed:
        the next start replays the WAL."""
        if not self.initialized():
            return
        seconds = str(max(1, int(grace if grace is not None else FAST_STOP_SECONDS)))
        data = str(self.data_dir)
        fast = self._run(
            "pg_ctl", "-D", data, "-m", "fast", "-w", "-t", seconds, "stop", check=False
        )
        if fast.returncode != 0 and self.is_running():
            self._run(
                "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "10", "stop", check=False
            )

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _postgres_user_can_reach(directory: Path) -> bool:
    probe = directory
    while not probe.exists():
        probe = probe.parent
    result = subprocess.run(
        ["runuser", "-u", "postgres", "--", "test", "-x", str(probe)], capture_output=True
    )
    return result.returncode == 0
