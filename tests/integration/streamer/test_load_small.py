"""The benchmark's in-suite size (``tests/bench/bench_streamer.py``): the simulator, the
streamer, a probe and SSE clients in their own processes for a few seconds; every quote on a
held market reaches every client of its holders."""

from __future__ import annotations

import pytest

from tests.bench.bench_streamer import run

pytestmark = pytest.mark.integration


def test_a_small_load_loses_no_quote() -> None:
    result = run("streamer", accounts=4, clients=12, seconds=4.0, warmup=2.0, procs=1, activity=0.3)
    assert result["clients"] == 12
    assert result["expected"] > 0
    # Delivered within 2 s of the probe, or covered by a coalesced snapshot: a quote missing
    # from a client is a loss (not a slow machine).
    assert result["matched"] >= result["expected"] * 0.98, result
    assert result["events_per_s"] > 0
