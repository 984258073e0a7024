"""This process's resident memory from ``/proc/self/status``, for benchmarks that report
each stage's peak on its own (Linux; elsewhere the figures are 0)."""

from __future__ import annotations

import contextlib
from pathlib import Path

__all__ = ["reset_peak", "status_mib"]

_STATUS = Path("/proc/self/status")


def status_mib(field_name: str) -> float:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``) in MiB; 0 if absent."""
    with contextlib.suppress(OSError):
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    """Reset this process's high-water RSS to its current RSS (Linux ``clear_refs``), so
    each stage's peak is measured on its own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
