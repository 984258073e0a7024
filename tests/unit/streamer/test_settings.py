"""The streamer's settings: defaults, roles, subscription names."""

from __future__ import annotations

import pytest

from shared.config import ConfigError
from streamer.settings import StreamerSettings


def test_defaults_are_the_issue_s_figures() -> None:
    settings = StreamerSettings.from_env({})
    assert (settings.port, settings.role, settings.heartbeat_s) == (8080, "all", 15.0)
    assert (settings.reconcile_s, settings.cache_interval_s) == (60.0, 1.0)
    assert settings.subscription("market-snapshots") == "market-snapshots-streamer"


def test_terraform_names_and_split_roles_choose_the_subscriptions() -> None:
    settings = StreamerSettings.from_env(
        {"STREAMER_ROLE": "fanout", "STREAMER_INSTANCE": "2", "ACCOUNT_EVENTS_SUBSCRIPTION": "ae"}
    )
    assert settings.subscription("account-events") == "ae"
    assert settings.subscription("position-events") == "position-events-fanout-2"
    assert settings.subscription("backtest-events") == "backtest-events-streamer-fanout-2"


@pytest.mark.parametrize(
    "env", [{"STREAMER_ROLE": "both"}, {"PORT": "0"}, {"STREAMER_HEARTBEAT_S": "-1"}]
)
def test_bad_values_are_refused(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        StreamerSettings.from_env(env)


def test_an_autoscaled_fan_out_names_its_own_subscriptions() -> None:
    one = StreamerSettings.from_env({"STREAMER_ROLE": "fanout", "STREAMER_INSTANCE": "auto"})
    two = StreamerSettings.from_env({"STREAMER_ROLE": "fanout", "STREAMER_INSTANCE": "auto"})
    assert one.per_instance and two.per_instance
    assert one.subscription("position-events") != two.subscription("position-events")
    assert one.subscription("market-snapshots") != two.subscription("market-snapshots")
    assert not StreamerSettings.from_env({"STREAMER_INSTANCE": "3"}).per_instance
    with pytest.raises(ConfigError):
        StreamerSettings.from_env({"STREAMER_INSTANCE": "x1"})
