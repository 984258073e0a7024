"""The simulator keeps its world in the state directory: a restart continues it.

Run as ``kalshi-insights up`` runs it (the stack's service, a child process), advance the
exchange far enough that markets close and settle, stop, start again on the same state
directory and compare: what had closed stays closed, volumes never go backwards, times and
the clock go on, the demo account is the same account.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.postgres import free_port
from devstack.services.base import StackContext
from devstack.services.simulator import SimulatorService
from emulators.kalshi_sim.persist import WORLD_FILE

pytestmark = pytest.mark.integration

CLOSED = {"closed", "determined", "disputed", "amended", "finalized"}
ORDER = ["initialized", "active", "inactive", "closed", "determined", "finalized"]


def _markets(base_url: str) -> dict[str, dict[str, Any]]:
    markets: dict[str, dict[str, Any]] = {}
    cursor = ""
    while True:
        response = httpx.get(
            f"{base_url}/markets", params={"limit": 1000, "cursor": cursor}, timeout=30
        )
        assert response.status_code == 200, response.text
        body = response.json()
        for market in body["markets"]:
            markets[market["ticker"]] = market
        cursor = body.get("cursor") or ""
        if not cursor:
            return markets


def _admin(origin: str, method: str, path: str, **body: Any) -> dict[str, Any]:
    response = httpx.request(method, f"{origin}/_sim{path}", json=body or None, timeout=120)
    assert response.status_code < 300, response.text
    result: dict[str, Any] = response.json()
    return result


def _start(state_dir: Path, port: int) -> tuple[SimulatorService, str]:
    options = argparse.Namespace(sim_port=port, sim_seed=5, sim_markets=80)
    service = SimulatorService()
    service.start(StackContext(state_dir=state_dir, options=options))
    return service, f"http://127.0.0.1:{port}"


def test_a_restart_continues_the_world(tmp_path: Path) -> None:
    port = free_port()
    service, origin = _start(tmp_path, port)
    try:
        # 4000 ticks of 0.5 s: over half an hour of exchange time, so short markets close,
        # are determined and settle.
        _admin(origin, "POST", "/tick", steps=4000)
        before = _markets(origin + "/trade-api/v2")
        clock_before = _admin(origin, "GET", "/state")
    finally:
        service.stop()
    closed_before = {t for t, m in before.items() if m["status"] in CLOSED}
    assert closed_before, "the test must see markets close before the restart"
    assert (tmp_path / WORLD_FILE).exists()

    service, origin = _start(tmp_path, port)
    try:
        after = _markets(origin + "/trade-api/v2")
        clock_after = _admin(origin, "GET", "/state")
        _admin(origin, "POST", "/tick", steps=200)
        later = _markets(origin + "/trade-api/v2")
    finally:
        service.stop()

    assert set(before) <= set(after)
    for ticker, old in before.items():
        new = after[ticker]
        if ticker in closed_before:
            assert new["status"] in CLOSED, (ticker, old["status"], new["status"])
        assert ORDER.index(new["status"]) >= ORDER.index(old["status"]), ticker
        assert (new["open_time"], new["close_time"]) == (old["open_time"], old["close_time"])
        assert float(new["volume_fp"]) >= float(old["volume_fp"]), ticker
        assert float(later[ticker]["volume_fp"]) >= float(new["volume_fp"]), ticker
    assert clock_after["now_ms"] >= clock_before["now_ms"]
    assert clock_after["tick"] >= clock_before["tick"]
    # The demo account continues too (not registered a second time).
    assert clock_after["accounts"] == clock_before["accounts"] == 1
