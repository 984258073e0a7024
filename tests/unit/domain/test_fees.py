"""Kalshi's fee: exact values, rounding up to the quantum, Decimal == integer paths."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.fees import CENT, CENTI_CENT, FeeModel, FeeSchedule, trading_fee


@pytest.mark.parametrize(
    ("contracts", "price", "rate", "quantum", "expected"),
    [
        # 0.07 * 1 * 0.52 * 0.48 = 0.017472 -> next cent
        ("1", "0.52", "0.07", CENT, "0.02"),
        # ... and Kalshi's own fill precision: next $0.0001 (the recorded fill says 0.0175)
        ("1", "0.52", "0.07", CENTI_CENT, "0.0175"),
        # exactly on a cent: no rounding up
        ("100", "0.50", "0.07", CENT, "1.75"),
        # 10 * 0.07 * 0.42 * 0.58 = 0.17052 -> 0.18
        ("10", "0.42", "0.07", CENT, "0.18"),
        # maker: 0.0175 * 0.25 = 0.004375 -> 0.01
        ("1", "0.50", "0.0175", CENT, "0.01"),
        # tiny fee still costs a whole cent
        ("1", "0.01", "0.07", CENT, "0.01"),
        # certain prices pay nothing
        ("5", "0", "0.07", CENT, "0.00"),
        ("5", "1", "0.07", CENT, "0.00"),
        # fractional counts
        ("0.50", "0.30", "0.07", CENTI_CENT, "0.0074"),
    ],
)
def test_trading_fee_known_values(
    contracts: str, price: str, rate: str, quantum: Decimal, expected: str
) -> None:
    fee = trading_fee(Decimal(contracts), Decimal(price), rate=Decimal(rate), quantum=quantum)
    assert fee == Decimal(expected)
    schedule = FeeSchedule(taker_rate=Decimal(rate), quantum=quantum)
    micro = schedule.fee_micro(int(Decimal(contracts) * 100), int(Decimal(price) * 10_000))
    assert Decimal(micro) / 1_000_000 == Decimal(expected)


def test_maker_rate_is_used_for_maker_fills() -> None:
    schedule = FeeSchedule()
    assert schedule.fee(Decimal(100), Decimal("0.50"), maker=True) == Decimal("0.44")
    assert schedule.fee(Decimal(100), Decimal("0.50"), maker=False) == Decimal("1.75")


@given(
    count_units=st.integers(min_value=1, max_value=10_000_000),
    price=st.integers(min_value=0, max_value=10_000),
    quantum=st.sampled_from([CENT, CENTI_CENT, Decimal("0.000001"), Decimal("0.1")]),
    rate=st.sampled_from([Decimal("0.07"), Decimal("0.0175"), Decimal("0.035"), Decimal("0.1")]),
)
def test_integer_fee_equals_decimal_fee(
    count_units: int, price: int, quantum: Decimal, rate: Decimal
) -> None:
    contracts = Decimal(count_units) / 100
    dollars = Decimal(price) / 10_000
    expected = trading_fee(contracts, dollars, rate=rate, quantum=quantum)
    schedule = FeeSchedule(taker_rate=rate, maker_rate=rate, quantum=quantum)
    micro = schedule.fee_micro(count_units, price)
    assert Decimal(micro) / 1_000_000 == expected
    arr = schedule.fee_micro_array(
        np.array([count_units], dtype=np.int64), np.array([price], dtype=np.int64), maker=False
    )
    assert int(arr[0]) == micro


def test_fee_model_per_series_override_and_parsing() -> None:
    model = FeeModel.from_json({"quantum": "0.0001", "series": {"KXHALF": {"taker_rate": "0.035"}}})
    assert model.for_series("KXOTHER").quantum == CENTI_CENT
    assert model.for_series("KXHALF").taker_rate == Decimal("0.035")
    assert model.for_series("KXHALF").quantum == CENTI_CENT  # inherits the default quantum
    with pytest.raises(ValueError, match="taker_rate"):
        FeeModel.from_json({"taker_rate": "abc"})
    with pytest.raises(ValueError, match="unknown"):
        FeeModel.from_json({"bogus": 1})
    with pytest.raises(ValueError, match="quantum"):
        FeeSchedule(quantum=Decimal("0.0000001"))
    with pytest.raises(ValueError, match="power of ten"):
        FeeSchedule(quantum=Decimal("0.05"))
