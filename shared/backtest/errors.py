"""Typed errors of the backtest package; the API maps each to a 4xx code."""

from __future__ import annotations

__all__ = [
    "BacktestError",
    "BacktestNotFound",
    "InvalidBacktestRequest",
    "LookAheadError",
    "StrategyError",
]


class BacktestError(Exception):
    """Base class: every error here carries a stable machine-readable ``code``."""

    code = "backtest_error"


class InvalidBacktestRequest(BacktestError):
    """The request cannot run: unknown strategy, bad parameter, empty range..."""

    code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class BacktestNotFound(BacktestError):
    code = "not_found"


class StrategyError(BacktestError):
    """The strategy itself misbehaved (wrong array shapes, an exception in its code)."""

    code = "strategy_error"


class LookAheadError(StrategyError):
    """The strategy used information from after its decision time."""

    code = "look_ahead"
