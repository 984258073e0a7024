"""The backtest engine charges Kalshi's fee model: trade fee ceiled to $0.0001, then the
rounding fee that keeps a member's balance on whole cents (shared.domain.fees).

On whole-cent notionals this equals the old per-fill cent ceiling (the engine's tests in
tests/unit/backtest keep their numbers); on subpenny prices it does not, and the engine
follows the model.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from shared.backtest.data import MarketInfo
from shared.backtest.engine import EngineConfig, run_backtest
from shared.domain.fees import CENTI_CENT, FeeModel, FeeSchedule
from tests.unit.backtest.scripted import Scripted, book


def test_subpenny_prices_pay_the_rounding_fee_not_a_cent_ceiling_of_the_fee() -> None:
    market = MarketInfo("KXS-1", series_ticker="KXS", result="yes")
    data = book([market], {"KXS-1": [(1, "0.0500", "0.0550"), (2, "0.0600", "0.0650")]})
    strategy = Scripted(yes_at=(1,), exit_at=(2,), contracts=1)
    row = run_backtest(data, strategy).trades.rows(data)[0]  # type: ignore[arg-type]
    # Buy 1 YES at 0.0550: trade fee 0.07 x 0.055 x 0.945 = 0.00363825 -> 0.0037;
    # balance -0.0550 - 0.0037 = -0.0587 -> floored to -0.06: charge 0.0050 (the old model
    # charged ceil(0.0037) = 0.01).
    # Sell at 0.0600: trade fee 0.07 x 0.06 x 0.94 = 0.003948 -> 0.0040; balance
    # +0.0600 - 0.0040 = 0.0560 -> 0.05: charge 0.0100. Fees 0.0150, P&L 0.005 - 0.015.
    assert Decimal(str(row["fees_dollars"])) == Decimal("0.015")
    assert Decimal(str(row["pnl_dollars"])) == Decimal("-0.01")
    direct = EngineConfig(fees=FeeModel(default=FeeSchedule(quantum=CENTI_CENT)))
    row = run_backtest(data, strategy, direct).trades.rows(data)[0]  # type: ignore[arg-type]
    # A direct member's balance keeps $0.0001: only the trade fees, 0.0037 + 0.0040.
    assert Decimal(str(row["fees_dollars"])) == Decimal("0.0077")


@given(
    st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10_000)), min_size=1, max_size=20),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["0.01", "0.0001", "0.000001"]),  # balance precisions at most a cent
)
def test_vectorised_charge_equals_the_accumulator(
    fills: list[tuple[int, int]], maker: bool, buying: bool, quantum: str
) -> None:
    schedule = FeeSchedule(quantum=Decimal(quantum))
    counts = np.array([c for c, _ in fills], dtype=np.int64)
    prices = np.array([p for _, p in fills], dtype=np.int64)
    vector = schedule.charge_micro_array(counts, prices, maker=maker, buying=buying)
    for i, (count, price) in enumerate(fills):
        assert int(vector[i]) == schedule.charge_micro(count, price, maker=maker, buying=buying)
        # never less than the trade fee, never a whole precision step more
        trade = FeeSchedule(quantum=CENTI_CENT).fee_micro(count, price, maker=maker)
        assert trade <= vector[i] < trade + int(Decimal(quantum) * 1_000_000)
