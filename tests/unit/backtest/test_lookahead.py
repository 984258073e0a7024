"""No look-ahead: outcomes are hidden, and a strategy that reads the future fails the run."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from shared.backtest.engine import EngineConfig, run_backtest
from shared.backtest.errors import LookAheadError, StrategyError
from shared.backtest.strategies import ENTER_YES, Signals, Strategy, StrategyView, available, create
from tests.unit.backtest.synthetic import random_walk_set


class PeeksAtNextMid(Strategy):
    """Buys YES when the *next* snapshot's mid is higher: a classic shift(-1) bug."""

    name = "peeks_next"
    version = "0"
    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def signals(self, view: StrategyView) -> Signals:
        mid = view.mid()
        upcoming = np.roll(mid, -1)
        entry = np.where(upcoming > mid, ENTER_YES, 0).astype(np.int8)
        return Signals(entry=entry)


class UsesFinalPrice(Strategy):
    """Buys when the price is below the market's *last* mid: a whole-series statistic."""

    name = "uses_final"
    version = "0"
    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def signals(self, view: StrategyView) -> Signals:
        mid = view.mid()
        last = mid[view.seg_end - 1][view.market]
        return Signals(entry=np.where(mid < last, ENTER_YES, 0).astype(np.int8))


class ReadsResult(Strategy):
    name = "reads_result"
    version = "0"
    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def signals(self, view: StrategyView) -> Signals:
        winners = view.result  # the outcome is not part of the view
        return Signals(entry=np.asarray(winners, dtype=np.int8))


class NegativeLag(Strategy):
    name = "negative_lag"
    version = "0"
    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}}

    def signals(self, view: StrategyView) -> Signals:
        view.lag(view.mid(), -1)
        return Signals(entry=np.zeros(view.n_rows, dtype=np.int8))


@pytest.fixture(scope="module")
def data() -> Any:
    return random_walk_set(20, 200, seed=3)


@pytest.mark.parametrize("strategy", [PeeksAtNextMid(), UsesFinalPrice()])
def test_reading_later_snapshots_fails_the_run_with_a_clear_error(
    data: Any, strategy: Strategy
) -> None:
    with pytest.raises(LookAheadError) as caught:
        run_backtest(data, strategy)
    message = str(caught.value)
    assert "looks ahead" in message
    assert strategy.name in message
    assert "snapshot" in message and "KXTEST-" in message


def test_reading_the_outcome_fails_with_a_clear_error(data: Any) -> None:
    with pytest.raises(LookAheadError, match="outcomes are unknown"):
        run_backtest(data, ReadsResult())


def test_negative_lag_is_refused(data: Any) -> None:
    with pytest.raises(LookAheadError, match="lag"):
        run_backtest(data, NegativeLag(), EngineConfig(lookahead_audit=False))


def test_view_prices_are_read_only(data: Any) -> None:
    view = StrategyView(data)
    with pytest.raises(ValueError):
        view.yes_ask[0] = 1


@pytest.mark.parametrize("name", [cls.name for cls in available()])
def test_every_builtin_passes_the_audit(data: Any, name: str) -> None:
    run_backtest(data, create(name), EngineConfig(lookahead_audit=True))


def test_a_crashing_strategy_is_a_strategy_error(data: Any) -> None:
    class Broken(PeeksAtNextMid):
        name = "broken"

        def signals(self, view: StrategyView) -> Signals:
            raise ZeroDivisionError("oops")

    with pytest.raises(StrategyError, match=r"broken.*ZeroDivisionError: oops"):
        run_backtest(data, Broken())
