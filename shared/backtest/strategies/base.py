"""What a strategy is: a class that turns a causal view of prices into entry/exit signals.

A strategy never loops over snapshots in Python. It receives a :class:`StrategyView` (every
market's prices, time-ordered, as numpy arrays) and returns :class:`Signals`: for each
snapshot, whether to buy YES or NO there, and whether to close an open position. The engine
then walks the positions, fills at the quoted side, charges fees and settles.

The one rule: a decision at a snapshot may depend only on that snapshot and earlier ones of
the same market (and on facts known in advance, like the scheduled close time). The view
offers causal helpers (:meth:`StrategyView.lag`, :meth:`StrategyView.change`) and never holds
the settlement result; the engine re-runs the strategy on truncated data and fails the run
with :class:`~shared.backtest.errors.LookAheadError` when earlier decisions change. See
docs/strategies.md for a worked example.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, overload

import numpy as np
import numpy.typing as npt

from shared.backtest.data import MISSING, SnapshotSet
from shared.backtest.errors import InvalidBacktestRequest, LookAheadError
from shared.domain.prices import mid_price_ticks
from shared.domain.units import PRICE_SCALE

__all__ = [
    "ENTER_NO",
    "ENTER_YES",
    "ExitRules",
    "Signals",
    "Strategy",
    "StrategyView",
    "validate_params",
]

ENTER_YES = 1
ENTER_NO = -1
F64 = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

_HIDDEN = ("result", "settlement", "settlements", "settled_at", "outcome", "settle_ts")


class StrategyView:
    """Read-only prices of the markets being replayed, without their outcomes.

    Arrays are per snapshot row (grouped by market, time-ordered within a market):
    ``market`` (index), ``ts`` (µs since the epoch), ``yes_bid``/``yes_ask`` (ticks of
    $0.0001, -1 when missing), and per market ``tickers``, ``series`` and ``close_ts``.
    """

    def __init__(self, data: SnapshotSet) -> None:
        self._data = data
        self.tickers = data.tickers
        self.series = data.series
        # Read-only views: a strategy that scribbles on prices would corrupt the fills.
        self.market = _frozen(data.market)
        self.ts = _frozen(data.ts)
        self.snapshot_id = _frozen(data.snapshot_id)
        self.yes_bid = _frozen(data.yes_bid)
        self.yes_ask = _frozen(data.yes_ask)
        self.close_ts = _frozen(data.close_ts)
        self.seg_start, self.seg_end = data.segments()
        self.n_rows = data.n_rows
        self._first: BoolArray | None = None
        self._mid: F64 | None = None
        self._to_close: F64 | None = None
        self._row: npt.NDArray[np.int64] | None = None

    def __getattr__(self, name: str) -> Any:
        if name in _HIDDEN:
            raise LookAheadError(
                f"a strategy asked for {name!r}: settlement outcomes are unknown to a strategy "
                "until the engine settles its positions"
            )
        raise AttributeError(name)

    # -- prices -----------------------------------------------------------------------------

    def yes_bid_dollars(self) -> F64:
        """YES bid in dollars (float, for signals only), NaN where missing."""
        return _to_dollars(self.yes_bid)

    def yes_ask_dollars(self) -> F64:
        return _to_dollars(self.yes_ask)

    def mid(self) -> F64:
        """Mid-price in dollars where the YES book is two-sided, else NaN (cached).

        The rule is :func:`shared.domain.prices.mid_price` (an empty side shown as
        0.0000/1.0000 or a crossed book has no mid), the same one the market-data rollups
        and history use, so a trade's "mid moved" matches the stored mid.
        """
        if self._mid is None:
            # Block by block into the one cached array: the rule's int64 copies and float
            # temporaries are a block's size, not ~40 bytes a row over the whole set.
            mid = np.empty(self.n_rows, dtype=np.float64)
            for lo, hi in _blocks(self.n_rows):
                mid[lo:hi] = mid_price_ticks(self.yes_bid[lo:hi], self.yes_ask[lo:hi], PRICE_SCALE)
            mid.flags.writeable = False
            self._mid = mid
        return self._mid

    def first_of_market(self) -> BoolArray:
        """True on each market's first row."""
        if self._first is None:
            first = np.zeros(self.n_rows, dtype=bool)
            nonempty = self.seg_start < self.seg_end
            first[self.seg_start[nonempty]] = True
            self._first = first
        return self._first

    def row_in_market(self) -> npt.NDArray[np.int64]:
        """Position of each row within its market (0 for the first snapshot; cached)."""
        if self._row is None:
            row: npt.NDArray[np.int64] = np.arange(self.n_rows, dtype=np.int64)
            for lo, hi in _blocks(self.n_rows):  # in place: no row-sized gather
                row[lo:hi] -= self.seg_start[self.market[lo:hi]]
            self._row = row
        return self._row

    # -- causal helpers -----------------------------------------------------------------------

    def lag(self, values: F64, k: int) -> F64:
        """``values`` from ``k`` snapshots earlier in the same market (NaN before the start).

        ``k`` must be positive: a negative lag would read the future.
        """
        if k < 1:
            raise LookAheadError(f"lag({k}) would read a later snapshot; lags must be >= 1")
        out = np.full(self.n_rows, np.nan)
        if k < self.n_rows:
            out[k:] = values[:-k]
        # The rows fewer than k into their market, block by block: the same rows as
        # ``row_in_market() < k`` without building (and caching) 8 bytes a row for it.
        for lo, hi in _blocks(self.n_rows):
            into = np.arange(lo, hi, dtype=np.int64)
            into -= self.seg_start[self.market[lo:hi]]
            out[lo:hi][into < k] = np.nan
        return out

    def change(self, values: F64, k: int) -> F64:
        """``values - lag(values, k)``: the move over the last ``k`` snapshots."""
        out = self.lag(values, k)
        np.subtract(values, out, out=out)  # into the lag's array: one row-sized result
        return out

    def seconds_to_close(self) -> F64:
        """Seconds from each snapshot to its market's scheduled close (inf when unknown; cached)."""
        if self._to_close is None:
            close = self.close_ts[self.market]
            out = (close - self.ts).astype(np.float64) / 1e6
            out[close == np.iinfo(np.int64).max] = np.inf
            self._to_close = out
        return self._to_close


