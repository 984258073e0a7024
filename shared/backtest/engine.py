"""The backtest engine: signals in, trades, equity and metrics out. Pure computation.

How a run goes (docs/decisions/0060-backtest-engine-design.md):

1. The strategy computes :class:`~shared.backtest.strategies.base.Signals` for every
   snapshot at once (numpy), from a :class:`StrategyView` that holds no outcomes.
2. Look-ahead audit: the strategy runs again on the same data with the future hidden (all
   markets cut at one moment, and each market cut at its own point); any earlier decision
   that changes proves the strategy read data after its decision time, and the run fails
   with :class:`LookAheadError`.
3. Positions: markets are independent (one position or resting order per market at a time,
   fixed size), so the engine walks each market's candidate entries in time order and finds
   each exit with precomputed "next row where ..." arrays. The Python loop runs once per
   trade, never once per snapshot.
4. Fills: taker buys at the ask, sells at the bid (NO prices are the complement of the YES
   book), plus optional slippage; passive entries fill as maker at their limit. Every fill
   pays Kalshi's fee for its series; positions still open at a market's end settle at $1/$0
   (or the scalar value) on the recorded result, a void refunds the cost, and a market
   without a result is marked at its last bid.
5. Money stays in integer micro-dollars; the equity series is built with exact integer
   sums per sampling interval, and the metrics come from it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.backtest.data import (
    MISSING,
    NO_TIME,
    RESULT_NO,
    RESULT_SCALAR,
    RESULT_UNKNOWN,
    RESULT_VOID,
    RESULT_YES,
    SnapshotSet,
    from_micros,
)
from shared.backtest.errors import BacktestError, LookAheadError, StrategyError
from shared.backtest.metrics import Metrics, compute_metrics
from shared.backtest.strategies.base import (
    ENTER_YES,
    ExitRules,
    Signals,
    Strategy,
    StrategyView,
)
from shared.domain.fees import FeeModel, FeeSchedule
from shared.domain.units import (
    COUNT_SCALE,
    MICRO_PER_TICK,
    PRICE_SCALE,
    dollars_to_micros,
    format_count,
    format_micros,
    format_ticks,
    price_ticks,
)

__all__ = [
    "EXIT_KINDS",
    "BacktestResult",
    "EngineConfig",
    "TradeTable",
    "audit_lookahead",
    "run_backtest",
    "sampling_interval_us",
]

I8 = npt.NDArray[np.int8]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Progress = Callable[[float], None]

# Exit kinds, stored as small integers in the trade table.
EXIT_SIGNAL, EXIT_TAKE_PROFIT, EXIT_STOP_LOSS, EXIT_MAX_HOLD, EXIT_BEFORE_CLOSE = 0, 1, 2, 3, 4
SETTLED, VOID_REFUND, MARKED_AT_END = 5, 6, 7
EXIT_KINDS = (
    "exit signal",
    "take profit",
    "stop loss",
    "max hold time",
    "before close",
    "settled",
    "void: cost refunded",
    "no result yet: marked at last bid",
)
_MAX_BINS = 5_000_000
_DEFAULT_INTERVAL_US = 60_000_000


@dataclass(frozen=True)
class EngineConfig:
    """Knobs of the simulation that are not strategy parameters."""

    fees: FeeModel = field(default_factory=FeeModel)
    slippage_ticks: int = 0
    """Added to every taker buy and taken off every taker sell, in $0.0001 ticks."""
    capital_micro: int | None = None
    """Capital for return/Sharpe; default: the peak cost of positions open together."""
    lookahead_audit: bool = True
    refund_fees_on_void: bool = False
    max_equity_points: int = 500

    def to_json(self) -> dict[str, Any]:
        return {
            "fees": self.fees.to_json(),
            "slippage_dollars": format_micros(self.slippage_ticks * MICRO_PER_TICK),
            "capital_dollars": (
                None if self.capital_micro is None else format_micros(self.capital_micro)
            ),
            "refund_fees_on_void": self.refund_fees_on_void,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> EngineConfig:
        """The inverse of :meth:`to_json` (which a request's stored config came from).

        ``lookahead_audit`` and ``max_equity_points`` are not part of the document (no
        request sets them), so they keep their defaults. An empty or missing document is
        the default configuration: runs stored before their config was recorded.
        """
        if not data:
            return cls()
        slippage = data.get("slippage_dollars")
        capital = data.get("capital_dollars")
        return cls(
            fees=FeeModel.from_json(data.get("fees")),
            slippage_ticks=0 if slippage is None else price_ticks(str(slippage)),
            capital_micro=None if capital is None else dollars_to_micros(Decimal(str(capital))),
            refund_fees_on_void=bool(data.get("refund_fees_on_void", False)),
        )


@dataclass(frozen=True)
class TradeTable:
    """Columnar trades (one row per round trip), in entry order."""

    market: I32
    side: I8  # +1 YES, -1 NO
    count_units: I64  # hundredths of a contract
    entry_row: I64  # fill row (for passive orders: the snapshot that filled it)
    entry_price: I64  # ticks
    maker: BoolArray
    exit_row: I64  # -1 when settled / marked at the end
    exit_price: I64  # ticks: the sale price, or the settlement value per contract
    exit_ts: I64
    exit_kind: I8
    fees_micro: I64
    pnl_micro: I64
    entry_reasons: list[str]
    exit_reasons: list[str]

    def __len__(self) -> int:
        return len(self.market)

    def rows(self, data: SnapshotSet) -> list[dict[str, Any]]:
        """JSON-ready trade dicts (money as exact decimal strings)."""
        out: list[dict[str, Any]] = []
        for t in range(len(self)):
            entry_row = int(self.entry_row[t])
            exit_row = int(self.exit_row[t])
            out.append(
                {
                    "ticker": data.tickers[int(self.market[t])],
                    "side": "yes" if self.side[t] == ENTER_YES else "no",
                    "count_fp": format_count(int(self.count_units[t])),
                    "entry_ts": from_micros(int(data.ts[entry_row])).isoformat(),
                    "entry_price_dollars": format_ticks(int(self.entry_price[t])),
                    "entry_snapshot_id": int(data.snapshot_id[entry_row]),
                    "maker": bool(self.maker[t]),
                    "exit_ts": from_micros(int(self.exit_ts[t])).isoformat(),
                    "exit_price_dollars": format_ticks(int(self.exit_price[t])),
                    "exit_snapshot_id": int(data.snapshot_id[exit_row]) if exit_row >= 0 else None,
                    "fees_dollars": format_micros(int(self.fees_micro[t])),
                    "pnl_dollars": format_micros(int(self.pnl_micro[t])),
                    "entry_reason": self.entry_reasons[t],
                    "exit_reason": self.exit_reasons[t],
                }
            )
        return out


@dataclass(frozen=True)
class BacktestResult:
    strategy: str
    strategy_version: str
    params: dict[str, Any]
    trades: TradeTable
    bin_start_us: int
    interval_us: int
    pnl_series_micro: I64  # cumulative P&L at the end of each interval
    metrics: Metrics

    def equity_curve(self, max_points: int = 500) -> list[dict[str, str]]:
        """Down-sampled ``[{ts, pnl_dollars, equity_dollars}]``; always keeps the last point."""
        n = len(self.pnl_series_micro)
        if n == 0:
            return []
        if n <= max_points:
            picks = np.arange(n)
        else:
            picks = np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))
        capital = self.metrics.capital_micro
        return [
            {
                "ts": from_micros(self.bin_start_us + (int(b) + 1) * self.interval_us).isoformat(),
                "pnl_dollars": format_micros(int(self.pnl_series_micro[b])),
                "equity_dollars": format_micros(capital + int(self.pnl_series_micro[b])),
            }
            for b in picks
        ]


# ---------------------------------------------------------------------------------------------
# helpers on arrays


def _next_true(mask: BoolArray) -> I64:
    """``out[i]`` = smallest ``j >= i`` with ``mask[j]``, else ``len(mask)``; one extra slot."""
    n = len(mask)
    idx = np.where(mask, np.arange(n, dtype=np.int64), n)
    out = np.empty(n + 1, dtype=np.int64)
    out[:n] = np.minimum.accumulate(idx[::-1])[::-1]
    out[n] = n
    return out


def _forward_fill(values: I64, valid: BoolArray, seg_start_of_row: I64) -> I64:
    """Last valid value at or before each row within its market; 0 before the first one."""
    n = len(values)
    idx = np.where(valid, np.arange(n, dtype=np.int64), -1)
    np.maximum.accumulate(idx, out=idx)
    ok = idx >= seg_start_of_row
    return np.where(ok, values[np.maximum(idx, 0)], 0)


def sampling_interval_us(data: SnapshotSet) -> int:
    """The median spacing between consecutive snapshots of the same market (µs)."""
    if data.n_rows < 2:
        return _DEFAULT_INTERVAL_US
    same = data.market[1:] == data.market[:-1]
    gaps = (data.ts[1:] - data.ts[:-1])[same]
    gaps = gaps[gaps > 0]
    if len(gaps) == 0:
        return _DEFAULT_INTERVAL_US
    return max(1, int(np.median(gaps)))


# ---------------------------------------------------------------------------------------------
# strategy invocation and the look-ahead audit


def _call_strategy(strategy: Strategy, view: StrategyView) -> Signals:
    try:
        signals = strategy.signals(view)
    except BacktestError:
        raise
    except Exception as exc:
        raise StrategyError(
            f"strategy {strategy.name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    n = view.n_rows
    if not isinstance(signals, Signals):
        raise StrategyError(f"strategy {strategy.name!r} must return Signals")
    for name in ("entry", "exit_yes", "exit_no", "limit_ticks"):
        arr = getattr(signals, name)
        if arr is not None and (not isinstance(arr, np.ndarray) or arr.shape != (n,)):
            raise StrategyError(
                f"strategy {strategy.name!r}: Signals.{name} must be an array of {n} values"
            )
    if signals.entry.dtype != np.int8:
        signals.entry = signals.entry.astype(np.int8)
    if np.any((signals.entry > 1) | (signals.entry < -1)):
        raise StrategyError(f"strategy {strategy.name!r}: entry values must be -1, 0 or +1")
    return signals


def _signal_arrays(signals: Signals) -> dict[str, npt.NDArray[Any]]:
    return {
        name: arr
        for name in ("entry", "exit_yes", "exit_no", "limit_ticks")
        if (arr := getattr(signals, name)) is not None
    }


def _audit_masks(data: SnapshotSet) -> list[tuple[str, BoolArray]]:
    seg_start, seg_end = data.segments()
    masks: list[tuple[str, BoolArray]] = []
    if data.n_rows >= 2:
        moment = (int(data.ts.min()) + int(data.ts.max())) // 2
        masks.append((f"after {from_micros(moment).isoformat()}", data.ts <= moment))
        rng = np.random.default_rng(20260611)
        lengths = seg_end - seg_start
        cut = np.floor(rng.uniform(0.25, 1.0, len(lengths)) * lengths).astype(np.int64)
        row_in_market = np.arange(data.n_rows, dtype=np.int64) - seg_start[data.market]
        masks.append(("after a per-market cut", row_in_market < cut[data.market]))
    return masks


def audit_lookahead(data: SnapshotSet, strategy: Strategy, signals: Signals) -> None:
    """Re-run ``strategy`` with the future hidden; raise if any earlier decision changes."""
    full = _signal_arrays(signals)
    for label, keep in _audit_masks(data):
        if keep.all() or not keep.any():
            continue
        truncated = data.subset(keep)
        again = _signal_arrays(_call_strategy(strategy, StrategyView(truncated)))
        for name, values in full.items():
            other = again.get(name)
            mine = values[keep]
            if other is None or other.shape != mine.shape:
                raise LookAheadError(
                    f"strategy {strategy.name!r} looks ahead: Signals.{name} changed shape when "
                    f"the data {label} was hidden"
                )
            differs = np.flatnonzero(mine != other)
            if len(differs):
                row = int(np.flatnonzero(keep)[differs[0]])
                raise LookAheadError(
                    f"strategy {strategy.name!r} (version {strategy.version}) looks ahead: its "
                    f"decision ({name}) at snapshot {int(data.snapshot_id[row])} of "
                    f"{data.tickers[int(data.market[row])]} at "
                    f"{from_micros(int(data.ts[row])).isoformat()} changed when the data {label} "
                    "was hidden. A decision may only use snapshots at or before its own time "
                    "(use view.lag/view.change; no negative shifts or whole-series statistics)."
                )


# ---------------------------------------------------------------------------------------------
# the run


@dataclass
class _Book:
    """Derived per-row quote arrays for both sides (ticks; MISSING where not tradable)."""

    ask: dict[int, I64]
    bid: dict[int, I64]
    mark: dict[int, I64]
    next_bid: dict[int, I64]


def _book(data: SnapshotSet, seg_start_of_row: I64) -> _Book:
    yes_bid = data.yes_bid.astype(np.int64)
    yes_ask = data.yes_ask.astype(np.int64)
    bid_ok = (yes_bid > 0) & (yes_bid < PRICE_SCALE)
    ask_ok = (yes_ask > 0) & (yes_ask < PRICE_SCALE)
    ask = {
        1: np.where(ask_ok, yes_ask, MISSING),
        -1: np.where(bid_ok, PRICE_SCALE - yes_bid, MISSING),
    }
    bid = {
        1: np.where(bid_ok, yes_bid, MISSING),
        -1: np.where(ask_ok, PRICE_SCALE - yes_ask, MISSING),
    }
    mark = {s: _forward_fill(bid[s], bid[s] >= 0, seg_start_of_row) for s in (1, -1)}
    next_bid = {s: _next_true(bid[s] >= 0) for s in (1, -1)}
    return _Book(ask=ask, bid=bid, mark=mark, next_bid=next_bid)


def run_backtest(
    data: SnapshotSet,
    strategy: Strategy,
    config: EngineConfig | None = None,
    *,
    view: StrategyView | None = None,
    progress: Progress | None = None,
) -> BacktestResult:
    """Replay ``data`` through ``strategy``; see the module docstring for the rules."""
    config = config or EngineConfig()
    report = progress or (lambda _fraction: None)
    view = view or StrategyView(data)
    signals = _call_strategy(strategy, view)
    report(0.3)
    if config.lookahead_audit:
        audit_lookahead(data, strategy, signals)
    report(0.6)
    rules = strategy.exit_rules()
    if rules.contracts < 1:
        raise StrategyError(f"strategy {strategy.name!r}: contracts must be at least 1")

    seg_start, seg_end = view.seg_start, view.seg_end
    seg_start_of_row = seg_start[data.market] if data.n_rows else np.zeros(0, np.int64)
    book = _book(data, seg_start_of_row)
    n = data.n_rows
    never = np.zeros(n, dtype=bool)
    next_exit = {
        1: _next_true(signals.exit_yes if signals.exit_yes is not None else never),
        -1: _next_true(signals.exit_no if signals.exit_no is not None else never),
    }
    trades = _walk_positions(data, strategy, view, signals, rules, config, book, next_exit)
    report(0.85)
    result = _account(data, strategy, trades, config, book, seg_end)
    report(1.0)
    return result


@dataclass
class _Raw:
    """Trades as Python lists while walking (appends are cheap)."""

    market: list[int] = field(default_factory=list)
    side: list[int] = field(default_factory=list)
    entry_row: list[int] = field(default_factory=list)
    entry_price: list[int] = field(default_factory=list)
    maker: list[bool] = field(default_factory=list)
    exit_row: list[int] = field(default_factory=list)
    exit_price: list[int] = field(default_factory=list)
    exit_kind: list[int] = field(default_factory=list)
    entry_reasons: list[str] = field(default_factory=list)
    exit_reasons: list[str] = field(default_factory=list)


def _walk_positions(
    data: SnapshotSet,
    strategy: Strategy,
    view: StrategyView,
    signals: Signals,
    rules: ExitRules,
    config: EngineConfig,
    book: _Book,
    next_exit: dict[int, I64],
) -> _Raw:
    ts = data.ts
    market = data.market
    seg_end = view.seg_end
    candidates = np.flatnonzero(signals.entry)
    entry = signals.entry
    limits = signals.limit_ticks
    slip = int(config.slippage_ticks)
    hold_us = None if rules.max_hold_s is None else int(rules.max_hold_s * 1e6)
    ttl_us = None if rules.order_ttl_s is None else int(rules.order_ttl_s * 1e6)
    before_us = None if rules.exit_before_close_s is None else int(rules.exit_before_close_s * 1e6)
    tp, sl = rules.take_profit_ticks, rules.stop_loss_ticks
    raw = _Raw()
    # Python lists and bisect: per-trade scalar work is cheaper on lists than on arrays.
    rows = candidates.tolist()
    sides = entry[candidates].tolist()
    row_market = market[candidates].tolist()
    k, total = 0, len(rows)
    while k < total:
        i = rows[k]
        m = row_market[k]
        end = int(seg_end[m])
        side = sides[k]
        ask = book.ask[side]
        if limits is None:
            price = int(ask[i])
            if price < 0:
                k += 1
                continue
            price = min(price + slip, PRICE_SCALE - 1)
            fill, maker = i, False
        else:
            limit = int(limits[i])
            expiry = end
            if ttl_us is not None:
                expiry = i + 1 + int(np.searchsorted(ts[i + 1 : end], ts[i] + ttl_us, "right"))
            window = ask[i + 1 : expiry]
            hits = (window >= 0) & (window <= limit)
            if not hits.any():
                k = bisect.bisect_left(rows, max(expiry, i + 1), k + 1)
                continue
            fill, price, maker = i + 1 + int(np.argmax(hits)), limit, True

        # The earliest exit trigger after the fill.
        stop, kind = end, SETTLED
        nxt = int(next_exit[side][fill + 1])
        if nxt < stop:
            stop, kind = nxt, EXIT_SIGNAL
        if hold_us is not None:
            j = fill + 1 + int(np.searchsorted(ts[fill + 1 : stop], ts[fill] + hold_us, "left"))
            if j < stop:
                stop, kind = j, EXIT_MAX_HOLD
        if before_us is not None and data.close_ts[m] != NO_TIME:
            deadline = int(data.close_ts[m]) - before_us
            j = fill + 1 + int(np.searchsorted(ts[fill + 1 : stop], deadline, "left"))
            if j < stop:
                stop, kind = j, EXIT_BEFORE_CLOSE
        if tp is not None or sl is not None:
            j, hit_kind = _scan_price_exits(book.bid[side], fill + 1, stop, price, tp, sl)
            if j < stop:
                stop, kind = j, hit_kind

        exit_row, exit_price = -1, 0
        if kind != SETTLED:
            sale = int(book.next_bid[side][stop])
            if sale < end:
                exit_row = sale
                exit_price = max(int(book.bid[side][sale]) - slip, 0)
            else:
                kind = SETTLED  # wanted out but nobody bid again: held to the end
        raw.market.append(m)
        raw.side.append(side)
        raw.entry_row.append(fill)
        raw.entry_price.append(price)
        raw.maker.append(maker)
        raw.exit_row.append(exit_row)
        raw.exit_price.append(exit_price)
        raw.exit_kind.append(kind)
        raw.entry_reasons.append(strategy.describe_entry(view, i, side) or signals.entry_reason)
        raw.exit_reasons.append(signals.exit_reason if kind == EXIT_SIGNAL else EXIT_KINDS[kind])
        resume = exit_row + 1 if exit_row >= 0 else end
        k = bisect.bisect_left(rows, resume, k + 1)
    return raw


def _scan_price_exits(
    bid: I64, lo: int, hi: int, entry_price: int, tp: int | None, sl: int | None
) -> tuple[int, int]:
    """First row in ``[lo, hi)`` whose bid hits the take-profit or stop-loss level."""
    up = entry_price + tp if tp is not None else None
    down = entry_price - sl if sl is not None else None
    chunk = 64
    while lo < hi:
        top = min(hi, lo + chunk)
        window = bid[lo:top]
        hit = np.zeros(top - lo, dtype=bool)
        if up is not None:
            hit |= window >= up
        if down is not None:
            hit |= (window >= 0) & (window <= down)
        if hit.any():
            j = lo + int(np.argmax(hit))
            is_tp = up is not None and int(bid[j]) >= up
            return j, EXIT_TAKE_PROFIT if is_tp else EXIT_STOP_LOSS
        lo = top
        chunk *= 4
    return hi, SETTLED


def _fees_micro(
    schedules: list[FeeSchedule],
    counts: I64,
    prices: I64,
    maker: BoolArray,
    sched_idx: I64,
    *,
    buying: bool,
) -> I64:
    """Kalshi's charge per fill (trade fee + rounding fee, shared.domain.fees)."""
    out = np.zeros(len(counts), dtype=np.int64)
    for s, schedule in enumerate(schedules):
        for is_maker in (False, True):
            sel = np.flatnonzero((sched_idx == s) & (maker == is_maker))
            if len(sel):
                out[sel] = schedule.charge_micro_array(
                    counts[sel], prices[sel], maker=is_maker, buying=buying
                )
    return out


def _account(
    data: SnapshotSet,
    strategy: Strategy,
    raw: _Raw,
    config: EngineConfig,
    book: _Book,
    seg_end: I64,
) -> BacktestResult:
    rules = strategy.exit_rules()
    n_trades = len(raw.market)
    market = np.array(raw.market, dtype=np.int32)
    side = np.array(raw.side, dtype=np.int8)
    entry_row = np.array(raw.entry_row, dtype=np.int64)
    entry_price = np.array(raw.entry_price, dtype=np.int64)
    maker = np.array(raw.maker, dtype=bool)
    exit_row = np.array(raw.exit_row, dtype=np.int64)
    exit_price = np.array(raw.exit_price, dtype=np.int64)
    exit_kind = np.array(raw.exit_kind, dtype=np.int8)
    counts = np.full(n_trades, rules.contracts * COUNT_SCALE, dtype=np.int64)
    exit_reasons = list(raw.exit_reasons)

    # Settlement of positions held to the end of their market's data.
    held = exit_row < 0
    last_row = seg_end[market] - 1 if n_trades else np.zeros(0, np.int64)
    mark_side = np.where(side == 1, 1, -1)
    last_mark = np.where(
        mark_side == 1,
        book.mark[1][last_row] if n_trades else 0,
        book.mark[-1][last_row] if n_trades else 0,
    )
    settle = data.settlements
    result = settle.result[market]
    value = settle.value_ticks[market].astype(np.int64)
    yes_payout = np.select(
        [result == RESULT_YES, result == RESULT_NO, result == RESULT_SCALAR],
        [PRICE_SCALE, 0, value],
        default=0,
    )
    payout = np.where(side == 1, yes_payout, PRICE_SCALE - yes_payout)
    payout = np.where(result == RESULT_VOID, entry_price, payout)
    payout = np.where(result == RESULT_UNKNOWN, last_mark, payout)
    last_ts = data.ts[last_row] if n_trades else np.zeros(0, np.int64)
    known_ts = settle.settle_ts[market]
    settle_ts = np.where((result != RESULT_UNKNOWN) & (known_ts != NO_TIME), known_ts, last_ts)
    settle_ts = np.maximum(settle_ts, last_ts)
    exit_price = np.where(held, payout, exit_price)
    exit_ts = np.where(held, settle_ts, data.ts[np.maximum(exit_row, 0)] if n_trades else 0)
    exit_kind = np.where(
        held,
        np.select(
            [result == RESULT_VOID, result == RESULT_UNKNOWN], [VOID_REFUND, MARKED_AT_END], SETTLED
        ),
        exit_kind,
    ).astype(np.int8)
    names = {RESULT_YES: "yes", RESULT_NO: "no", RESULT_SCALAR: "scalar"}
    for t in np.flatnonzero(held):
        kind = int(exit_kind[t])
        if kind == SETTLED:
            exit_reasons[t] = f"settled {names.get(int(result[t]), '?')}"
        else:
            exit_reasons[t] = EXIT_KINDS[kind]

    # Fees (per series schedule) and P&L, exactly, in micro-dollars.
    schedules: list[FeeSchedule] = []
    sched_of_market = np.zeros(data.n_markets, dtype=np.int64)
    for m, series in enumerate(data.series):
        schedule = config.fees.for_series(series)
        if schedule not in schedules:
            schedules.append(schedule)
        sched_of_market[m] = schedules.index(schedule)
    sched_idx = sched_of_market[market]
    entry_fee = _fees_micro(schedules, counts, entry_price, maker, sched_idx, buying=True)
    exit_fee = _fees_micro(
        schedules, counts, exit_price, np.zeros(n_trades, bool), sched_idx, buying=False
    )
    exit_fee[held] = 0
    cost = counts * entry_price
    proceeds = counts * exit_price
    void = held & (result == RESULT_VOID)
    refund = np.zeros(n_trades, dtype=np.int64)
    if config.refund_fees_on_void:
        refund = np.where(void, entry_fee, 0)
    fees = entry_fee + exit_fee - refund
    pnl = proceeds - cost - fees

    # Equity per sampling interval: exact integer deltas, summed per interval.
    interval = sampling_interval_us(data)
    t0 = int(data.ts.min()) if data.n_rows else 0
    t_last = int(data.ts.max()) if data.n_rows else 0
    span = t_last - t0
    if span // interval + 1 > _MAX_BINS:
        interval = span // (_MAX_BINS - 1) + 1
    n_bins = span // interval + 1 if data.n_rows else 0
    pnl_series = _pnl_series(
        data, book, side, counts, entry_row, exit_row, last_row, held, cost,
        entry_fee, proceeds, exit_fee, refund, exit_ts, t0, interval, n_bins,
    )  # fmt: skip

    entry_ts = data.ts[entry_row] if n_trades else np.zeros(0, np.int64)
    exposure = _exposure(entry_ts, exit_ts, span)
    capital = config.capital_micro
    if capital is None:
        capital = _peak_capital(entry_ts, exit_ts, cost + entry_fee)
    metrics = compute_metrics(
        trade_pnl_micro=pnl,
        trade_fees_micro=fees,
        pnl_series_micro=pnl_series,
        interval_s=interval / 1e6,
        capital_micro=capital,
        exposure=exposure,
    )
    table = TradeTable(
        market=market,
        side=side,
        count_units=counts,
        entry_row=entry_row,
        entry_price=entry_price,
        maker=maker,
        exit_row=exit_row,
        exit_price=exit_price,
        exit_ts=exit_ts.astype(np.int64),
        exit_kind=exit_kind,
        fees_micro=fees,
        pnl_micro=pnl,
        entry_reasons=raw.entry_reasons,
        exit_reasons=exit_reasons,
    )
    return BacktestResult(
        strategy=strategy.name,
        strategy_version=strategy.version,
        params=dict(strategy.params),
        trades=table,
        bin_start_us=t0,
        interval_us=interval,
        pnl_series_micro=pnl_series,
        metrics=metrics,
    )


def _pnl_series(
    data: SnapshotSet,
    book: _Book,
    side: I8,
    counts: I64,
    entry_row: I64,
    exit_row: I64,
    last_row: I64,
    held: BoolArray,
    cost: I64,
    entry_fee: I64,
    proceeds: I64,
    exit_fee: I64,
    refund: I64,
    exit_ts: I64,
    t0: int,
    interval: int,
    n_bins: int,
) -> I64:
    """Cumulative P&L (realised + open positions at their bid) at the end of each interval."""
    if n_bins == 0:
        return np.zeros(0, dtype=np.int64)
    n = data.n_rows
    row_bin = (data.ts - t0) // interval
    # Rows strictly inside a position: mark-to-market moves of the held side.
    stop = np.where(held, last_row + 1, exit_row)
    open_count = np.zeros(n + 1, dtype=np.int64)
    open_side = np.zeros(n + 1, dtype=np.int64)
    np.add.at(open_count, entry_row + 1, counts)
    np.add.at(open_count, stop, -counts)
    np.add.at(open_side, entry_row + 1, side.astype(np.int64))
    np.add.at(open_side, stop, -side.astype(np.int64))
    open_count = np.cumsum(open_count[:n])
    open_side = np.cumsum(open_side[:n])
    # Within a covered row r, r - 1 is in the same market (the fill row at the earliest).
    mark = np.where(open_side == 1, book.mark[1], book.mark[-1])
    prev_yes = np.concatenate(([0], book.mark[1][:-1]))
    prev_no = np.concatenate(([0], book.mark[-1][:-1]))
    prev = np.where(open_side == 1, prev_yes, prev_no)
    delta = open_count * (mark - prev)
    per_bin = np.bincount(row_bin, weights=delta.astype(np.float64), minlength=n_bins)

    # Position events: the fill, then the sale or the settlement.
    if len(counts):
        mark_of = {s: book.mark[s] for s in (1, -1)}
        entry_mark = np.where(side == 1, mark_of[1][entry_row], mark_of[-1][entry_row])
        before_stop = np.maximum(stop - 1, 0)
        stop_mark = np.where(side == 1, mark_of[1][before_stop], mark_of[-1][before_stop])
        # A position with no covered rows has stop - 1 == fill: the fill booked that mark.
        at_fill = -cost - entry_fee + counts * entry_mark
        at_exit = proceeds - exit_fee - counts * stop_mark + refund
        exit_bin = np.clip((exit_ts - t0) // interval, 0, n_bins - 1)
        per_bin += np.bincount(
            row_bin[entry_row], weights=at_fill.astype(np.float64), minlength=n_bins
        )
        per_bin += np.bincount(exit_bin, weights=at_exit.astype(np.float64), minlength=n_bins)
    return np.cumsum(np.rint(per_bin).astype(np.int64))


def _exposure(entry_ts: I64, exit_ts: I64, span: int) -> float:
    """Share of the window during which at least one position was open."""
    if len(entry_ts) == 0 or span <= 0:
        return 0.0
    order = np.argsort(entry_ts, kind="stable")
    covered, cur_start, cur_end = 0, int(entry_ts[order[0]]), int(exit_ts[order[0]])
    for t in order[1:]:
        s, e = int(entry_ts[t]), int(exit_ts[t])
        if s > cur_end:
            covered += cur_end - cur_start
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    covered += cur_end - cur_start
    return min(1.0, covered / span)


def _peak_capital(entry_ts: I64, exit_ts: I64, committed: I64) -> int:
    """Peak total cost (incl. entry fees) of positions open at once.

    At equal times an exit frees its cash before another position's entry, but a position
    that opens and settles at the same instant is still counted while it is open.
    """
    if len(entry_ts) == 0:
        return 0
    times = np.concatenate((exit_ts, entry_ts))
    same_instant = exit_ts == entry_ts
    kinds = np.concatenate((np.where(same_instant, 2, 0), np.ones(len(entry_ts), np.int64)))
    amounts = np.concatenate((-committed, committed))
    order = np.lexsort((kinds, times))
    return int(max(0, np.cumsum(amounts[order]).max()))
