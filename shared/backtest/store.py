"""Writing a run's results: all or nothing, replacing whatever an earlier attempt wrote.

A Cloud Task may run twice (a retry after a timeout, a duplicate delivery). The engine is
deterministic, so a second attempt computes the same result; this module makes storing it
idempotent: one transaction locks the run row, gives up if the run is gone or already
completed, deletes the trades and variants of any earlier attempt, bulk-loads the new trades
with ``COPY ... FROM STDIN`` and marks the run completed. Readers see either no result or
the whole result, never a mix, and never duplicate trades.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from shared.backtest.data import SnapshotSet
from shared.backtest.engine import BacktestResult, format_count, format_ticks
from shared.backtest.loader import Connection

__all__ = [
    "StoreOutcome",
    "heartbeat",
    "mark_failed",
    "reap_stuck",
    "release",
    "save_results",
    "update_progress",
]

_TRADE_COLUMNS = (
    "run_id, variant, ticker, side, count_fp, entry_ts, entry_price_dollars, "
    "entry_snapshot_id, exit_ts, exit_price_dollars, exit_snapshot_id, fees_dollars, "
    "pnl_dollars, entry_reason, exit_reason"
)


@dataclass(frozen=True)
class StoreOutcome:
    stored: bool
    reason: str  # "stored", "gone" (run deleted), "already_completed"
    trades: int = 0


@contextmanager
def _transaction(connection: Connection) -> Iterator[Any]:
    """A cursor whose statements commit together, or roll back together on any exception
    (the caller sees the exception: a failed write is never silently dropped)."""
    cursor = connection.cursor()
    try:
        yield cursor
        connection.commit()
    except BaseException:
        connection.rollback()
        raise


def _copy_text(value: str) -> str:
    """Escape a value for COPY's text format."""
    return (
        value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    )


def _micros_str(values: np.ndarray[Any, Any]) -> list[str]:
    """Signed integer micro-dollars to exact ``-1.234567`` strings."""
    out = []
    for v in values.tolist():
        sign = "-" if v < 0 else ""
        whole, frac = divmod(abs(v), 1_000_000)
        out.append(f"{sign}{whole}.{frac:06d}")
    return out


def _ticks_str(values: np.ndarray[Any, Any]) -> list[str]:
    return [format_ticks(v) for v in values.tolist()]


def _iso(micros: np.ndarray[Any, Any]) -> list[str]:
    text = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    return [t + "+00" for t in text.tolist()]


def trade_lines(run_id: uuid.UUID, variant: int, result: BacktestResult, data: SnapshotSet) -> str:
    """The trades of one variant as COPY text rows (vectorised where it matters)."""
    t = result.trades
    n = len(t)
    if n == 0:
        return ""
    tickers = [data.tickers[m] for m in t.market.tolist()]
    sides = ["yes" if s == 1 else "no" for s in t.side.tolist()]
    counts = [format_count(c) for c in t.count_units.tolist()]
    entry_ts = _iso(data.ts[t.entry_row])
    entry_ids = data.snapshot_id[t.entry_row].tolist()
    exit_ts = _iso(t.exit_ts)
    exit_ids = np.where(t.exit_row >= 0, data.snapshot_id[np.maximum(t.exit_row, 0)], -1).tolist()
    entry_px = _ticks_str(t.entry_price)
    exit_px = _ticks_str(t.exit_price)
    fees = _micros_str(t.fees_micro)
    pnl = _micros_str(t.pnl_micro)
    run = str(run_id)
    lines = [
        "\t".join(
            (
                run,
                str(variant),
                _copy_text(tickers[i]),
                sides[i],
                counts[i],
                entry_ts[i],
                entry_px[i],
                str(entry_ids[i]),
                exit_ts[i],
                exit_px[i],
                "\\N" if exit_ids[i] < 0 else str(exit_ids[i]),
                fees[i],
                pnl[i],
                _copy_text(t.entry_reasons[i]),
                _copy_text(t.exit_reasons[i]),
            )
        )
        for i in range(n)
    ]
    return "\n".join(lines) + "\n"


