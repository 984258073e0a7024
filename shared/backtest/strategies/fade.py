"""Fade large moves: bet that a sharp move over a few snapshots partly reverts."""

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


class FadeLargeMoves(Strategy):
    """When the mid-price moved by at least ``threshold`` over the last ``lookback`` snapshots,
    take the other side: buy NO after a jump up, YES after a drop. Exits by take-profit,
    stop-loss, a maximum holding time, or settlement."""

    name = "fade_large_moves"
    version = "1.0.0"
    description = (
        "Buy against a sharp move: NO after the mid rises by at least `threshold` over "
        "`lookback` snapshots, YES after it falls as much."
    )
    params_schema: ClassVar[dict[str, Any]] = params_object(
        {
            "lookback": lookback(5),
            "threshold": {
                "type": "number",
                "minimum": 0.01,
                "maximum": 0.9,
                "default": 0.10,
                "description": "Minimum absolute move of the mid-price, in dollars.",
            },
            "take_profit": optional_dollars("Close when the bid gains this much ($).", 0.05),
            "stop_loss": optional_dollars("Close when the bid loses this much ($).", 0.10),
            "max_hold_minutes": optional_minutes(
                "Close after holding this long (null: hold to settlement).", 240
            ),
            "contracts": CONTRACTS,
        }
    )

    def signals(self, view: StrategyView) -> Signals:
        move = view.change(view.mid(), int(self.params["lookback"]))
        threshold = float(self.params["threshold"])
        entry = np.zeros(view.n_rows, dtype=np.int8)
        with np.errstate(invalid="ignore"):
            entry[move >= threshold] = ENTER_NO
            entry[move <= -threshold] = ENTER_YES
        return Signals(entry=entry, entry_reason=f"fade: |move over {self.params['lookback']}|")

    def describe_entry(self, view: StrategyView, row: int, side: int) -> str:
        k = int(self.params["lookback"])
        move = mid_move(view, row, k)
        return f"mid moved {move:+.4f} over {k} snapshots; fading with {side_name(side)}"
