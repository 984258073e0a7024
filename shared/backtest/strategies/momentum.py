"""Momentum: follow a sustained move, leave when it turns."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from shared.backtest.strategies.base import (
    CONTRACTS,
    ENTER_NO,
    ENTER_YES,
    Signals,
    Strategy,
    StrategyView,
    lookback,
    mid_move,
    optional_dollars,
    optional_minutes,
    params_object,
    side_name,
)


class Momentum(Strategy):
    """Buy YES when the mid rose by at least ``threshold`` over ``lookback`` snapshots (NO when
    it fell); close when the move over the same window reverses by ``exit_threshold``."""

    name = "momentum"
    version = "1.0.0"
    description = (
        "Follow the trend: YES after the mid rises by `threshold` over `lookback` snapshots, "
        "NO after it falls; exit when the move reverses by `exit_threshold`."
    )
    params_schema: ClassVar[dict[str, Any]] = params_object(
        {
            "lookback": lookback(10),
            "threshold": {
                "type": "number",
                "minimum": 0.005,
                "maximum": 0.9,
                "default": 0.05,
                "description": "Minimum move of the mid-price to enter, in dollars.",
            },
            "exit_threshold": {
                "type": "number",
                "minimum": 0.0,
                "maximum": 0.9,
                "default": 0.02,
                "description": "Reverse move (same window) that closes the position, dollars.",
            },
            "stop_loss": optional_dollars("Close when the bid loses this much ($).", None),
            "max_hold_minutes": optional_minutes(
                "Close after holding this long (null: no limit).", None
            ),
            "contracts": CONTRACTS,
        }
    )

    def signals(self, view: StrategyView) -> Signals:
        k = int(self.params["lookback"])
        move = view.change(view.mid(), k)
        enter, leave = float(self.params["threshold"]), float(self.params["exit_threshold"])
        entry = np.zeros(view.n_rows, dtype=np.int8)
        with np.errstate(invalid="ignore"):
            entry[move >= enter] = ENTER_YES
            entry[move <= -enter] = ENTER_NO
            exit_yes = move <= -leave
            exit_no = move >= leave
        return Signals(
            entry=entry,
            exit_yes=exit_yes,
            exit_no=exit_no,
            entry_reason=f"momentum over {k} snapshots",
            exit_reason="momentum reversed",
        )

    def describe_entry(self, view: StrategyView, row: int, side: int) -> str:
        k = int(self.params["lookback"])
        move = mid_move(view, row, k)
        return f"mid moved {move:+.4f} over {k} snapshots; following with {side_name(side)}"
