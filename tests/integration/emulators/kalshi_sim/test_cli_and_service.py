"""``kalshi-insights sim`` as a process, and the local-stack service around it."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import httpx
import pytest

from devstack.postgres import free_port
from devstack.services.base import StackContext
from devstack.services.simulator import SimulatorService
from shared.kalshi.signing import KalshiSigner

pytestmark = pytest.mark.integration


def _balance(base_url: str, key_id: str, pem: str) -> int:
    signer = KalshiSigner.from_pem(key_id, pem)
    path = "/trade-api/v2/portfolio/balance"
    response = httpx.get(
        base_url + "/portfolio/balance", headers=signer.headers("GET", path), timeout=10
    )
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


def test_service_writes_a_private_demo_account_and_reuses_it(tmp_path: Path) -> None:
    options = argparse.Namespace(sim_port=free_port(), sim_seed=3, sim_markets=50)
    first_key = None
    for _ in range(2):  # a restart keeps the same credentials working
        ctx = StackContext(state_dir=tmp_path, options=options)
        service = SimulatorService()
        try:
            service.start(ctx)
            account_file = tmp_path / "demo-account.json"
            assert stat.S_IMODE(account_file.stat().st_mode) == 0o600
            saved = json.loads(account_file.read_text())
            assert set(saved) == {"key_id", "private_key_pem"}
            assert ctx.env["KALSHI_KEY_ID"] == saved["key_id"]
            assert ctx.env["KALSHI_BASE_URL"].endswith("/trade-api/v2")
            assert ctx.env["KALSHI_WS_URL"].startswith("ws://127.0.0.1:")
            key_path = Path(ctx.env["KALSHI_PRIVATE_KEY_PATH"])
            assert key_path.read_text() == saved["private_key_pem"]
            assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
            assert (
                _balance(ctx.env["KALSHI_BASE_URL"], saved["key_id"], saved["private_key_pem"]) > 0
            )
            assert any("demo account" in line for line in service.describe())
            assert service.check() is None
            first_key = first_key or saved["key_id"]
            assert saved["key_id"] == first_key
        finally:
            service.stop()
