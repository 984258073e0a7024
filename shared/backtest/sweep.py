"""Parameter sweeps: expand a grid, run every variant on the same data, rank the results."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.backtest.data import SnapshotSet
from shared.backtest.engine import BacktestResult, EngineConfig, run_backtest
from shared.backtest.errors import InvalidBacktestRequest
from shared.backtest.metrics import LOWER_IS_BETTER, RANKABLE
from shared.backtest.strategies.base import Strategy, StrategyView, validate_params

__all__ = ["MAX_VARIANTS", "SweepResult", "expand_grid", "rank", "run_sweep"]

MAX_VARIANTS = 64
DEFAULT_RANK_BY = "sharpe"


def expand_grid(
    strategy_cls: type[Strategy],
    params: Mapping[str, Any] | None,
    grid: Mapping[str, Sequence[Any]] | None,
) -> list[dict[str, Any]]:
    """Every combination of ``grid`` values over ``params`` (validated, defaults applied).

    Without a grid the result is the single validated parameter set. Raises
    :class:`InvalidBacktestRequest` for unknown names, empty lists, out-of-range values or
    more than :data:`MAX_VARIANTS` combinations.
    """
    schema = strategy_cls.params_schema
    base = dict(params or {})
    if not grid:
        return [validate_params(schema, base)]
    if not isinstance(grid, Mapping):
        raise InvalidBacktestRequest("grid must be an object of parameter -> list of values")
    known = schema.get("properties", {})
    names = sorted(grid)
    total = 1
    for name in names:
        if name not in known:
            raise InvalidBacktestRequest(f"grid: unknown parameter {name!r}", code="invalid_params")
        values = grid[name]
        if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
            raise InvalidBacktestRequest(
                f"grid.{name} must be a non-empty list of values", code="invalid_params"
            )
        total *= len(values)
    if total > MAX_VARIANTS:
        raise InvalidBacktestRequest(
            f"grid has {total} combinations; at most {MAX_VARIANTS} are allowed",
            code="too_large",
        )
    variants = []
    for combo in itertools.product(*(grid[name] for name in names)):
        candidate = {**base, **dict(zip(names, combo, strict=True))}
        variants.append(validate_params(schema, candidate))
    return variants


def rank(results: Sequence[BacktestResult], metric: str) -> list[int]:
    """Variant indices, best first; variants whose metric is undefined come last."""
    if metric not in RANKABLE:
        raise InvalidBacktestRequest(
            f"rank_by must be one of {', '.join(RANKABLE)}", code="invalid_rank_by"
        )
    lower = metric in LOWER_IS_BETTER

    def key(index: int) -> tuple[int, float, int]:
        value = results[index].metrics.value(metric)
        if value is None:
            return (1, 0.0, index)
        return (0, value if lower else -value, index)

    return sorted(range(len(results)), key=key)


@dataclass(frozen=True)
class SweepResult:
    variants: list[BacktestResult]
    ranking: list[int]
    rank_by: str

    @property
    def best(self) -> BacktestResult:
        return self.variants[self.ranking[0]]

    def summary(self) -> list[dict[str, Any]]:
        """One entry per variant in rank order: index, rank, params, metrics."""
        return [
            {
                "variant": index,
                "rank": position + 1,
                "params": self.variants[index].params,
                "metrics": self.variants[index].metrics.to_json(),
            }
            for position, index in enumerate(self.ranking)
        ]


def run_sweep(
    data: SnapshotSet,
    strategy_cls: type[Strategy],
    param_sets: Sequence[Mapping[str, Any]],
    config: EngineConfig | None = None,
    *,
    rank_by: str = DEFAULT_RANK_BY,
    progress: Callable[[float], None] | None = None,
) -> SweepResult:
    """Run each parameter set over the same data (one shared view) and rank the results."""
    if rank_by not in RANKABLE:
        rank([], rank_by)  # raises the standard error
    view = StrategyView(data)
    results: list[BacktestResult] = []
    total = len(param_sets)
    for index, params in enumerate(param_sets):

        def scaled(fraction: float, index: int = index) -> None:
            if progress is not None:
                progress((index + fraction) / total)

        results.append(run_backtest(data, strategy_cls(params), config, view=view, progress=scaled))
    return SweepResult(variants=results, ranking=rank(results, rank_by), rank_by=rank_by)
