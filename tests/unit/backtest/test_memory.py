"""Freed memory goes back to the operating system between a run's stages (ADR 0230)."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import pytest

from shared.backtest import memory


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_release_is_safe_to_call_any_time() -> None:
    memory.release_freed_memory()
    memory.release_freed_memory()


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_freed_heap_chunks_are_returned() -> None:
    assert memory._malloc_trim() is not None
    # Small arrays live in glibc's heap; freeing every other one leaves holes that the
    # heap keeps (they are not at its top) until they are trimmed.
    arrays = [np.ones(4_000) for _ in range(8_000)]  # 32 kB each, ~256 MB
    del arrays[::2]
    before = _rss_mb()
    memory.release_freed_memory()
    assert _rss_mb() < before - 50
    del arrays
