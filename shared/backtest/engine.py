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

Memory (ADR 0229): the worker replays 10,000,000 snapshots in 2 GiB, so the engine keeps
no per-row array it can do without. Quotes of each side are read from the snapshot set's
own int32 columns where a trade needs them (a scalar, or a slice of the rows one position
spans), not materialised per row; the "next exit signal" arrays are int32; the equity
series, the look-ahead audit's per-market cut and the sampling interval are computed in
blocks of :data:`_BLOCK_ROWS` rows, so their temporaries are a block's size.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Mapping
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
_BLOCK_ROWS = 1 << 20
"""Rows handled at once by the block-wise passes (equity, audit cut, sampling interval)."""


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


def _row_dtype(n: int) -> type[np.signedinteger[Any]]:
    """int32 row numbers while they fit (every set the worker holds), else int64."""
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def _next_true(mask: BoolArray | None, n: int) -> npt.NDArray[np.signedinteger[Any]]:
    """``out[i]`` = smallest ``j >= i`` with ``mask[j]``, else ``n``; one extra slot.

    ``None`` is a mask that is never true. Row numbers are int32 (4 bytes a row instead of
    8) and the minimum runs in place over the reversed array, so the only temporary is the
    negated mask.
    """
    out = np.empty(n + 1, dtype=_row_dtype(n))
    out[n] = n
    if mask is None or n == 0:
        out[:n] = n
        return out
    rows = out[:n]
    rows[:] = np.arange(n, dtype=out.dtype)
    rows[np.logical_not(mask)] = n
    backwards = rows[::-1]
    np.minimum.accumulate(backwards, out=backwards)
    return out


def _side_quotes(data: SnapshotSet, side: int, lo: int, hi: int, *, ask: bool) -> I64:
    """The ask (``ask``) or bid of ``side`` over rows ``[lo, hi)``, ticks, MISSING where
    not tradable: YES takes the YES book; NO prices are the complement of the YES book's
    other side (NO's ask is 1 - YES bid, NO's bid is 1 - YES ask)."""
    from_ask = ask == (side == 1)
    raw = (data.yes_ask if from_ask else data.yes_bid)[lo:hi].astype(np.int64)
    ok = (raw > 0) & (raw < PRICE_SCALE)
    if side == 1:
        return np.where(ok, raw, MISSING)
    return np.where(ok, PRICE_SCALE - raw, MISSING)


def _quote_at(data: SnapshotSet, side: int, row: int, *, ask: bool) -> int:
    """:func:`_side_quotes` at one row, on Python integers."""
    from_ask = ask == (side == 1)
    raw = int((data.yes_ask if from_ask else data.yes_bid)[row])
    if not 0 < raw < PRICE_SCALE:
        return MISSING
    return raw if side == 1 else PRICE_SCALE - raw


def _next_bid_row(data: SnapshotSet, side: int, lo: int, hi: int) -> int:
    """First row in ``[lo, hi)`` with a bid on ``side``, else ``hi`` (usually ``lo``)."""
    chunk = 64
    while lo < hi:
        top = min(hi, lo + chunk)
        valid = _side_quotes(data, side, lo, top, ask=False) >= 0
        if valid.any():
            return lo + int(np.argmax(valid))
        lo = top
        chunk *= 4
    return hi


def _marks_at(data: SnapshotSet, sides: I8, rows: I64, seg_start: I64) -> I64:
    """The mark of ``sides`` at ``rows``: the last bid at or before each row within its
    market (``seg_start``, per request), 0 before the first; what a forward fill of every
    row would give there, read only where asked."""
    out = np.zeros(len(rows), dtype=np.int64)
    for side in (1, -1):
        picked = np.flatnonzero(sides == side)
        if not len(picked):
            continue
        at = rows[picked]
        raw = (data.yes_bid if side == 1 else data.yes_ask)[at].astype(np.int64)
        ok = (raw > 0) & (raw < PRICE_SCALE)
        out[picked[ok]] = raw[ok] if side == 1 else PRICE_SCALE - raw[ok]
        for k in np.flatnonzero(~ok).tolist():
            out[picked[k]] = _mark_before(data, side, int(at[k]), int(seg_start[picked[k]]))
    return out


def _mark_before(data: SnapshotSet, side: int, row: int, first: int) -> int:
    """The last bid of ``side`` in ``[first, row]``, else 0 (a backward chunked scan)."""
    chunk = 64
    top = row + 1
    while top > first:
        lo = max(first, top - chunk)
        bids = _side_quotes(data, side, lo, top, ask=False)
        valid = np.flatnonzero(bids >= 0)
        if len(valid):
            return int(bids[valid[-1]])
        top = lo
        chunk *= 4
    return 0


