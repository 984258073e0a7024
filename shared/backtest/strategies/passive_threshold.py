"""A passive threshold strategy: rest a cheap bid and wait for sellers to come down to it."""

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
    dollars_to_ticks,
    no_ask_ticks,
    optional_dollars,
    params_object,
)


class PassiveThreshold(Strategy):
    """Rest a limit buy on ``side`` at ``limit_price`` while the ask is above it; it fills as
    a maker (maker fee) when a later ask comes down to the limit. Hold to settlement unless
    ``take_profit`` is set."""

    name = "passive_threshold"
    version = "1.0.0"
    description = (
        "Post a resting buy at `limit_price` on `side`; fills as maker when the ask falls "
        "to it; optional take-profit, else held to settlement."
    )
    params_schema: ClassVar[dict[str, Any]] = params_object(
        {
            "side": {
                "type": "string",
                "enum": ["yes", "no"],
                "default": "yes",
                "description": "Which side to bid for.",
            },
            "limit_price": {
                "type": "number",
                "minimum": 0.01,
                "maximum": 0.99,
                "default": 0.30,
                "description": "Price of the resting bid, dollars.",
            },
            "order_ttl_minutes": {
                "type": "number",
                "minimum": 1,
                "maximum": 525_600,
                "default": 60,
                "description": "A resting bid that has not filled is cancelled after this long.",
            },
            "take_profit": optional_dollars("Sell at the bid once it gains this much ($).", None),
            "contracts": CONTRACTS,
        }
    )

    def signals(self, view: StrategyView) -> Signals:
        limit = dollars_to_ticks(float(self.params["limit_price"]))
        side = ENTER_YES if self.params["side"] == "yes" else ENTER_NO
        ask = view.yes_ask if side == ENTER_YES else no_ask_ticks(view.yes_bid)
        # Post only while the order would rest (ask above the limit); a crossing ask would
        # make it a taker order, which this strategy avoids by design.
        entry = np.where(ask > limit, side, 0).astype(np.int8)
        limits = np.full(view.n_rows, limit, dtype=np.int32)
        return Signals(entry=entry, limit_ticks=limits, entry_reason="passive bid filled")

    def describe_entry(self, view: StrategyView, row: int, side: int) -> str:
        return (
            f"resting {self.params['side'].upper()} bid at {self.params['limit_price']:.4f} "
            "filled as maker"
        )
