"""A real Kalshi key in the environment replaces the simulator in the local stack."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from devstack.services.base import StackContext
from devstack.services.simulator import SimulatorService, real_kalshi_from_env
from shared.kalshi.environments import DEMO, PRODUCTION
from shared.kalshi.signing import generate_private_key_pem


def test_no_key_means_the_simulator() -> None:
    assert real_kalshi_from_env({}) is None
    assert real_kalshi_from_env({"KALSHI_KEY_ID": "abc"}) is None
    assert real_kalshi_from_env({"KALSHI_PRIVATE_KEY_PATH": "/k.pem"}) is None


def test_two_variables_mean_demo_and_env_picks_production() -> None:
    two = {"KALSHI_KEY_ID": "abc", "KALSHI_PRIVATE_KEY_PATH": "/k.pem"}
    assert real_kalshi_from_env(two) == DEMO
    assert real_kalshi_from_env({**two, "KALSHI_ENV": "production"}) == PRODUCTION


def test_service_publishes_the_real_exchange_and_starts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "kalshi.pem"
    key.write_text(generate_private_key_pem())
    monkeypatch.setenv("KALSHI_KEY_ID", "0b5f-test-key")
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(key))
    monkeypatch.delenv("KALSHI_ENV", raising=False)
    ctx = StackContext(state_dir=tmp_path, options=argparse.Namespace())

    service = SimulatorService()
    service.start(ctx)

    assert service.process is None
    assert ctx.env["KALSHI_BASE_URL"] == DEMO.rest_base_url
    assert ctx.env["KALSHI_WS_URL"] == DEMO.ws_url
    assert ctx.env["KALSHI_KEY_ID"] == "0b5f-test-key"
    assert ctx.env["KALSHI_PRIVATE_KEY_PATH"] == str(key.resolve())
    assert not (tmp_path / "demo-account.json").exists()
    assert any("no simulator" in line for line in service.describe())
    service.stop()


def test_missing_key_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KALSHI_KEY_ID", "k")
    monkeypatch.setenv("KALSHI_PRIVATE_KEY_PATH", str(tmp_path / "absent.pem"))
    ctx = StackContext(state_dir=tmp_path, options=argparse.Namespace())
    with pytest.raises(RuntimeError, match="does not name a file"):
        SimulatorService().start(ctx)
