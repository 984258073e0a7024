"""The ticket preview prices with Kalshi's fee and rounding rules (shared.domain.fees)."""

from __future__ import annotations

from decimal import Decimal

from shared.kalshi import models as m
from shared.trading.markets import MarketRules
from shared.trading.preview import preview
from shared.trading.translate import Ticket

CENT = (m.PriceRange(start=Decimal(0), end=Decimal(1), step=Decimal("0.01")),)


def rules(fee_type: str = "quadratic_with_maker_fees", multiplier: str = "1") -> MarketRules:
    return MarketRules("KX", "active", CENT, fee_type, Decimal(multiplier))


def test_a_buy_as_taker_and_as_maker() -> None:
    out = preview(Ticket("KX", "yes", "buy", Decimal(10), Decimal("0.45")), rules())
    assert out["cost"] == "4.500000" and out["proceeds"] == "0.000000"
    # taker: 0.07 x 10 x 0.45 x 0.55 = 0.17325 -> ceiled to $0.0001: 0.1733; the balance
    # change -4.6733 is floored to the cent, -4.68: rounding fee 0.0067, total 0.18.
    assert out["taker"] == {
        "trade_fee": "0.173300",
        "rounding_fee": "0.006700",
        "rebate": "0.000000",
        "total_fee": "0.180000",
        "balance_change": "-4.680000",
    }
    # maker: 0.0175 x 10 x 0.2475 = 0.0433125 -> 0.0434; -4.5434 floors to -4.55.
    assert out["maker"]["trade_fee"] == "0.043400"
    assert out["maker"]["rounding_fee"] == "0.006600"
    assert out["maker"]["balance_change"] == "-4.550000"


def test_a_no_order_prices_on_the_yes_book_and_fees_are_symmetric() -> None:
    yes = preview(Ticket("KX", "yes", "buy", Decimal(10), Decimal("0.45")), rules())
    no = preview(Ticket("KX", "no", "buy", Decimal(10), Decimal("0.55")), rules())
    assert no["book_side"] == "ask" and no["yes_price"] == "0.4500"
    assert no["taker"]["trade_fee"] == yes["taker"]["trade_fee"]
    assert no["cost"] == "5.500000"


def test_a_sell_receives_and_quadratic_series_charge_makers_nothing() -> None:
    out = preview(Ticket("KX", "yes", "sell", Decimal(1), Decimal("0.52")), rules("quadratic"))
    assert out["proceeds"] == "0.520000" and out["max_cost"] == "0.480000"
    assert out["taker"]["trade_fee"] == "0.017500"  # the recorded fill: 1 @ 0.52
    # +0.52 - 0.0175 = 0.5025 floors to 0.50: rounding 0.0025.
    assert out["taker"]["balance_change"] == "0.500000"
    assert out["maker"]["trade_fee"] == "0.000000"


def test_the_series_multiplier_scales_the_fee() -> None:
    half = preview(
        Ticket("KX", "yes", "buy", Decimal(100), Decimal("0.50")), rules("quadratic", "0.5")
    )
    # 0.035 x 100 x 0.25 = 0.875
    assert half["taker"]["trade_fee"] == "0.875000"
