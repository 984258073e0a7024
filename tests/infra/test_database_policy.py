"""Database policy in Terraform: every deployable's database waits fit in its timeout
(docs/decisions/0081), and each logs in as its own role (docs/decisions/0080)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.tf import TfModule, load_modules

DEPLOYABLES = {
    "poll_markets",
    "markets",
    "backtests",
    "backtest_worker",
    "account",
    "streamer",
    "backfill",
}


@pytest.fixture(scope="module")
def platform() -> TfModule:
    return load_modules()["modules/platform"]


def _seconds(value: Any, platform: TfModule) -> int:
    """A module call's timeout: a number, "3600s", or a reference to a platform local."""
    text = str(value)
    if match := re.fullmatch(r"\$\{local\.(\w+)\.(\w+)\}", text):
        return int(platform.locals[match.group(1)][match.group(2)])
    return int(text.removesuffix("s"))


def test_every_deployable_bounds_its_database_waits_below_its_timeout(
    platform: TfModule,
) -> None:
    timeouts = platform.locals["db_timeouts"]
    assert set(timeouts) == DEPLOYABLES
    seen = set()
    for name, body in platform.modules:
        env = str(body.get("environment_variables", ""))
        match = re.search(r"local\.db_env\.(\w+)", env)
        if "local.common_env" not in env:
            continue
        assert match, f"{name} reaches the database without local.db_env timeouts"
        key = match.group(1)
        seen.add(key)
        t = timeouts[key]
        limit = _seconds(body.get("timeout_seconds") or body.get("timeout"), platform)
        # The server cancels a slow statement before the client gives up on the socket.
        assert t["statement"] < t["socket"], (key, t)
        # A stalled database: pool wait + connect + a stalled pre-ping + the statement.
        worst = t["pool"] + t["connect"] + 2 * t["socket"]
        assert worst < limit, f"{key}: worst database wait {worst}s >= timeout {limit}s"
    assert seen == DEPLOYABLES
    db_env = str(platform.locals["db_env"])
    for variable in ("DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT", "DB_SOCKET_TIMEOUT"):
        assert variable in db_env


def test_each_deployable_iam_user_joins_its_own_group_role(platform: TfModule) -> None:
    """The IAM users Terraform creates are keyed by deployable, and ``sql_role_grants``
    turns each key into the group role the migrations create (``ki_<key>``)."""
    from shared.db.roles import GROUP_ROLES

    calls = dict(platform.modules)
    accounts = calls["sql"]["iam_service_accounts"]
    assert set(accounts) - {"migrator"} == set(GROUP_ROLES) == DEPLOYABLES
    assert set(platform.locals["db_timeouts"]) == DEPLOYABLES  # the output's filter
    assert all(role == f"ki_{key}" for key, role in GROUP_ROLES.items())
    grants = str(dict(platform.outputs)["sql_role_grants"]["value"])
    assert "GRANT ki_${k} TO" in grants and "module.sql.iam_user_names" in grants
    assert "contains(keys(local.db_timeouts), k)" in grants  # never "GRANT ki_migrator"
