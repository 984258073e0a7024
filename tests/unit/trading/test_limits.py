"""Per-user trading settings and per-order limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.account.preferences import PreferencesError, parse_preferences
from shared.trading.limits import (
    DEFAULT_MAX_CONTRACTS,
    DEFAULT_MAX_DOLLARS,
    LimitExceeded,
    TradingPreferences,
    check_limits,
    parse_trading,
    stored_trading,
)
from shared.trading.translate import Ticket


def test_off_by_default_with_small_limits() -> None:
    prefs = parse_trading({})
    assert prefs == TradingPreferences()
    assert prefs.enabled is False
    assert (prefs.max_order_contracts, prefs.max_order_dollars) == (
        DEFAULT_MAX_CONTRACTS,
        DEFAULT_MAX_DOLLARS,
    )
    assert prefs.to_json() == {
        "trading_enabled": False,
        "max_order_contracts": "100.00",
        "max_order_dollars": "100.00",
    }


@pytest.mark.parametrize(
    "document",
    [
        {"trading_enabled": "yes"},
        {"max_order_contracts": 5},
        {"max_order_contracts": "0"},
        {"max_order_contracts": "100001"},
        {"max_order_dollars": "-1"},
        {"max_order_dollars": "1.001"},
        {"max_order_dollars": "lots"},
    ],
)
def test_bad_settings_are_refused(document: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse_trading(document)
    with pytest.raises(PreferencesError):
        parse_preferences(document)


def test_settings_round_trip_through_the_account_preferences() -> None:
    prefs = parse_preferences(
        {"trading_enabled": True, "max_order_contracts": "25", "max_order_dollars": "12.5"}
    )
    assert prefs.trading == TradingPreferences(True, Decimal("25.00"), Decimal("12.50"))
    document = prefs.to_json()
    assert document["trading_enabled"] is True and document["max_order_dollars"] == "12.50"
    assert "pnl_alerts" in document
    assert parse_preferences(document) == prefs
    assert stored_trading(document) == prefs.trading


def test_an_unreadable_stored_document_means_trading_off() -> None:
    assert stored_trading({"trading_enabled": "on"}).enabled is False
    assert stored_trading(None).enabled is False


def test_limits_on_contracts_and_dollars() -> None:
    prefs = TradingPreferences(True, Decimal(10), Decimal("5.00"))
    check_limits(Ticket("KX", "yes", "buy", Decimal(10), Decimal("0.50")), prefs)
    with pytest.raises(LimitExceeded, match=r"10\.00 per order"):
        check_limits(Ticket("KX", "yes", "buy", Decimal("10.01"), Decimal("0.01")), prefs)
    with pytest.raises(LimitExceeded, match=r"\$5\.01"):
        check_limits(Ticket("KX", "no", "buy", Decimal(10), Decimal("0.501")), prefs)
    # A sell is measured on what it risks when nothing is held: count x (1 - price).
    check_limits(Ticket("KX", "yes", "sell", Decimal(10), Decimal("0.50")), prefs)
    with pytest.raises(LimitExceeded):
        check_limits(Ticket("KX", "yes", "sell", Decimal(10), Decimal("0.49")), prefs)