def save_results(
    connection: Connection,
    run_id: uuid.UUID,
    data: SnapshotSet,
    variants: Sequence[BacktestResult],
    ranking: Sequence[int],
    *,
    equity_points: int = 500,
) -> StoreOutcome:
    """Replace the run's results with ``variants`` and mark it completed, atomically."""
    with _transaction(connection) as cursor:
        cursor.execute("SELECT status FROM backtest_runs WHERE id = %s FOR UPDATE", (str(run_id),))
        row = cursor.fetchone()
        if row is None:
            return StoreOutcome(False, "gone")  # nothing written: the commit only unlocks
        if row[0] == "completed":
            return StoreOutcome(False, "already_completed")
        cursor.execute("DELETE FROM backtest_trades WHERE run_id = %s", (str(run_id),))
        cursor.execute("DELETE FROM backtest_variants WHERE run_id = %s", (str(run_id),))
        text = "".join(
            trade_lines(run_id, index, result, data) for index, result in enumerate(variants)
        )
        total = sum(len(result.trades) for result in variants)
        if text:
            cursor.execute(
                f"COPY backtest_trades ({_TRADE_COLUMNS}) FROM STDIN",
                stream=io.BytesIO(text.encode()),
            )
        rank_of = {variant: position + 1 for position, variant in enumerate(ranking)}
        for index, result in enumerate(variants):
            cursor.execute(
                "INSERT INTO backtest_variants (run_id, variant, rank, params, metrics, "
                "equity_curve) VALUES (%s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)",
                (
                    str(run_id),
                    index,
                    rank_of[index],
                    json.dumps(result.params),
                    json.dumps(result.metrics.to_json()),
                    json.dumps(result.equity_curve(equity_points)),
                ),
            )
        best = variants[ranking[0]]
        metrics = best.metrics.to_json()
        if len(variants) > 1:
            metrics = {**metrics, "best_variant": ranking[0], "variants": len(variants)}
        cursor.execute(
            "UPDATE backtest_runs SET status = 'completed', progress = 1, error = NULL, "
            "metrics = %s::jsonb, equity_curve = %s::jsonb, strategy_version = %s, "
            "finished_at = now() WHERE id = %s",
            (
                json.dumps(metrics),
                json.dumps(best.equity_curve(equity_points)),
                best.strategy_version,
                str(run_id),
            ),
        )
        cursor.execute(
            "UPDATE backtest_run_details SET stage = 'done', updated_at = now() WHERE run_id = %s",
            (str(run_id),),
        )
    return StoreOutcome(True, "stored", total)


def update_progress(connection: Connection, run_id: uuid.UUID, progress: float, stage: str) -> bool:
    """Record progress of a running run; False when the run is gone or no longer running
    (then its stage is left alone too, so a run another attempt finished keeps its own)."""
    with _transaction(connection) as cursor:
        cursor.execute(
            "UPDATE backtest_runs SET progress = %s WHERE id = %s AND status = 'running'",
            (float(progress), str(run_id)),
        )
        updated = cursor.rowcount
        if updated:
            cursor.execute(
                "UPDATE backtest_run_details SET stage = %s, updated_at = now() WHERE run_id = %s",
                (stage, str(run_id)),
            )
    return bool(updated)


def mark_failed(connection: Connection, run_id: uuid.UUID, message: str) -> bool:
    """Mark the run failed with ``message`` unless it already completed (then its stage is
    left alone too: a completed run whose stage said "failed" would be announced again)."""
    with _transaction(connection) as cursor:
        cursor.execute(
            "UPDATE backtest_runs SET status = 'failed', error = %s, finished_at = now() "
            "WHERE id = %s AND status <> 'completed'",
            (message[:4000], str(run_id)),
        )
        updated = cursor.rowcount
        if updated:
            cursor.execute(
                "UPDATE backtest_run_details SET stage = 'failed', updated_at = now() "
                "WHERE run_id = %s",
                (str(run_id),),
            )
    return bool(updated)


def heartbeat(connection: Connection, run_id: uuid.UUID) -> bool:
    """Say "this attempt is alive": touch the run's ``updated_at`` while it is running.

    A delivery that finds the run ``running`` with a fresh heartbeat is a duplicate of a
    live attempt and stands down; one that finds it stale takes over (the attempt died).
    """
    with _transaction(connection) as cursor:
        cursor.execute(
            "UPDATE backtest_run_details d SET updated_at = now() FROM backtest_runs r "
            "WHERE d.run_id = %s AND r.id = d.run_id AND r.status = 'running'",
            (str(run_id),),
        )
        updated = cursor.rowcount
    return bool(updated)


def release(connection: Connection, run_id: uuid.UUID) -> bool:
    """End a failed attempt's claim on a running run: its heartbeat becomes stale at once,
    so the queue's retry takes the run over instead of standing down as a duplicate."""
    with _transaction(connection) as cursor:
        cursor.execute(
            "UPDATE backtest_run_details SET stage = 'retrying', updated_at = 'epoch' "
            "WHERE run_id = %s",
            (str(run_id),),
        )
        updated = cursor.rowcount
    return bool(updated)


def reap_stuck(
    connection: Connection, *, older_than_s: float, stale_after_s: float, message: str
) -> list[uuid.UUID]:
    """Mark failed every run still ``running`` ``older_than_s`` after it started whose
    heartbeat is older than ``stale_after_s``; return their ids.

    ``older_than_s`` is the worker's timeout times the queue's attempts: by then every
    delivery the queue will make has had its full deadline, so nothing will finish the run.
    The heartbeat condition keeps a live attempt (a slow run on its last delivery) alive.
    """
    with _transaction(connection) as cursor:
        cursor.execute(
            "UPDATE backtest_runs r SET status = 'failed', error = %s, finished_at = now() "
            "FROM backtest_run_details d WHERE d.run_id = r.id AND r.status = 'running' "
            "AND r.started_at < now() - make_interval(secs => %s) "
            "AND d.updated_at < now() - make_interval(secs => %s) RETURNING r.id",
            (message[:4000], float(older_than_s), float(stale_after_s)),
        )
        ids = [uuid.UUID(str(row[0])) for row in cursor.fetchall()]
        if ids:
            cursor.execute(
                "UPDATE backtest_run_details SET stage = 'failed', updated_at = now() "
                "WHERE run_id = ANY(%s::uuid[])",
                ([str(i) for i in ids],),
            )
    return ids
