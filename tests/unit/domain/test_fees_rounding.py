"""Kalshi's per-fill charge: trade fee model, rounding fee, per-order accumulator and rebate.

Every worked example of Kalshi's fee-rounding guide is reproduced row by row (the examples
take the trade fee as given), plus the fee model's rates, overrides and scheduled changes.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.fees import (
    DIRECT_MEMBER_PRECISION_MICRO,
    MAKER_RATE,
    TAKER_RATE,
    FeeAccumulator,
    FeeChange,
    SeriesFees,
    fill_charge_micro,
    rates_for,
    trade_fee_micro,
    trading_fee,
)


def micro(dollars: str) -> int:
    return int(Decimal(dollars) * 1_000_000)


# (revenue, trade fee) of every fill, then per fill: rounding, accumulator, rebate, net fee,
# balance change, exactly the guide's tables.
EXAMPLES = {
    "subpenny 3 x 1 @ 0.055": (
        "-0.0550",
        "0.0085",
        [
            ("0.0065", "0.0065", "0", "0.0150", "-0.07"),
            ("0.0065", "0.0130", "0.01", "0.0050", "-0.07"),
            ("0.0065", "0.0095", "0", "0.0150", "-0.07"),
        ],
    ),
    "fractional 3 x 0.30 @ 0.50": (
        "-0.1500",
        "0.0041",
        [
            ("0.0059", "0.0059", "0", "0.0100", "-0.16"),
            ("0.0059", "0.0118", "0.01", "0.0000", "-0.16"),
            ("0.0059", "0.0077", "0", "0.0100", "-0.16"),
        ],
    ),
    "combined 3 x 0.03 @ 0.3301": (
        "-0.009903",
        "0.0005",
        [
            ("0.009597", "0.009597", "0", "0.010097", "-0.02"),
            ("0.009597", "0.019194", "0.01", "0.000097", "-0.02"),
            ("0.009597", "0.018791", "0.01", "0.000097", "-0.02"),
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_worked_examples_of_the_fee_rounding_guide(name: str) -> None:
    revenue, trade_fee, rows = EXAMPLES[name]
    accumulator = FeeAccumulator()
    for rounding, accumulated, rebate, net, change in rows:
        charge = accumulator.charge(micro(revenue), micro(trade_fee))
        assert charge.trade_fee == micro(trade_fee)
        assert charge.rounding_fee == micro(rounding)
        assert charge.accumulator == micro(accumulated)
        assert charge.rebate == micro(rebate)
        assert charge.net_fee == micro(net)
        assert charge.balance_change == micro(change)
        # what actually leaves the balance: revenue minus the net fee
        assert charge.balance_delta == micro(revenue) - charge.net_fee


def test_trade_fee_is_ceiled_to_a_centi_cent() -> None:
    # The guide's examples take the trade fee as given (they are not the plain 0.07 model);
    # the model's own rounding is checked on the recorded fills:
    assert trade_fee_micro(100, 5200, TAKER_RATE) == micro("0.0175")  # fills__after_taker
    assert trade_fee_micro(100, 9900, TAKER_RATE) == micro("0.0007")  # 0.000693 -> 0.0007
    assert trade_fee_micro(3, 3301, TAKER_RATE) == micro("0.0005")  # 0.0004645... -> 0.0005


def test_direct_members_round_to_a_centi_cent() -> None:
    # buy 1 @ 0.52: revenue -0.52, trade fee 0.0175 -> -0.5375 already on the grid
    charge = fill_charge_micro(micro("-0.52"), micro("0.0175"), DIRECT_MEMBER_PRECISION_MICRO)
    assert charge.rounding_fee == 0
    assert charge.balance_delta == micro("-0.5375")
    # the same fill for a member: floored to -0.54, rounding 0.0025
    member = fill_charge_micro(micro("-0.52"), micro("0.0175"))
    assert (member.rounding_fee, member.balance_delta) == (micro("0.0025"), micro("-0.54"))


def test_a_seller_is_floored_too() -> None:
    # sell 1 @ 0.52: revenue +0.52 - 0.0175 = 0.5025 -> 0.50 credited, rounding 0.0025
    charge = fill_charge_micro(micro("0.52"), micro("0.0175"))
    assert (charge.rounding_fee, charge.balance_delta) == (micro("0.0025"), micro("0.50"))


def test_a_rebate_never_makes_a_fill_net_negative() -> None:
    acc = FeeAccumulator()
    acc.charge(micro("-0.0001"), 0)  # rounding 0.0099
    held = acc.charge(micro("-0.0098"), 0)  # rounding 0.0002 -> accumulated 0.0101
    assert held.rebate == 0 and held.net_fee >= 0
    # -0.0100 - 0.0020 = -0.0120 -> -0.02: rounding 0.0080, with the fee 0.0100: now it pays
    paid = acc.charge(micro("-0.0100"), micro("0.0020"))
    assert paid.rebate == micro("0.01") and paid.net_fee == 0


@given(
    st.lists(st.tuples(st.integers(1, 10_000), st.integers(0, 10_000)), min_size=1, max_size=30),
    st.booleans(),
)
def test_balance_stays_on_the_precision_grid_and_net_fee_non_negative(
    fills: list[tuple[int, int]], direct: bool
) -> None:
    precision = DIRECT_MEMBER_PRECISION_MICRO if direct else 10_000
    acc = FeeAccumulator(precision)
    total_rebates = 0
    for count, price in fills:
        revenue = -count * price  # micro-dollars: hundredths x centi-cents
        fee = trade_fee_micro(count, price, TAKER_RATE)
        charge = acc.charge(revenue, fee)
        assert charge.balance_delta % precision == 0
        assert charge.net_fee >= 0
        assert 0 <= charge.rounding_fee < precision
        total_rebates += charge.rebate
    assert acc.accumulated_micro >= 0


@given(st.integers(0, 10**7), st.integers(0, 10_000))
def test_integer_trade_fee_equals_the_decimal_one(count: int, price: int) -> None:
    expected = trading_fee(Decimal(count) / 100, Decimal(price) / 10_000, quantum=Decimal("0.0001"))
    assert trade_fee_micro(count, price, TAKER_RATE) == int(expected * 1_000_000)


def test_fee_types_and_multipliers() -> None:
    assert rates_for("quadratic") == (TAKER_RATE, Decimal(0))
    assert rates_for("quadratic_with_maker_fees") == (TAKER_RATE, MAKER_RATE)
    assert rates_for("quadratic_with_combo_maker_fees") == (TAKER_RATE, Decimal("0.035"))
    assert rates_for("quadratic", "0.5") == (Decimal("0.035"), Decimal(0))
    with pytest.raises(ValueError, match="fee_type"):
        rates_for("percent")
    with pytest.raises(ValueError, match="multiplier"):
        rates_for("quadratic", "-1")
    # flat: P x (1 - P) at its maximum whatever the price
    assert trade_fee_micro(100, 100, TAKER_RATE, fee_type="flat") == micro("0.0175")


def test_series_fees_honour_scheduled_changes_and_event_overrides() -> None:
    fees = SeriesFees(
        "quadratic",
        Decimal(1),
        (
            FeeChange("c1", "KXS", "quadratic_with_maker_fees", Decimal(2), 2_000),
            FeeChange("c0", "KXS", "quadratic", Decimal("0.5"), 1_000),
        ),
    )
    assert fees.structure_at(999) == ("quadratic", Decimal(1))
    assert fees.structure_at(1_000) == ("quadratic", Decimal("0.5"))
    assert fees.structure_at(5_000) == ("quadratic_with_maker_fees", Decimal(2))
    # before the changes: 1 @ 0.52 taker 0.0175, maker free
    assert fees.trade_fee_micro(100, 5200, maker=False, ts_us=0) == micro("0.0175")
    assert fees.trade_fee_micro(100, 5200, maker=True, ts_us=0) == 0
    # after: taker 0.14 x 0.2496 = 0.034944 -> 0.0350; maker 0.035 x 0.2496 = 0.008736 -> 0.0088
    assert fees.trade_fee_micro(100, 5200, maker=False, ts_us=9_000) == micro("0.0350")
    assert fees.trade_fee_micro(100, 5200, maker=True, ts_us=9_000) == micro("0.0088")
    # an event override wins over the series
    assert (
        fees.trade_fee_micro(
            100, 5200, maker=False, ts_us=9_000, fee_multiplier_override=Decimal(0)
        )
        == 0
    )
