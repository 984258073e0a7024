"""Favourite-longshot bias: near the close, favourites tend to be underpriced."""

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
    params_object,
    side_name,
)
from shared.domain.units import PRICE_SCALE


class FavouriteLongshot(Strategy):
    """Within ``window_minutes`` of a market's scheduled close, buy the favourite (the side
    whose ask lies in ``[min_price, max_price]``) and hold it to settlement."""

    name = "favourite_longshot"
    version = "1.0.0"
    description = (
        "Near the close, buy the favourite (ask between `min_price` and `max_price`) and "
        "hold to settlement; longshots are overpriced, favourites cheap."
    )
    params_schema: ClassVar[dict[str, Any]] = params_object(
        {
            "window_minutes": {
                "type": "number",
                "minimum": 1,
                "maximum": 10_080,
                "default": 60,
                "description": "Only enter this many minutes or fewer before the close.",
            },
            "min_price": {
                "type": "number",
                "minimum": 0.5,
                "maximum": 0.99,
                "default": 0.85,
                "description": "Lowest ask of the favourite worth buying, dollars.",
            },
            "max_price": {
                "type": "number",
                "minimum": 0.5,
                "maximum": 0.99,
                "default": 0.97,
                "description": "Highest ask of the favourite worth buying, dollars.",
            },
            "contracts": CONTRACTS,
        }
    )

    def signals(self, view: StrategyView) -> Signals:
        lo = dollars_to_ticks(float(self.params["min_price"]))
        hi = dollars_to_ticks(float(self.params["max_price"]))
        window = float(self.params["window_minutes"]) * 60.0
        to_close = view.seconds_to_close()
        near = (to_close > 0) & (to_close <= window)
        yes_ask = view.yes_ask
        no_ask = no_ask_ticks(view.yes_bid)
        entry = np.zeros(view.n_rows, dtype=np.int8)
        entry[near & (yes_ask >= lo) & (yes_ask <= hi)] = ENTER_YES
        entry[near & (no_ask >= lo) & (no_ask <= hi)] = ENTER_NO
        return Signals(entry=entry, entry_reason="favourite near close")

    def describe_entry(self, view: StrategyView, row: int, side: int) -> str:
        minutes = view.seconds_to_close()[row] / 60
        price = view.yes_ask[row] if side == ENTER_YES else PRICE_SCALE - view.yes_bid[row]
        return (
            f"{side_name(side)} favourite at {price / PRICE_SCALE:.4f}, "
            f"{minutes:.0f} min before close"
        )