def sampling_interval_us(data: SnapshotSet) -> int:
    """The median spacing between consecutive snapshots of the same market (µs).

    The positive gaps are gathered block by block into one array (8 bytes a row at most)
    and partitioned in place: the same value ``np.median`` gives, without its copies.
    """
    n = data.n_rows
    if n < 2:
        return _DEFAULT_INTERVAL_US
    gaps = np.empty(n - 1, dtype=np.int64)
    found = 0
    for lo in range(0, n - 1, _BLOCK_ROWS):
        hi = min(n - 1, lo + _BLOCK_ROWS)
        step = data.ts[lo + 1 : hi + 1] - data.ts[lo:hi]
        keep = data.market[lo + 1 : hi + 1] == data.market[lo:hi]
        keep &= step > 0
        part = step[keep]
        gaps[found : found + len(part)] = part
        found += len(part)
    if found == 0:
        return _DEFAULT_INTERVAL_US
    gaps = gaps[:found]
    half = found // 2
    if found % 2:
        gaps.partition(half)
        median = float(gaps[half])
    else:
        gaps.partition((half - 1, half))
        median = (float(gaps[half - 1]) + float(gaps[half])) / 2
    return max(1, int(median))


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


def _audit_masks(data: SnapshotSet) -> Iterator[tuple[str, BoolArray]]:
    """The two truncations the audit replays, one at a time (each mask is 1 byte a row;
    the per-market cut is compared block by block, without row-sized int64 temporaries)."""
    if data.n_rows < 2:
        return
    moment = (int(data.ts.min()) + int(data.ts.max())) // 2
    yield f"after {from_micros(moment).isoformat()}", data.ts <= moment
    seg_start, seg_end = data.segments()
    rng = np.random.default_rng(20260611)
    lengths = seg_end - seg_start
    cut = np.floor(rng.uniform(0.25, 1.0, len(lengths)) * lengths).astype(np.int64)
    # row - seg_start[m] < cut[m]  <=>  row < seg_start[m] + cut[m]
    limit = seg_start + cut
    keep = np.empty(data.n_rows, dtype=np.bool_)
    for lo in range(0, data.n_rows, _BLOCK_ROWS):
        hi = min(data.n_rows, lo + _BLOCK_ROWS)
        np.less(np.arange(lo, hi, dtype=np.int64), limit[data.market[lo:hi]], out=keep[lo:hi])
    yield "after a per-market cut", keep


def audit_lookahead(data: SnapshotSet, strategy: Strategy, signals: Signals) -> None:
    """Re-run ``strategy`` with the future hidden; raise if any earlier decision changes."""
    full = _signal_arrays(signals)
    for label, keep in _audit_masks(data):
        if keep.all() or not keep.any():
            continue
        _audit_once(data, strategy, full, label, keep)
        del keep  # the next mask is built after this one is gone


def _audit_once(
    data: SnapshotSet,
    strategy: Strategy,
    full: dict[str, npt.NDArray[Any]],
    label: str,
    keep: BoolArray,
) -> None:
    """One truncation: its copy of the data and its signals live only in this call."""
    truncated = data.subset(keep)
    again = _signal_arrays(_call_strategy(strategy, StrategyView(truncated)))
    del truncated
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
        del mine


# ---------------------------------------------------------------------------------------------
# the run


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

    n = data.n_rows
    next_exit = {1: _next_true(signals.exit_yes, n), -1: _next_true(signals.exit_no, n)}
    trades = _walk_positions(data, strategy, view, signals, rules, config, next_exit)
    del next_exit, signals  # the walk was their last reader
    report(0.85)
    result = _account(data, strategy, trades, config, view.seg_start, view.seg_end)
    report(1.0)
    return result


def _ints(code: str) -> Callable[[], array[int]]:
    return lambda: array(code)


@dataclass
class _Raw:
    """Trades while walking: numbers as typed ``array.array`` (appends as cheap as a
    list's, 1-8 bytes an entry instead of a list's pointer plus, for most values, a
    32-byte int: ~240 MB less at the ~1.1M trades a busy strategy makes over 10,000,000
    rows, ADR 0225), the reasons as lists of str."""

    market: array[int] = field(default_factory=_ints("i"))
    side: array[int] = field(default_factory=_ints("b"))
    entry_row: array[int] = field(default_factory=_ints("q"))
    entry_price: array[int] = field(default_factory=_ints("q"))
    maker: array[int] = field(default_factory=_ints("b"))  # 1 maker, 0 taker
    exit_row: array[int] = field(default_factory=_ints("q"))
    exit_price: array[int] = field(default_factory=_ints("q"))
    exit_kind: array[int] = field(default_factory=_ints("b"))
    entry_reasons: list[str] = field(default_factory=list)
    exit_reasons: list[str] = field(default_factory=list)


