"""``kalshi-insights up`` end to end: the real launcher as a subprocess, run twice.

Starts whatever the stack holds today (Postgres, the emulators, the gateway ...), so this is
also the smoke test of every service's start and stop.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pg8000.native
import pytest

from devstack.postgres import DEFAULT_DATABASE, LocalPostgres, free_port
from shared.db.migrate import head_revision

pytestmark = pytest.mark.integration

READY_TIMEOUT = 240.0
STOP_TIMEOUT = 90.0


def launcher_command() -> list[str]:
    script = Path(sys.executable).with_name("kalshi-insights")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "devstack.cli"]


class Launcher:
    """One ``kalshi-insights up`` run; its output is read line by line in a thread."""

    def __init__(self, port: int, state_dir: Path) -> None:
        self.port = port
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.process = subprocess.Popen(
            [*launcher_command(), "up", "--port", str(port), "--state-dir", str(state_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # so a failed test can stop its whole group
            # A developer's own Kalshi key must not switch the test stack to the real exchange.
            env={
                **{k: v for k, v in os.environ.items() if not k.startswith("KALSHI_")},
                "PYTHONUNBUFFERED": "1",
            },
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {prefix!r} line after {timeout}s:\n{self.output}")
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"launcher exited before {prefix!r}:\n{self.output}")
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def finish(self, timeout: float) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stuck = self.stuck()
            raise AssertionError(f"launcher still running after {timeout}s:\n{stuck}") from None
        while True:
            try:
                line = self._queue.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def stuck(self) -> str:
        """What a launcher that will not exit is doing: its output, every thread's stack
        (``up`` dumps them on SIGUSR2) and the processes left in its session."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGUSR2)
        deadline = time.monotonic() + 3
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        tree = subprocess.run(
            ["ps", "-o", "pid,ppid,pgid,stat,etime,args", "-g", str(self.process.pid)],
            capture_output=True,
            text=True,
        ).stdout
        return f"{self.output}\n--- processes in its session:\n{tree}"

    def kill(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def stop_stack_postgres(state: Path) -> None:
    """Stop the Postgres a stack in ``state`` started, if it got that far: whatever
    happened to the stack, no server is left behind."""
    ports = state / "ports.json"
    if ports.exists():
        port = json.loads(ports.read_text()).get("postgres")
        if port:
            LocalPostgres.in_state_dir(state, int(port)).stop()


@pytest.fixture
def state_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="ki-test-up-"))
    base.chmod(0o755)  # as root, the postgres user must reach the data directory
    state = base / "state"
    yield state
    stop_stack_postgres(state)
    shutil.rmtree(base, ignore_errors=True)


def run_until_ready(state_dir: Path) -> Launcher:
    launcher = Launcher(free_port(), state_dir)
    try:
        line = launcher.wait_for_line("Dashboard:", READY_TIMEOUT)
    except BaseException:
        launcher.kill()
        raise
    assert line == f"Dashboard: http://127.0.0.1:{launcher.port}"
    return launcher


def stop(launcher: Launcher, sig: signal.Signals) -> None:
    launcher.process.send_signal(sig)
    try:
        code = launcher.finish(STOP_TIMEOUT)
    finally:
        launcher.kill()
    assert code == 0, launcher.output
    assert launcher.lines[-1] == "Stopped."
    assert launcher.output.count("Dashboard:") == 1
    # stderr is merged into the output: a signal is a normal way to stop, never a crash.
    assert "Traceback" not in launcher.output


