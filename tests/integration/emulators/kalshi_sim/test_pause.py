"""Pausing the real-time clock: a test compares price-moving figures against a still world."""

from __future__ import annotations

import time

import httpx
import pytest

from emulators.kalshi_sim.config import SimConfig
from emulators.kalshi_sim.runner import SimulatorServer

pytestmark = pytest.mark.integration


def _tick(http: httpx.Client, server: SimulatorServer) -> int:
    return int(http.get(server.admin_url + "/state").json()["tick"])


def test_a_paused_clock_stands_still_until_resumed_and_manual_ticks_still_work() -> None:
    config = SimConfig(seed=5, n_markets=20, tick_interval_s=0.02)
    with SimulatorServer(config) as server, httpx.Client(timeout=10, trust_env=False) as http:
        settings = server.admin_url + "/settings"
        assert http.get(settings).json()["paused"] is False
        assert http.post(settings, json={"paused": True}).json()["paused"] is True
        time.sleep(0.1)  # a tick already under way finishes
        held = _tick(http, server)
        time.sleep(0.3)
        assert _tick(http, server) == held
        http.post(server.admin_url + "/tick", json={"steps": 2}).raise_for_status()
        assert _tick(http, server) == held + 2
        bad = http.post(settings, json={"paused": "yes"})
        assert bad.status_code == 400 and "paused" in bad.json()["message"]
        assert http.post(settings, json={"paused": False}).json()["paused"] is False
        deadline = time.monotonic() + 5
        while _tick(http, server) <= held + 2:
            assert time.monotonic() < deadline, "the clock did not resume"
            time.sleep(0.02)
