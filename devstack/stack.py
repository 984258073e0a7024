"""``kalshi-insights up``: start every local service in order, report, wait, stop.

The order lives in :data:`SERVICES`, the one list each issue extends with its own service
(``"module:Class"``; a module that does not exist yet is skipped). Each service starts and
blocks until ready; then the launcher prints what runs where, then exactly one line
``Dashboard: http://127.0.0.1:PORT`` (scripts wait for it), and waits for Ctrl-C or SIGTERM.
Stopping goes in reverse order. If anything fails while starting, what already started is
stopped and the launcher exits non-zero with one clear message.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from devstack.services.base import Service, StackContext
from devstack.state import port_is_free

__all__ = ["SERVICES", "StackFailed", "load_services", "run_stack", "service_classes"]

SERVICES: tuple[str, ...] = (
    "devstack.services.postgres:PostgresService",
    "devstack.services.simulator:SimulatorService",
    "devstack.services.pubsub:PubSubService",
    "devstack.services.tasks:CloudTasksService",
    "devstack.services.secret_manager:SecretManagerService",
    "devstack.services.marketdata:MarketDataService",
    "devstack.services.backtests:BacktestsService",
    "devstack.services.backfill:DailyBackfillService",
    "devstack.services.account:AccountService",
    "devstack.services.streamer:StreamerService",
    "devstack.services.gateway:GatewayService",
)
"""Start order. Later services read what earlier ones put in ``ctx.env``; the gateway is
last because it serves the routes the others registered."""

HEALTH_INTERVAL = 1.0

logger = logging.getLogger("devstack.stack")


class StackFailed(RuntimeError):
    """The stack could not start or a service failed while running."""


class _Shutdown(BaseException):
    """Raised in the main thread by SIGINT/SIGTERM; a BaseException so no handler eats it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def service_classes(entries: Sequence[str] = SERVICES) -> list[type[Any]]:
    """The service classes of ``entries`` whose modules exist, in order."""
    classes: list[type[Any]] = []
    for entry in entries:
        module_name, _, class_name = entry.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name == module_name:
                logger.debug("service %s is not available yet", module_name)
            else:
                logger.warning("service %s is skipped: %s", entry, error)
            continue
        except Exception as error:  # one broken service must not break the launcher
            logger.warning("service %s is skipped: %s: %s", entry, type(error).__name__, error)
            continue
        cls = getattr(module, class_name, None)
        if cls is None:
            logger.warning("service %s is skipped: %s has no %s", entry, module_name, class_name)
            continue
        classes.append(cls)
    return classes


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """Let every available service add its own ``up`` options."""
    for cls in service_classes():
        add_arguments: Callable[[argparse.ArgumentParser], None] | None = getattr(
            cls, "add_arguments", None
        )
        if add_arguments is not None:
            add_arguments(parser)


def load_services() -> list[Service]:
    return [cls() for cls in service_classes()]


def _install_signal_handlers() -> dict[int, Any]:
    def raise_shutdown(signum: int, frame: FrameType | None) -> None:
        raise _Shutdown(signum)

    previous: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, raise_shutdown)
    return previous


def _ignore_signals_while_stopping() -> None:
    # A second Ctrl-C must not abandon half-stopped children; stopping is bounded anyway
    # (every process gets SIGKILL after its grace period).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, frame: None)


def _stop_all(started: Sequence[Service], out: TextIO) -> bool:
    clean = True
    for service in reversed(started):
        # One line per service, as when starting: a stop that hangs names its service.
        print(f"Stopping {service.name} ...", file=out, flush=True)
        try:
            service.stop()
        except Exception as error:
            clean = False
            print(f"  could not stop {service.name}: {error}", file=sys.stderr)
    return clean


def _print_summary(ctx: StackContext, out: TextIO) -> None:
    print("What runs where:", file=out)
    for _name, lines in ctx.summary:
        for line in lines:
            print(f"  {line}", file=out)
    print(f"  State        {ctx.state_dir} (logs in {ctx.logs_dir})", file=out)


def run_stack(
    options: argparse.Namespace,
    services: Sequence[Service] | None = None,
    *,
    out: TextIO = sys.stdout,
) -> int:
    """Run the stack until a signal; returns the process exit code."""
    state_dir = Path(options.state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    ctx = StackContext(state_dir=state_dir, options=options)
    port = int(options.port)
    if not port_is_free(port):
        print(
            f"kalshi-insights up: port {port} on 127.0.0.1 is already in use (another "
            "'kalshi-insights up'?). Stop it, or choose another port: "
            f"make up UP_ARGS='--port {port + 1}' (or kalshi-insights up --port {port + 1}).",
            file=sys.stderr,
        )
        return 1

    # Services are loaded before the handlers go in: a _Shutdown raised outside the try
    # below would escape as a traceback (until then a signal simply ends the process).
    chosen = list(services) if services is not None else load_services()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = _install_signal_handlers() if in_main_thread else {}
    started: list[Service] = []
    exit_code = 0
    try:
        for service in chosen:
            print(f"Starting {service.name} ...", file=out, flush=True)
            started.append(service)  # stop() must be safe after a half-done start
            try:
                service.start(ctx)
            except _Shutdown:
                raise
            except Exception as error:
                logger.debug("start of %s failed", service.name, exc_info=True)
                raise StackFailed(f"{service.name} failed to start: {error}") from error
            ctx.summary.append((service.name, service.describe()))
        _print_summary(ctx, out)
        if ctx.dashboard_url:
            print(f"Dashboard: {ctx.dashboard_url}", file=out)
        out.flush()
        while True:
            time.sleep(HEALTH_INTERVAL)
            for service in started:
                check = getattr(service, "check", None)
                problem = check() if check is not None else None
                if problem:
                    raise StackFailed(f"{service.name} failed: {problem}")
    except _Shutdown as stop:
        print(f"\nReceived {stop}; stopping ...", file=out, flush=True)
    except StackFailed as error:
        print(f"kalshi-insights up: {error}", file=sys.stderr, flush=True)
        exit_code = 1
    except Exception:
        print("kalshi-insights up: unexpected error", file=sys.stderr)
        traceback.print_exc()
        exit_code = 1
    finally:
        if in_main_thread:
            _ignore_signals_while_stopping()
        clean = _stop_all(started, out)
        if in_main_thread:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        print("Stopped." if clean else "Stopped, with errors (see above).", file=out, flush=True)
        if not clean and exit_code == 0:
            exit_code = 1
    return exit_code
