"""Performance metrics of one backtest, from its trades and its equity series.

Definitions (docs/decisions/0063-backtest-metrics.md has the reasoning):

* Money is integer micro-dollars until rendered as 6-dp strings.
* The equity series is the cumulative P&L (realised plus positions marked at their bid) at
  the end of each sampling interval; the interval is the median spacing between consecutive
  snapshots of a market ("the actual sampling interval").
* Period return = change of P&L over one interval / capital. Sharpe = mean / sample std
  (ddof=1) x sqrt(periods per year); Sortino = mean / downside deviation (root mean square of
  the negative returns over all periods, target 0) x sqrt(periods per year). A year is
  365.25 days: Kalshi trades every day. Both are withheld (null, ``ratios_withheld`` says
  why) when the window is shorter than 30 days or 30 intervals.
* Max drawdown: largest fall of P&L from a running peak (starting at 0), in dollars; its
  duration (of that same drawdown, not the longest spell under water) runs from the peak to
  the first interval back at or above it (or to the last interval when it never recovers).
* Win rate: share of trades with positive net P&L. Profit factor: gross gains / gross losses
  (null when nothing was lost). Exposure: share of the window's time with at least one open
  position. Capital: the configured capital, else the peak cost (with entry fees) of the
  positions open at the same time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.domain.units import MICRO_PER_DOLLAR, format_micros

__all__ = [
    "MIN_ANNUALISED_PERIODS",
    "MIN_ANNUALISED_WINDOW_S",
    "SECONDS_PER_YEAR",
    "Drawdown",
    "Metrics",
    "annualisation_withheld",
    "compute_metrics",
    "max_drawdown",
    "sharpe_ratio",
    "sortino_ratio",
]

SECONDS_PER_YEAR = 365.25 * 86_400
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


def sharpe_ratio(returns: F64, periods_per_year: float) -> float | None:
    """Annualised Sharpe of per-period ``returns`` (risk-free 0); None when undefined."""
    if len(returns) < 2:
        return None
    std = float(np.std(returns, ddof=1))
    if std == 0.0 or not math.isfinite(std):
        return None
    return float(np.mean(returns)) / std * math.sqrt(periods_per_year)


def sortino_ratio(returns: F64, periods_per_year: float) -> float | None:
    """Annualised Sortino (target 0); None when there is no downside at all."""
    if len(returns) < 1:
        return None
    downside = np.minimum(returns, 0.0)
    dd = math.sqrt(float(np.mean(downside * downside)))
    if dd == 0.0:
        return None
    return float(np.mean(returns)) / dd * math.sqrt(periods_per_year)


MIN_ANNUALISED_WINDOW_S = 30 * 86_400.0
"""Shortest window whose Sharpe/Sortino are annualised (and reported): 30 days."""
MIN_ANNUALISED_PERIODS = 30
"""Fewest sampling intervals whose mean and deviation are worth annualising."""


def annualisation_withheld(periods: int, interval_s: float) -> str | None:
    """Why a window of ``periods`` intervals of ``interval_s`` cannot support annualised
    ratios, or None when it can.

    Annualising multiplies the per-interval ratio by sqrt(periods per year): over five
    minutes of 5-second data that factor is ~2,500, so a few noisy ticks read as a Sharpe
    of -1,400. A ratio is only annualised (and reported) when the window spans at least
    :data:`MIN_ANNUALISED_WINDOW_S` and :data:`MIN_ANNUALISED_PERIODS` intervals.
    """
    window = periods * interval_s
    if periods < MIN_ANNUALISED_PERIODS:
        return (
            f"{periods} sampling intervals; annualised ratios need at least "
            f"{MIN_ANNUALISED_PERIODS}"
        )
    if window < MIN_ANNUALISED_WINDOW_S:
        return (
            f"the window covers {window / 86_400:.2f} days; annualised ratios need at "
            f"least {MIN_ANNUALISED_WINDOW_S / 86_400:.0f} days of data"
        )
    return None


@dataclass(frozen=True)
class Drawdown:
    amount_micro: int
    duration_periods: int
    peak_index: int  # index into the series including the leading zero; -1 when none


def max_drawdown(pnl_micro: I64) -> Drawdown:
    """The largest peak-to-trough fall of ``[0, *pnl_micro]`` and how long it lasted.

    ``duration_periods`` belongs to that same drawdown (ADR 0063): the intervals from its
    peak to the first interval back at (or above) the peak, or to the series' end when it
    never recovers. A longer but shallower spell under water elsewhere does not count:
    amount and duration describe one episode, so they can be read together.
    """
    series = np.concatenate(([0], np.asarray(pnl_micro, dtype=np.int64)))
    peaks = np.maximum.accumulate(series)
    under = peaks - series
    amount = int(under.max()) if len(under) else 0
    if amount == 0:
        return Drawdown(0, 0, -1)
    trough = int(np.argmax(under))  # the first trough of the deepest fall
    level = int(peaks[trough])
    peak = int(np.flatnonzero(series[: trough + 1] == level)[-1])
    recovered = np.flatnonzero(series[trough:] >= level)
    end = trough + int(recovered[0]) if len(recovered) else len(series) - 1
    return Drawdown(amount, end - peak, peak)


@dataclass(frozen=True)
class Metrics:
    total_pnl_micro: int
    gross_pnl_micro: int
    fees_micro: int
    capital_micro: int
    return_on_capital: float | None
    sharpe: float | None
    sortino: float | None
    max_drawdown_micro: int
    max_drawdown_duration_s: float
    win_rate: float | None
    profit_factor: float | None
    trades: int
    exposure: float
    sampling_interval_s: float
    periods: int
    ratios_withheld: str | None = None
    """Why ``sharpe``/``sortino`` are null although they could be computed, else None."""

    def to_json(self) -> dict[str, Any]:
        return {
            "total_pnl_dollars": format_micros(self.total_pnl_micro),
            "gross_pnl_dollars": format_micros(self.gross_pnl_micro),
            "fees_paid_dollars": format_micros(self.fees_micro),
            "capital_dollars": format_micros(self.capital_micro),
            "return_on_capital": self.return_on_capital,
            "sharpe": self.sharpe,
            "sortino": self.sortino,
            "max_drawdown_dollars": format_micros(self.max_drawdown_micro),
            "max_drawdown_duration_seconds": self.max_drawdown_duration_s,
            "win_rate": self.win_rate,
            "profit_factor": self.profit_factor,
            "trades": self.trades,
            "exposure": self.exposure,
            "sampling_interval_seconds": self.sampling_interval_s,
            "periods": self.periods,
            "ratios_withheld": self.ratios_withheld,
        }

    def value(self, name: str) -> float | None:
        """A metric as a float, for ranking sweeps (money in dollars)."""
        raw = {
            "total_pnl": self.total_pnl_micro / MICRO_PER_DOLLAR,
            "fees_paid": self.fees_micro / MICRO_PER_DOLLAR,
            "max_drawdown": self.max_drawdown_micro / MICRO_PER_DOLLAR,
            "max_drawdown_duration": self.max_drawdown_duration_s,
            "return_on_capital": self.return_on_capital,
            "sharpe": self.sharpe,
            "sortino": self.sortino,
            "win_rate": self.win_rate,
            "profit_factor": self.profit_factor,
            "trades": float(self.trades),
            "exposure": self.exposure,
        }
        if name not in raw:
            raise KeyError(name)
        return raw[name]


RANKABLE = (
    "total_pnl",
    "return_on_capital",
    "sharpe",
    "sortino",
    "max_drawdown",
    "max_drawdown_duration",
    "win_rate",
    "profit_factor",
    "trades",
    "exposure",
    "fees_paid",
)
LOWER_IS_BETTER = frozenset({"max_drawdown", "max_drawdown_duration", "fees_paid"})


def compute_metrics(
    *,
    trade_pnl_micro: I64,
    trade_fees_micro: I64,
    pnl_series_micro: I64,
    interval_s: float,
    capital_micro: int,
    exposure: float,
) -> Metrics:
    """All metrics from per-trade P&L/fees and the per-interval cumulative P&L."""
    total = int(trade_pnl_micro.sum()) if len(trade_pnl_micro) else 0
    fees = int(trade_fees_micro.sum()) if len(trade_fees_micro) else 0
    periods_per_year = SECONDS_PER_YEAR / interval_s if interval_s > 0 else 0.0
    sharpe = sortino = None
    withheld = annualisation_withheld(len(pnl_series_micro), interval_s)
    if withheld is None and capital_micro > 0 and len(pnl_series_micro):
        steps = np.diff(np.concatenate(([0], pnl_series_micro))).astype(np.float64)
        returns = steps / float(capital_micro)
        sharpe = sharpe_ratio(returns, periods_per_year)
        sortino = sortino_ratio(returns, periods_per_year)
    dd = max_drawdown(pnl_series_micro)
    wins = trade_pnl_micro[trade_pnl_micro > 0]
    losses = trade_pnl_micro[trade_pnl_micro < 0]
    n = len(trade_pnl_micro)
    return Metrics(
        total_pnl_micro=total,
        gross_pnl_micro=total + fees,
        fees_micro=fees,
        capital_micro=capital_micro,
        return_on_capital=(total / capital_micro) if capital_micro > 0 else None,
        sharpe=sharpe,
        sortino=sortino,
        max_drawdown_micro=dd.amount_micro,
        max_drawdown_duration_s=dd.duration_periods * interval_s,
        win_rate=(len(wins) / n) if n else None,
        profit_factor=(int(wins.sum()) / -int(losses.sum())) if len(losses) else None,
        trades=n,
        exposure=exposure,
        sampling_interval_s=interval_s,
        periods=len(pnl_series_micro),
        ratios_withheld=withheld,
    )