def _walk_positions(
    data: SnapshotSet,
    strategy: Strategy,
    view: StrategyView,
    signals: Signals,
    rules: ExitRules,
    config: EngineConfig,
    next_exit: dict[int, npt.NDArray[np.signedinteger[Any]]],
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
    # The loop runs once per trade (or skipped candidate), never per candidate: the
    # candidates stay one int64 array (a Python list of them costs ~36 bytes each, and
    # momentum at 10,000,000 rows has millions), searched with ``searchsorted``.
    k, total = 0, len(candidates)
    while k < total:
        i = int(candidates[k])
        m = int(market[i])
        end = int(seg_end[m])
        side = int(entry[i])
        if limits is None:
            price = _quote_at(data, side, i, ask=True)
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
            window = _side_quotes(data, side, i + 1, expiry, ask=True)
            hits = (window >= 0) & (window <= limit)
            if not hits.any():
                k = _next_candidate(candidates, max(expiry, i + 1), k)
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
            j, hit_kind = _scan_price_exits(data, side, fill + 1, stop, price, tp, sl)
            if j < stop:
                stop, kind = j, hit_kind

        exit_row, exit_price = -1, 0
        if kind != SETTLED:
            sale = _next_bid_row(data, side, stop, end)
            if sale < end:
                exit_row = sale
                exit_price = max(_quote_at(data, side, sale, ask=False) - slip, 0)
            else:
                kind = SETTLED  # wanted out but nobody bid again: held to the end
        raw.market.append(m)
        raw.side.append(side)
        raw.entry_row.append(fill)
        raw.entry_price.append(price)
        raw.maker.append(1 if maker else 0)
        raw.exit_row.append(exit_row)
        raw.exit_price.append(exit_price)
        raw.exit_kind.append(kind)
        raw.entry_reasons.append(strategy.describe_entry(view, i, side) or signals.entry_reason)
        raw.exit_reasons.append(signals.exit_reason if kind == EXIT_SIGNAL else EXIT_KINDS[kind])
        resume = exit_row + 1 if exit_row >= 0 else end
        k = _next_candidate(candidates, resume, k)
    return raw


def _next_candidate(candidates: I64, row: int, k: int) -> int:
    """The first candidate after ``k`` at or after ``row`` (``bisect_left`` from k + 1)."""
    return max(k + 1, int(np.searchsorted(candidates, row, side="left")))


def _scan_price_exits(
    data: SnapshotSet,
    side: int,
    lo: int,
    hi: int,
    entry_price: int,
    tp: int | None,
    sl: int | None,
) -> tuple[int, int]:
    """First row in ``[lo, hi)`` whose bid hits the take-profit or stop-loss level."""
    up = entry_price + tp if tp is not None else None
    down = entry_price - sl if sl is not None else None
    chunk = 64
    while lo < hi:
        top = min(hi, lo + chunk)
        window = _side_quotes(data, side, lo, top, ask=False)
        hit = np.zeros(top - lo, dtype=bool)
        if up is not None:
            hit |= window >= up
        if down is not None:
            hit |= (window >= 0) & (window <= down)
        if hit.any():
            j = lo + int(np.argmax(hit))
            is_tp = up is not None and int(window[j - lo]) >= up
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
    seg_start: I64,
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
    first_row = seg_start[market] if n_trades else np.zeros(0, np.int64)
    mark_side = np.where(side == 1, 1, -1).astype(np.int8)
    last_mark = _marks_at(data, mark_side, last_row, first_row)
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
        data, side, counts, entry_row, exit_row, first_row, last_row, held, cost,
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
    side: I8,
    counts: I64,
    entry_row: I64,
    exit_row: I64,
    first_row: I64,
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
    """Cumulative P&L (realised + open positions at their bid) at the end of each interval.

    Rows strictly inside a position add its size times the move of its side's mark; the
    fill and the sale or settlement add the rest. The per-row part runs in blocks of
    :data:`_BLOCK_ROWS` rows (open size and side, both sides' forward-filled marks and the
    previous row's mark carried from block to block), so no array spans every row.
    """
    if n_bins == 0:
        return np.zeros(0, dtype=np.int64)
    n = data.n_rows
    per_bin = np.zeros(n_bins, dtype=np.float64)
    stop = np.where(held, last_row + 1, exit_row)
    # Position events: +size/+side after the fill row, -size/-side from the stop row.
    at = np.concatenate((entry_row + 1, stop))
    order = np.argsort(at, kind="stable")
    at = at[order]
    size_step = np.concatenate((counts, -counts))[order]
    side_step = np.concatenate((side.astype(np.int64), -side.astype(np.int64)))[order]
    open_count = open_side = 0
    last = {1: (-1, 0), -1: (-1, 0)}  # per side: the last row with a bid so far, its bid
    prev_mark = {1: 0, -1: 0}  # the mark of the row before the block
    for lo in range(0, n, _BLOCK_ROWS):
        hi = min(n, lo + _BLOCK_ROWS)
        e_lo, e_hi = np.searchsorted(at, (lo, hi), side="left")
        count_row = np.zeros(hi - lo, dtype=np.int64)
        side_row = np.zeros(hi - lo, dtype=np.int64)
        if e_hi > e_lo:
            where = at[e_lo:e_hi] - lo
            np.add.at(count_row, where, size_step[e_lo:e_hi])
            np.add.at(side_row, where, side_step[e_lo:e_hi])
        count_row[0] += open_count
        side_row[0] += open_side
        np.cumsum(count_row, out=count_row)
        np.cumsum(side_row, out=side_row)
        open_count, open_side = int(count_row[-1]), int(side_row[-1])
        if not count_row.any():  # nothing open anywhere in the block
            for s in (1, -1):
                last[s], prev_mark[s] = _carry_marks(data, s, lo, hi, last[s])
            continue
        starts = _segment_starts(data, lo, hi)
        marks = {}
        for s in (1, -1):
            marks[s], last[s] = _forward_marks(data, s, lo, hi, starts, last[s])
        yes_on = side_row == 1
        mark = np.where(yes_on, marks[1], marks[-1])
        prev = np.empty(hi - lo, dtype=np.int64)
        prev[1:] = np.where(yes_on[1:], marks[1][:-1], marks[-1][:-1])
        prev[0] = prev_mark[1] if yes_on[0] else prev_mark[-1]
        prev_mark = {1: int(marks[1][-1]), -1: int(marks[-1][-1])}
        mark -= prev
        mark *= count_row
        row_bin = data.ts[lo:hi] - t0
        row_bin //= interval
        per_bin += np.bincount(row_bin, weights=mark.astype(np.float64), minlength=n_bins)
        del count_row, side_row, marks, mark, prev, row_bin, yes_on

    # Position events: the fill, then the sale or the settlement.
    if len(counts):
        entry_mark = _marks_at(data, side, entry_row, first_row)
        before_stop = np.maximum(stop - 1, 0)
        stop_mark = _marks_at(data, side, before_stop, first_row)
        # A position with no covered rows has stop - 1 == fill: the fill booked that mark.
        at_fill = -cost - entry_fee + counts * entry_mark
        at_exit = proceeds - exit_fee - counts * stop_mark + refund
        exit_bin = np.clip((exit_ts - t0) // interval, 0, n_bins - 1)
        entry_bin = (data.ts[entry_row] - t0) // interval
        per_bin += np.bincount(entry_bin, weights=at_fill.astype(np.float64), minlength=n_bins)
        per_bin += np.bincount(exit_bin, weights=at_exit.astype(np.float64), minlength=n_bins)
    return np.cumsum(np.rint(per_bin).astype(np.int64))


def _segment_starts(data: SnapshotSet, lo: int, hi: int) -> I64:
    """The first row of each row's market, for rows ``[lo, hi)``."""
    markets = data.market[lo:hi]
    first, last = int(markets[0]), int(markets[-1])
    span = np.arange(first, last + 1, dtype=np.int32)
    starts = np.searchsorted(data.market, span, side="left").astype(np.int64)
    return starts[markets - first]


def _forward_marks(
    data: SnapshotSet,
    side: int,
    lo: int,
    hi: int,
    starts: I64,
    carry: tuple[int, int],
) -> tuple[I64, tuple[int, int]]:
    """The mark of ``side`` at rows ``[lo, hi)``: the last bid at or before each row within
    its market, 0 before the first; ``carry`` is the last row with a bid before ``lo`` and
    that bid (row -1 when none), and the block's own comes back for the next block."""
    bids = _side_quotes(data, side, lo, hi, ask=False)
    index = np.where(bids >= 0, np.arange(lo, hi, dtype=np.int64), -1)
    np.maximum.accumulate(index, out=index)
    np.maximum(index, carry[0], out=index)
    local = index - lo
    values = np.where(local >= 0, bids[np.maximum(local, 0)], carry[1])
    marks = np.where(index >= starts, values, 0)
    return marks, (int(index[-1]), int(values[-1]))


def _carry_marks(
    data: SnapshotSet, side: int, lo: int, hi: int, carry: tuple[int, int]
) -> tuple[tuple[int, int], int]:
    """A block no position covers: only the carries move on (last bid, the last row's mark)."""
    bids = _side_quotes(data, side, lo, hi, ask=False)
    valid = np.flatnonzero(bids >= 0)
    if len(valid):
        carry = (lo + int(valid[-1]), int(bids[valid[-1]]))
    row = hi - 1
    market_start = int(np.searchsorted(data.market, data.market[row], side="left"))
    mark = carry[1] if carry[0] >= market_start else 0
    return carry, mark


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
