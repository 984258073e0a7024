"""Strategies: the base class, the registry and the built-ins.

Add your own: subclass :class:`Strategy`, decorate it with :func:`register` and import the
module before running (``KALSHI_STRATEGY_MODULES`` lists modules the API, worker and CLI
import at start-up). See docs/strategies.md.
"""

from shared.backtest.strategies.base import (
    ENTER_NO,
    ENTER_YES,
    ExitRules,
    Signals,
    Strategy,
    StrategyView,
)
from shared.backtest.strategies.registry import available, create, get, register, unregister

__all__ = [
    "ENTER_NO",
    "ENTER_YES",
    "ExitRules",
    "Signals",
    "Strategy",
    "StrategyView",
    "available",
    "create",
    "get",
    "register",
    "unregister",
]
