"""Deployable role names and the local stack's per-function database URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.services.postgres import as_role
from shared.db.roles import GROUP_ROLES, deployable_url, local_login

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"


def test_every_deployable_has_a_group_role_of_its_own() -> None:
    """Each function under ``functions/`` and the streamer: a new deployable without a
    role of its own fails here rather than connecting as someone else."""
    functions = {p.parent.name for p in FUNCTIONS_DIR.glob("*/main.py")}
    assert {"markets", "poll_markets", "backtests", "backtest_worker", "account"} <= functions
    assert set(GROUP_ROLES) == functions | {"streamer"}
    assert len(set(GROUP_ROLES.values())) == len(GROUP_ROLES)


def test_deployable_url_swaps_only_the_user() -> None:
    url = "postgresql+pg8000://postgres:pw@127.0.0.1:5433/kalshi_insights"
    assert deployable_url(url, "markets") == (
        "postgresql+pg8000://fn_markets@127.0.0.1:5433/kalshi_insights"
    )
    with pytest.raises(ValueError, match="unknown deployable"):
        local_login("everything")


def test_as_role_gives_each_function_its_own_login() -> None:
    env = {"DATABASE_URL": "postgresql+pg8000://postgres@127.0.0.1:5433/db", "OTHER": "x"}
    assert as_role(env, "poll_markets") == {
        "DATABASE_URL": "postgresql+pg8000://fn_poll_markets@127.0.0.1:5433/db",
        "OTHER": "x",
    }
    assert env["DATABASE_URL"].startswith("postgresql+pg8000://postgres@")  # not mutated