_BLOCK_ROWS = 1 << 20
"""Rows the view's per-row helpers handle at once (their temporaries are a block's size)."""


def _blocks(n: int) -> Iterator[tuple[int, int]]:
    """``(lo, hi)`` of consecutive blocks of at most :data:`_BLOCK_ROWS` rows over ``n``."""
    for lo in range(0, n, _BLOCK_ROWS):
        yield lo, min(n, lo + _BLOCK_ROWS)


def _frozen(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    out = values.view()
    out.flags.writeable = False
    return out


def _to_dollars(ticks: npt.NDArray[np.int32]) -> F64:
    out = ticks.astype(np.float64) / PRICE_SCALE
    out[ticks == MISSING] = np.nan
    return out


@dataclass
class Signals:
    """A strategy's decisions, one entry per snapshot row.

    * ``entry``: ``int8``; +1 buy YES, -1 buy NO, 0 nothing. Ignored while a position or an
      order is open in that market.
    * ``exit_yes`` / ``exit_no``: close an open YES / NO position at this snapshot (taker, at
      the bid). ``None`` means never (hold until the exit rules or settlement).
    * ``limit_ticks``: passive entries. ``None``: entries take the quote (taker). Otherwise
      the price (ticks, in the bought side's terms) of a resting buy order placed at the
      signal row; it fills as maker at that price on the first later snapshot whose ask on
      that side is at or below it, or expires after ``ExitRules.order_ttl_s``.
    """

    entry: npt.NDArray[np.int8]
    exit_yes: BoolArray | None = None
    exit_no: BoolArray | None = None
    limit_ticks: npt.NDArray[np.int32] | None = None
    entry_reason: str = "signal"
    exit_reason: str = "exit signal"


@dataclass(frozen=True)
class ExitRules:
    """Exits the engine applies per position; ``None`` disables a rule.

    Prices in ticks ($0.0001), durations in seconds, ``contracts`` in whole contracts.
    """

    contracts: int = 1
    take_profit_ticks: int | None = None
    stop_loss_ticks: int | None = None
    max_hold_s: float | None = None
    exit_before_close_s: float | None = None
    order_ttl_s: float | None = None


def validate_params(schema: Mapping[str, Any], params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Apply defaults and check ``params`` against the JSON Schema subset strategies use.

    Supported: ``type`` integer/number/boolean/string, ``minimum``/``maximum``, ``enum``,
    ``default``; unknown names are rejected. Raises :class:`InvalidBacktestRequest` with
    code ``invalid_params``.
    """
    params = dict(params or {})
    properties: Mapping[str, Mapping[str, Any]] = schema.get("properties", {})
    unknown = sorted(set(params) - set(properties))
    if unknown:
        raise InvalidBacktestRequest(
            f"unknown parameter(s): {', '.join(unknown)}; known: {', '.join(sorted(properties))}",
            code="invalid_params",
        )
    out: dict[str, Any] = {}
    for name, spec in properties.items():
        value = params.get(name, spec.get("default"))
        if value is None:
            if name in schema.get("required", ()):
                raise InvalidBacktestRequest(f"parameter {name} is required", code="invalid_params")
            out[name] = None
            continue
        out[name] = _check_value(name, spec, value)
    return out


def _check_value(name: str, spec: Mapping[str, Any], value: Any) -> Any:
    kind = spec.get("type")
    if isinstance(kind, list):  # ["number", "null"]: null was handled by the caller
        kind = next((k for k in kind if k != "null"), None)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise InvalidBacktestRequest(f"{name} must be an integer", code="invalid_params")
        value = int(value)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidBacktestRequest(f"{name} must be a number", code="invalid_params")
        value = float(value)
        if not np.isfinite(value):
            raise InvalidBacktestRequest(f"{name} must be finite", code="invalid_params")
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise InvalidBacktestRequest(f"{name} must be true or false", code="invalid_params")
    elif kind == "string" and not isinstance(value, str):
        raise InvalidBacktestRequest(f"{name} must be a string", code="invalid_params")
    if "enum" in spec and value not in spec["enum"]:
        allowed = ", ".join(map(str, spec["enum"]))
        raise InvalidBacktestRequest(f"{name} must be one of {allowed}", code="invalid_params")
    if "minimum" in spec and value < spec["minimum"]:
        raise InvalidBacktestRequest(
            f"{name} must be >= {spec['minimum']} (got {value})", code="invalid_params"
        )
    if "maximum" in spec and value > spec["maximum"]:
        raise InvalidBacktestRequest(
            f"{name} must be <= {spec['maximum']} (got {value})", code="invalid_params"
        )
    return value


@overload
def dollars_to_ticks(value: float) -> int: ...
@overload
def dollars_to_ticks(value: None) -> None: ...
@overload
def dollars_to_ticks(value: float | None) -> int | None: ...
def dollars_to_ticks(value: float | None) -> int | None:
    """A dollar parameter (float from JSON) to ticks, rounded to the nearest tick."""
    return None if value is None else round(value * PRICE_SCALE)


class Strategy(ABC):
    """Base class of every strategy; subclass it and register it (see docs/strategies.md).

    Class attributes: ``name`` (stable identifier used in API requests), ``version`` (bump it
    whenever the logic changes; every run records it), ``description``, and
    ``params_schema`` (a JSON Schema object; every property needs a ``default``).
    """

    name: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""
    params_schema: ClassVar[dict[str, Any]]

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        self.params = validate_params(self.params_schema, params)

    @abstractmethod
    def signals(self, view: StrategyView) -> Signals:
        """Decide entries and exits for every snapshot (causally; see the module docstring)."""

    def exit_rules(self) -> ExitRules:
        """Position-level exits; the default reads the common parameters when present."""
        p = self.params
        return ExitRules(
            contracts=int(p.get("contracts") or 1),
            take_profit_ticks=dollars_to_ticks(p.get("take_profit")),
            stop_loss_ticks=dollars_to_ticks(p.get("stop_loss")),
            max_hold_s=None if p.get("max_hold_minutes") is None else p["max_hold_minutes"] * 60,
            exit_before_close_s=(
                None
                if p.get("exit_before_close_minutes") is None
                else p["exit_before_close_minutes"] * 60
            ),
            order_ttl_s=(
                None if p.get("order_ttl_minutes") is None else p["order_ttl_minutes"] * 60
            ),
        )

    def describe_entry(self, view: StrategyView, row: int, side: int) -> str:
        """Why the strategy entered at ``row`` (stored with the trade); override for detail."""
        return ""

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The catalogue entry the API serves (name, version, description, JSON Schema)."""
        return {
            "name": cls.name,
            "version": cls.version,
            "description": cls.description,
            "params": cls.params_schema,
        }


# Parameter specs several built-ins share.
CONTRACTS = {
    "type": "integer",
    "minimum": 1,
    "maximum": 100_000,
    "default": 10,
    "description": "Contracts bought per entry.",
}


def optional_dollars(
    description: str, default: float | None, maximum: float = 1.0
) -> dict[str, Any]:
    """A dollar amount that may be null (``None`` disables the rule it drives)."""
    spec: dict[str, Any] = {
        "type": ["number", "null"],
        "minimum": 0.0001,
        "maximum": maximum,
        "description": description,
    }
    spec["default"] = default
    return spec


def params_object(properties: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A ``params_schema``: an object of exactly these properties (others are refused)."""
    return {"type": "object", "additionalProperties": False, "properties": properties}


def lookback(default: int) -> dict[str, Any]:
    """The window, in snapshots, over which a move of the mid is measured."""
    return {
        "type": "integer",
        "minimum": 1,
        "maximum": 500,
        "default": default,
        "description": "Snapshots over which the move is measured.",
    }


def optional_minutes(description: str, default: float | None) -> dict[str, Any]:
    """A duration in minutes (up to a year) that may be null (``None`` disables its rule)."""
    return {
        "type": ["number", "null"],
        "minimum": 1,
        "maximum": 525_600,
        "default": default,
        "description": description,
    }


def side_name(side: int) -> str:
    """``"YES"`` for :data:`ENTER_YES`, ``"NO"`` otherwise (entry descriptions)."""
    return "YES" if side == ENTER_YES else "NO"


def mid_move(view: StrategyView, row: int, k: int) -> float:
    """The mid's move over the ``k`` snapshots up to ``row`` (what a move strategy saw)."""
    mid = view.mid()
    move: float = mid[row] - mid[row - k]
    return move


def no_ask_ticks(yes_bid: npt.NDArray[np.int32]) -> npt.NDArray[Any]:
    """The NO ask implied by each YES bid (ticks), ``-1`` where there is no YES bid."""
    return np.where(yes_bid > 0, PRICE_SCALE - yes_bid, -1)
