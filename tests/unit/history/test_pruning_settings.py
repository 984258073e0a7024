"""The pruning window of long-settled markets (ADR 0226) from the environment."""

from __future__ import annotations

import pytest

from shared import config
from shared.marketdata.settings import MarketDataSettings


def test_settled_markets_leave_the_read_model_after_seven_days_by_default() -> None:
    assert MarketDataSettings.from_env({}).settled_market_retention_days == 7
    assert (
        MarketDataSettings.from_env(
            {"SETTLED_MARKET_RETENTION_DAYS": ""}
        ).settled_market_retention_days
        == 7
    )


@pytest.mark.parametrize(("value", "days"), [("0", 0), ("30", 30)])
def test_the_window_is_configurable_and_zero_keeps_every_market(value: str, days: int) -> None:
    settings = MarketDataSettings.from_env({"SETTLED_MARKET_RETENTION_DAYS": value})
    assert settings.settled_market_retention_days == days


@pytest.mark.parametrize("value", ["-1", "7.5", "a week"])
def test_an_unusable_window_is_refused(value: str) -> None:
    with pytest.raises(config.ConfigError, match="SETTLED_MARKET_RETENTION_DAYS"):
        MarketDataSettings.from_env({"SETTLED_MARKET_RETENTION_DAYS": value})