def test_up_serves_migrates_stops_and_keeps_data(state_dir: Path) -> None:
    # First run: everything comes up, Postgres is migrated, the gateway answers.
    first = run_until_ready(state_dir)
    try:
        origin = f"http://127.0.0.1:{first.port}"
        page = httpx.get(origin + "/", timeout=10)
        assert page.status_code == 200
        missing = httpx.get(origin + "/api/v1/no-such-thing", timeout=10)
        assert missing.status_code == 404
        assert missing.json()["error"] == "not_found"

        pg_port = json.loads((state_dir / "ports.json").read_text())["postgres"]
        assert f"127.0.0.1:{pg_port}/{DEFAULT_DATABASE}" in first.output
        conn = pg8000.native.Connection(
            "postgres", host="127.0.0.1", port=pg_port, database=DEFAULT_DATABASE
        )
        try:
            assert conn.run("SELECT version_num FROM alembic_version") == [[head_revision()]]
            tables = {row[0] for row in conn.run("SELECT tablename FROM pg_tables")}
            assert {"markets", "market_snapshots", "users", "processed_messages"} <= tables
            conn.run(
                "INSERT INTO markets (ticker, event_ticker, status) "
                "VALUES ('KXTEST-1', 'KXTEST', 'active')"
            )
            # Each function connects as its own login role (docs/decisions/0080).
            assert httpx.get(origin + "/api/v1/markets", timeout=30).status_code == 200
            assert httpx.get(origin + "/api/v1/backtests", timeout=30).status_code == 200
            wanted = {"fn_markets", "fn_backtests", "fn_poll_markets"}
            deadline = time.monotonic() + 90  # poll_markets connects on the first poll
            while True:
                users = {
                    row[0]
                    for row in conn.run(
                        "SELECT usename FROM pg_stat_activity WHERE datname = current_database()"
                    )
                }
                if wanted <= users or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert wanted <= users, users
            assert conn.run("SELECT count(*) FROM market_polls")[0][0] >= 1  # as fn_poll_markets
        finally:
            conn.close()
        # SIGUSR2 prints every thread's stack (for a start or stop that seems stuck) and
        # the stack keeps running.
        first.process.send_signal(signal.SIGUSR2)
        first.wait_for_line("Current thread 0x", 10)
        assert first.process.poll() is None
    except BaseException:
        first.kill()
        raise
    stop(first, signal.SIGTERM)
    assert not port_open(pg_port), "Postgres still runs after the launcher stopped"
    assert not port_open(first.port), "the gateway still runs after the launcher stopped"
    assert (state_dir / "logs" / "postgres.log").exists()

    # Second run: same state directory, same Postgres port, the row is still there.
    second = run_until_ready(state_dir)
    try:
        assert json.loads((state_dir / "ports.json").read_text())["postgres"] == pg_port
        conn = pg8000.native.Connection(
            "postgres", host="127.0.0.1", port=pg_port, database=DEFAULT_DATABASE
        )
        try:
            assert conn.run("SELECT status FROM markets WHERE ticker = 'KXTEST-1'") == [["active"]]
        finally:
            conn.close()
    except BaseException:
        second.kill()
        raise
    stop(second, signal.SIGINT)  # Ctrl-C
    assert not port_open(pg_port)


# ---------------------------------------------------------------- the first hour (finding 19)


def _env_without_database() -> dict[str, str]:
    drop = ("DATABASE_URL", "INSTANCE_CONNECTION_NAME")
    return {
        **{k: v for k, v in os.environ.items() if k not in drop and not k.startswith("KALSHI_")},
        "PYTHONUNBUFFERED": "1",
    }


def test_a_port_clash_names_the_make_up_option(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        result = subprocess.run(
            [*launcher_command(), "up", "--port", str(taken), "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
            env=_env_without_database(),
        )
    assert result.returncode == 1
    assert f"port {taken}" in result.stderr
    assert "make up UP_ARGS='--port " in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_finds_the_local_stacks_database(postgres: LocalPostgres, tmp_path: Path) -> None:
    # The stack's ports.json is all `migrate` has to go on, as for `backtest run`.
    admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=postgres.port)
    try:
        admin.run(f'DROP DATABASE IF EXISTS "{DEFAULT_DATABASE}" WITH (FORCE)')
        admin.run(f'CREATE DATABASE "{DEFAULT_DATABASE}"')
    finally:
        admin.close()
    (tmp_path / "ports.json").write_text(json.dumps({"postgres": postgres.port}))
    try:
        result = subprocess.run(
            [*launcher_command(), "migrate", "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=300,
            env=_env_without_database(),
        )
        assert result.returncode == 0, result.stderr
        assert f"127.0.0.1:{postgres.port}/{DEFAULT_DATABASE}" in result.stdout
        assert head_revision() in result.stdout
    finally:
        admin = pg8000.native.Connection("postgres", host="127.0.0.1", port=postgres.port)
        try:
            admin.run(f'DROP DATABASE IF EXISTS "{DEFAULT_DATABASE}" WITH (FORCE)')
        finally:
            admin.close()


def test_sigterm_while_starting_stops_cleanly_without_a_traceback(state_dir: Path) -> None:
    launcher = Launcher(free_port(), state_dir)
    try:
        launcher.wait_for_line("Starting simulator", READY_TIMEOUT)
        launcher.process.send_signal(signal.SIGTERM)
        code = launcher.finish(STOP_TIMEOUT)
    finally:
        launcher.kill()
    assert "Traceback" not in launcher.output
    assert code == 0, launcher.output
    assert launcher.lines[-1] == "Stopped."
    assert "Dashboard:" not in launcher.output
    pg_port = json.loads((state_dir / "ports.json").read_text())["postgres"]
    assert not port_open(pg_port), "Postgres still runs after a SIGTERM during start"
